"""Crash-resume checkpoints of a training run.

A checkpoint is one file, written atomically every ``every`` steps (skipping a due step while
fewer than ``min_seconds`` have passed since the last save: at a large catalogue a save takes
about a second), holding whatever state the loop hands it (model, optimisers, RNG, position in
the epoch, early-stopping state, counters). It is read back only if its ``key`` (train params
+ seed + input arrays) and format match, so a changed run never resumes a stale state, and an
unreadable file means starting over, never a failure. A finished run removes it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import torch

from esans.io import atomic_path

FORMAT = 3  # bump when the saved state's fields change: an older checkpoint is ignored


@dataclass
class Checkpoint:
    path: str | os.PathLike
    key: str
    every: int
    min_seconds: float = 0.0
    last: float = field(default_factory=lambda: time.monotonic())  # last save (or start)

    def due(self, step: int) -> bool:
        return step % self.every == 0 and time.monotonic() - self.last >= self.min_seconds

    def save(self, state: dict) -> None:
        with atomic_path(self.path) as tmp:
            torch.save({"key": self.key, "format": FORMAT, **state}, tmp)
        self.last = time.monotonic()

    def load(self) -> dict | None:
        """The saved state if it belongs to this run, else None."""
        if not os.path.exists(self.path):
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - an unreadable checkpoint: start over, do not fail
            return None
        if state.get("key") != self.key or state.get("format") != FORMAT:
            return None
        return state

    def clear(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)
