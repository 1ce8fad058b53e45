"""Two-level cache: in-process LRU (L1) over Redis (L2)."""
