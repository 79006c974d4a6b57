"""Crash-resume checkpoints of a training run.

A checkpoint is one file, written atomically every ``every`` steps, holding whatever state the
loop hands it (model, optimisers, RNG, position in the epoch, early-stopping state, counters).
A due step is skipped while fewer than ``min_seconds`` have passed since the last save, or
while saving would take more than ``max_overhead`` of the time: after a save that took d
seconds the next waits d / max_overhead. At a million items a save writes ~1.2 GB (id tables
and their Adam moments) and took 7 to 33 s on this project's 2-core machine; at a fixed 30 s
apart that was a third of the epoch. It is read back only if its ``key`` (train params
+ seed + input arrays) and format match, so a changed run never resumes a stale state, and an
unreadable file means starting over, never a failure. A finished run removes it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import torch

from esans.io import atomic_path

FORMAT = 4  # bump when the saved state's fields change: an older checkpoint is ignored


@dataclass
class Checkpoint:
    path: str | os.PathLike
    key: str
    every: int
    min_seconds: float = 0.0
    max_overhead: float = 1.0  # share of wall time saves may take (1: no limit)
    last: float = field(default_factory=lambda: time.monotonic())  # last save's end (or start)
    cost: float = 0.0          # seconds the last save took

    def due(self, step: int) -> bool:
        wait = self.min_seconds
        if self.max_overhead < 1:
            wait = max(wait, self.cost / self.max_overhead)
        return step % self.every == 0 and time.monotonic() - self.last >= wait

    def save(self, state: dict) -> None:
        t0 = time.monotonic()
        with atomic_path(self.path) as tmp:
            torch.save({"key": self.key, "format": FORMAT, **state}, tmp)
        self.last = time.monotonic()
        self.cost = self.last - t0

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
