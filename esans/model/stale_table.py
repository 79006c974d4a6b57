"""A stale table of every item's vector, for hard selection's candidate scores.

DNS, MixGCF and the project's ESANS draw several candidates per kept negative and keep the
ones the current model scores highest. Scoring them costs an item-tower forward per
candidate and step (at 200k items, 32 candidates a row, the batch's largest cost). Instead the
table holds every item's vector, recomputed without gradient every ``every`` steps, and
selection looks the candidates up in it (ANCE-style staleness: the vectors are at most
``every - 1`` steps old). Only the kept negatives then go through the tower, with gradient.
A refresh costs one forward of the catalogue, in chunks, so ``every`` trades the refresh's
cost against how stale the scores are.
"""

from __future__ import annotations

import torch

from esans.model.towers import TwoTower

CHUNK = 65_536  # items per forward of a refresh: bounds the MLP's hidden activations


class StaleItemTable:
    def __init__(self, every: int) -> None:
        if every < 1:
            raise ValueError(f"every: {every} < 1")
        self.every = every
        self.steps = 0                             # ticks so far
        self.vectors: torch.Tensor | None = None   # (n_items, d), no gradient

    @property
    def due(self) -> bool:
        """Whether the next tick recomputes the table: the first, and every ``every`` after."""
        return self.vectors is None or self.steps % self.every == 0

    def tick(self, model: TwoTower) -> torch.Tensor:
        """The table for this step, recomputed first when ``due``."""
        if self.due:
            self.vectors = refresh(model)
        self.steps += 1
        return self.vectors

    def state_dict(self) -> dict:
        return {"steps": self.steps, "vectors": self.vectors}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.vectors = state["steps"], state["vectors"]


def refresh(model: TwoTower) -> torch.Tensor:
    """Every item's vector under the current weights, (n_items, d), without gradient."""
    n = model.item_id.num_embeddings
    with torch.no_grad():
        return torch.cat([model.item_vectors(torch.arange(lo, min(lo + CHUNK, n)))
                          for lo in range(0, n, CHUNK)])
