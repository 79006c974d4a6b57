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
        from esans.rank import topk

        u = self._user_idx(user_id)
        uv, hist = self._user_vector(u)
        uv = uv.numpy()
        top = topk(uv, np.array([u]), hist, k, index=self.index)[0]
        top = top[top >= 0]
        return self._rows(top, self.item_vectors[top] @ uv[0])

    def similar(self, item_id: str, k: int = 10) -> list[dict]:
        i = self.item_idx(item_id)
        scores, ids = self.index.search(self.item_vectors[i:i + 1], k + 1)
        keep = (ids[0] != i) & (ids[0] >= 0)     # an IVF probe may return fewer than k
        return self._rows(ids[0][keep][:k], scores[0][keep][:k])

    def training_sampler(self):
        """``(train params, sampler)``: the sampler the served model trained with, built by
        training's own ``build_sampler`` from the bundle's params, train split and clusters
        (None for the full softmax)."""
        from esans.config import load_params, resolve_sampler
        from esans.trainer import TrainData, build_sampler

        t, _ = resolve_sampler(load_params(self.bundle.path / "params.yaml").train,
                               self.items.height)
        tr = self.bundle.interactions.filter(pl.col("split") == "train").sort(
            ["user_idx", "pos"])
        l1, l2, centroids = self.bundle.clusters()
        none = np.zeros(0, np.int64)
        data = TrainData(
            n_users=self.users.height, n_items=self.items.height,
            train_users=tr["user_idx"].to_numpy().astype(np.int64),
            train_items=tr["item_idx"].to_numpy().astype(np.int64),
            train_pos=tr["pos"].to_numpy().astype(np.int64), valid_users=none,
            valid_items=none, content=np.zeros((self.items.height, 0), np.float32),
            l1=l1, l2=l2, centroids1=centroids)
        return t, build_sampler(t, data)

    def _user_rows(self, u: int) -> pl.DataFrame:
        """User ``u``'s interactions in order (a binary-searched slice, not a scan)."""
        t = self.bundle.by_user
        col = t["user_idx"]
        lo, hi = int(col.search_sorted(u, "left")), int(col.search_sorted(u, "right"))
        return t.slice(lo, hi - lo)

    def _user_idx(self, user_id: str) -> int:
        hit = self.users.filter(pl.col("user_id") == str(user_id))
        if hit.height == 0:
            raise EsansError(f"unknown user id {user_id!r}", rule="user_id")
        return int(hit["user_idx"][0])

    def _user_vector(self, u: int):
        """User ``u``'s tower output (1, d) from their latest history, and that history
        (``Histories``: the seen items a recommendation masks)."""
        from esans.data.history import Histories

        inter = self._user_rows(u)
        hist = Histories(inter["user_idx"].to_numpy().astype(np.int64),
                         inter["item_idx"].to_numpy().astype(np.int64), self.users.height)
        with torch.inference_mode():
            iv = torch.from_numpy(self.item_vectors)
            ut = torch.tensor([u])
            h = hist.last(ut, self.bundle.meta["history_len"])
            return self.bundle.model.users(ut, h, iv[h.clamp(min=0)]), hist

    def negatives(self, item_id: str, user_id: str | None = None, seed: int = 0) -> dict:
        """What the training sampler draws for ``item_id`` as a positive (for ``user_id``'s
        row: their train items are redrawn, and a selecting sampler keeps the candidates the
        served model scores highest for them), and EDIS's mixes of what it keeps."""
        from esans.sampling import edis
        from esans.trainer import selector

        i = self.item_idx(item_id)
        t, sampler = self.training_sampler()
        if sampler is None:
            raise EsansError("the served model trained with the full softmax: every item is "
                             "a negative, none is drawn", rule="negatives")
        u = self._user_idx(user_id) if user_id is not None else -1
        g = torch.Generator().manual_seed(seed)
        neg = sampler.sample(torch.tensor([u]), torch.tensor([i]), g)
        ids = neg.ids[0]
        out_of_loss = (ids == i) | (neg.masked[0] if neg.masked is not None else False)
        real = self._rows(ids.numpy())
        l1, l2, _ = self.bundle.clusters()
        for j, (r, k) in enumerate(zip(real, ids.tolist())):
            kind = ("hard" if neg.hard[0, j] else "easy") if neg.hard is not None else "drawn"
            r.update(kind=kind, l1=int(l1[k]), l2=int(l2[k]),
                     masked=bool(out_of_loss[j]) if out_of_loss is not False else False)
        kept = ids
        select = selector(sampler)
        if select is not None and u >= 0:
            vecs = torch.from_numpy(self.item_vectors)
            hit = out_of_loss.unsqueeze(0) if out_of_loss is not False else \
                torch.zeros((1, len(ids)), dtype=torch.bool)
            sel = select(self._user_vector(u)[0], vecs[i:i + 1], vecs[ids].unsqueeze(0), hit,
                         g)
            keep = set(sel.keep[0].tolist())
            for j, r in enumerate(real):
                r["kept"] = j in keep
            kept = ids[sel.keep[0]]
        mixes = []
        if t.uses_edis and (select is None or u >= 0):   # mixes of what the row keeps
            n_src = min(t.edis_sources,
                        len(kept) if neg.n_easy is None else neg.n_easy)   # edis.sources
            src_ids = kept[len(kept) - n_src:]
            src = torch.from_numpy(self.item_vectors[src_ids.numpy()]).unsqueeze(0)
            affine, _ = edis.mixing_weights(1, n_src, t.edis_lambda, g)
            virtual = (affine @ src)[0].numpy()
            _, nearest = self.index.search(np.ascontiguousarray(virtual, np.float32), 1)
            names = self._rows(src_ids.numpy())
            for w, nn in zip(affine[0].numpy(), nearest[:, 0]):
                used = np.flatnonzero(np.abs(w + t.edis_lambda / n_src) > 1e-6)
                mixes.append({"sources": [names[j]["item_id"] for j in used],
                              "weights": [round(float(w[j]), 3) for j in used],
                              "nearest_item": self._rows(np.array([nn]))[0]["title"]})
        return {"item": {**self._rows(np.array([i]))[0], "l1": int(l1[i]), "l2": int(l2[i])},
                "sampler": t.sampler, "selects": select is not None,
                "selected_for": user_id if select is not None and u >= 0 else None,
                "real": real, "virtual": mixes}
