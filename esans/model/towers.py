"""Two towers sharing one item tower.

item(i) = normalise(MLP(content_i) + id_emb_i)
user(u, history) = normalise(MLP([user_emb_u ; attention-free recency pool of item(history)]))

``content`` is the fused MSAC input vector (fixed); history is the user's last L items
before the target (training) or before the evaluation cut (evaluation), most recent last.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class TwoTower(nn.Module):
    FIXED = ("content",)  # state entries training never changes (checkpoints skip them)

    def __init__(self, content: torch.Tensor, n_users: int, dim: int, history_len: int,
                 sparse_ids: bool = False) -> None:
        super().__init__()
        n_items, d_in = content.shape
        self.register_buffer("content", content.float())
        self.item_mlp = nn.Sequential(nn.Linear(d_in, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.item_id = nn.Embedding(n_items, dim, sparse=sparse_ids)
        self.user_id = nn.Embedding(n_users, dim, sparse=sparse_ids)
        self.pos_logit = nn.Parameter(torch.zeros(history_len))  # recency weights, last = newest
        self.user_mlp = nn.Sequential(nn.Linear(2 * dim, 2 * dim), nn.GELU(),
                                      nn.Linear(2 * dim, dim))
        nn.init.normal_(self.item_id.weight, std=0.01)
        nn.init.normal_(self.user_id.weight, std=0.01)

    def trained_state(self) -> dict[str, torch.Tensor]:
        """``state_dict`` without the ``FIXED`` entries (inputs, not weights): what a
        checkpoint or the best epoch's copy must keep (at 1M items, 256 MB less)."""
        return {k: w for k, w in self.state_dict().items() if k not in self.FIXED}

    def load_trained_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load a ``trained_state``; the ``FIXED`` entries keep their current values."""
        self.load_state_dict({**self.state_dict(), **state})

    def item_vectors(self, ids: torch.Tensor) -> torch.Tensor:
        """(n,) *distinct* item ids -> (n, d) normalised item vectors (the tower, once each)."""
        content = self.content.index_select(0, ids)  # not content[ids]: 3x slower on CPU
        return F.normalize(self.item_mlp(content) + self.item_id(ids), dim=-1)

    def items(self, ids: torch.Tensor) -> torch.Tensor:
        """(...,) item ids -> (..., d) normalised item vectors."""
        uniq, inv = torch.unique(ids.reshape(-1), return_inverse=True)
        vec = self.item_vectors(uniq)
        return vec.index_select(0, inv).reshape(*ids.shape, -1)  # backward: index_add

    def all_items(self) -> torch.Tensor:
        return F.normalize(self.item_mlp(self.content) + self.item_id.weight, dim=-1)

    def users(self, users: torch.Tensor, history: torch.Tensor,
              hist_vecs: torch.Tensor | None = None) -> torch.Tensor:
        """users (B,), history (B, L) item ids with -1 padding -> (B, d).

        ``hist_vecs`` (B, L, d): the history's item vectors, when the caller has them.
        """
        valid = history >= 0
        h = hist_vecs if hist_vecs is not None else self.items(history.clamp(min=0))  # (B, L, d)
        w = torch.softmax(self.pos_logit, 0).unsqueeze(0) * valid                      # (B, L)
        pooled = torch.bmm(w.unsqueeze(1), h).squeeze(1) / w.sum(1, keepdim=True).clamp(min=1e-9)
        x = torch.cat([self.user_id(users), pooled], dim=-1)
        return F.normalize(self.user_mlp(x), dim=-1)


def load(model_dir: Path) -> tuple[TwoTower, dict]:
    """A saved model (``meta.json`` + ``model.pt``, as the train stage writes them and a bundle
    keeps them) in eval mode, with its meta. Weights only: ``torch.load`` unpickles nothing."""
    from esans.errors import EsansError

    model_dir = Path(model_dir)
    for f in ("meta.json", "model.pt"):
        if not (model_dir / f).exists():
            raise EsansError("file not found (run the upstream stage first)", path=model_dir / f)
    m = json.loads((model_dir / "meta.json").read_text())
    model = TwoTower(torch.zeros(m["n_items"], m["content_dim"]), m["n_users"], m["dim"],
                     m["history_len"])
    model.load_state_dict(torch.load(model_dir / "model.pt", map_location="cpu",
                                     weights_only=True))
    return model.eval(), m
