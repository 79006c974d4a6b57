"""Ask the trained pipeline questions: recommendations, similar items, MSAC/EDIS negatives.

Serves one verified model bundle (``esans.bundle``): the promoted champion by default, never
the workspace's loose outputs, so a failed or half-finished ``dvc repro`` cannot change an
answer. Used by ``esans recommend``, ``esans similar`` and ``esans negatives``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import torch

from esans import paths
from esans.bundle import Bundle
from esans.errors import EsansError


class Server:
    """Answers queries from one model bundle (``models/current`` unless told otherwise)."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.items = bundle.items
        self.users = bundle.users

    @classmethod
    def open(cls, root: Path, candidate: bool = False) -> "Server":
        """The champion at ``root`` (or, with ``candidate``, the workspace's latest bundle)."""
        root = Path(root)
        path = root / (paths.BUNDLE if candidate else paths.CURRENT)
        if not candidate and not path.is_symlink():
            raise EsansError("no promoted model to serve yet: run `esans promote` (or "
                             "`--candidate` to query the workspace's latest bundle)",
                             path=path, rule="serve")
        if candidate and not path.exists():
            raise EsansError("no model bundle yet (run `dvc repro`)", path=path, rule="serve")
        return cls(Bundle(path))

    @property
    def index(self):
        return self.bundle.index

    @property
    def item_vectors(self) -> np.ndarray:
        return self.bundle.item_vectors

    def item_idx(self, item_id: str) -> int:
        hit = self.items.filter(pl.col("item_id") == str(item_id))
        if hit.height == 0:
            raise EsansError(f"unknown item id {item_id!r}", rule="item_id")
        return int(hit["item_idx"][0])

    def _rows(self, idx: np.ndarray, scores: np.ndarray | None = None) -> list[dict]:
        sub = self.items[idx.tolist()]
        rows = sub.select("item_id", "title").to_dicts()
        if scores is not None:
            for r, s in zip(rows, scores):
                r["score"] = round(float(s), 4)
        return rows

    def recommend(self, user_id: str, k: int = 10) -> list[dict]:
        """Top-k unseen items for a user, from the full history the pipeline saw."""
        from esans.data.history import Histories
        from esans.rank import topk

        hit = self.users.filter(pl.col("user_id") == str(user_id))
        if hit.height == 0:
            raise EsansError(f"unknown user id {user_id!r}", rule="user_id")
        u = int(hit["user_idx"][0])
        inter = self.bundle.interactions.filter(pl.col("user_idx") == u).sort("pos")
        hist = Histories(inter["user_idx"].to_numpy().astype(np.int64),
                         inter["item_idx"].to_numpy().astype(np.int64), self.users.height)
        model = self.bundle.model
        with torch.inference_mode():
            iv = torch.from_numpy(self.item_vectors)
            ut = torch.tensor([u])
            h = hist.last(ut, self.bundle.meta["history_len"])
            uv = model.users(ut, h, iv[h.clamp(min=0)]).numpy()
        top = topk(uv, np.array([u]), hist, k, index=self.index)[0]
        top = top[top >= 0]
        return self._rows(top, self.item_vectors[top] @ uv[0])

    def similar(self, item_id: str, k: int = 10) -> list[dict]:
        i = self.item_idx(item_id)
        scores, ids = self.index.search(self.item_vectors[i:i + 1], k + 1)
        keep = (ids[0] != i) & (ids[0] >= 0)     # an IVF probe may return fewer than k
        return self._rows(ids[0][keep][:k], scores[0][keep][:k])

    def negatives(self, item_id: str, m_c: int, m_o: int, temperature: float, lam: float,
                  seed: int = 0) -> dict:
        """The negatives MSAC draws for ``item_id`` as a positive, and EDIS's mixes of them."""
        from esans.sampling import edis
        from esans.sampling.msac import MSACSampler

        i = self.item_idx(item_id)
        l1, l2, centroids = self.bundle.clusters()
        s = MSACSampler(l1, l2, centroids, m_c, m_o, temperature)
        g = torch.Generator().manual_seed(seed)
        neg = s.sample(torch.tensor([-1]), torch.tensor([i]), g)
        ids = neg.ids[0].numpy()
        real = self._rows(ids)
        for r, j, kind in zip(real, ids, ["hard"] * m_c + ["easy"] * m_o):
            r.update(kind=kind, l1=int(l1[j]), l2=int(l2[j]))
        src = torch.from_numpy(self.item_vectors[ids[-m_o:]]).unsqueeze(0)
        affine, _ = edis.mixing_weights(1, m_o, lam, g)
        virtual = (affine @ src)[0].numpy()
        _, nearest = self.index.search(np.ascontiguousarray(virtual, np.float32), 1)
        mixes = []
        for w, nn in zip(affine[0].numpy(), nearest[:, 0]):
            used = np.flatnonzero(np.abs(w + lam / m_o) > 1e-6)
            mixes.append({"sources": [real[m_c + j]["item_id"] for j in used],
                          "weights": [round(float(w[j]), 3) for j in used],
                          "nearest_item": self._rows(np.array([nn]))[0]["title"]})
        return {"item": {**self._rows(np.array([i]))[0], "l1": int(l1[i]), "l2": int(l2[i])},
                "real": real, "virtual": mixes}
