"""Pipeline stages: one module and one function per stage, in DAG order.

Each reads its inputs from ``esans.paths``, calls the library, and writes its outputs
atomically. ``esans <stage>`` runs one; ``dvc.yaml`` declares the same stages and their deps.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from esans.config import Params

NAMES = ["source", "ingest", "validate", "split", "encode", "behaviour", "fuse", "cluster", "train",
         "index", "evaluate", "bundle", "report"]


def get(name: str) -> Callable[[Params], dict]:
    """The stage function, imported on demand (so ``esans --help`` stays fast)."""
    if name not in NAMES:
        raise KeyError(name)
    return getattr(importlib.import_module(f"esans.stages.{name}"), name)
