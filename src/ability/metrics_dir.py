"""The directory where a service instance's processes keep metric files.

Apart from ``ability.metrics`` on purpose: prometheus_client chooses between
in-memory and file-backed values once, when it is first imported. The
directory must be in the environment before then, or this process's figures
would never reach the files that ``/metrics`` adds up.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(kind: str) -> Path:
    """Give this service instance (``ability serve`` or ``worker``) a clean
    directory for its processes' metric files, before any process forks."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before its directory")
    configured = os.environ.get(MULTIPROCESS_ENV)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for pattern in ("*.db", "problems-*.jsonl"):
            for stale in directory.glob(pattern):
                stale.unlink()
    else:
        directory = Path(tempfile.mkdtemp(prefix=f"ability-{kind}-metrics-"))
        os.environ[MULTIPROCESS_ENV] = str(directory)
    return directory
