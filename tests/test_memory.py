"""The optional address-space limit stops a runaway process cleanly."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
from ability.memory import apply_limit
apply_limit({limit})
try:
    block = bytearray({size} * 1024 * 1024)
except MemoryError:
    print("refused")
else:
    print("allocated", len(block))
"""


def run(limit: str, size: int) -> str:
    code = PROGRAM.format(limit=limit, size=size)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]  # after any log line


class TestApplyLimit:
    def test_an_allocation_past_the_limit_raises_memory_error(self) -> None:
        assert run("512", 1024) == "refused"

    def test_allocations_within_the_limit_work(self) -> None:
        assert run("2048", 64) == f"allocated {64 * 1024 * 1024}"

    def test_no_limit_configured_changes_nothing(self) -> None:
        assert run("None", 64).startswith("allocated")
