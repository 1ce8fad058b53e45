"""The operations of the benchmark and their default weights."""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_MIX: Mapping[str, float] = {
    "list": 3,
    "get": 2,
    "search": 2,
    "submit": 1,  # create, review by a reviewer, approval by an approver
    "batch": 1,  # an admin batch-approves a few open applications
    "report": 0.5,
    "admin": 0.25,
    "bare": 1,  # GET /health/live, the yardstick
}


def mix_text(mix: Mapping[str, float]) -> str:
    return ",".join(f"{name}={weight:g}" for name, weight in mix.items())


def parse_mix(text: str) -> dict[str, float]:
    """``"list=3,get=2"`` → weights; unknown names or bad numbers raise."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in DEFAULT_MIX:
            known = ", ".join(DEFAULT_MIX)
            raise ValueError(f"unknown operation {name!r} (known: {known})")
        try:
            mix[name] = float(weight)
        except ValueError:
            raise ValueError(f"the weight of {name!r} is not a number") from None
        if not 0 <= mix[name] < 1e6:
            raise ValueError(f"the weight of {name!r} is out of range")
    if not any(mix.values()):
        raise ValueError("the mix needs at least one positive weight")
    return mix
