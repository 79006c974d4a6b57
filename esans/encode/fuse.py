"""Align modalities contrastively and fuse them into one item vector.

Each modality m gets a linear projection P_m into a shared ``dim``-d space, trained with a
symmetric InfoNCE loss between every pair of modalities of the same item (CLIP-style: the
other items in the batch are the negatives). The fused vector concatenates the weighted,
L2-normalised projections; a missing modality is imputed by the mean of the item's available
projections, which the alignment makes meaningful.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from esans import paths
from esans.io import read_npy, read_parquet


def align(feats: dict[str, np.ndarray], masks: dict[str, np.ndarray], dim: int, epochs: int,
          lr: float, temperature: float, seed: int, batch_size: int = 2048
          ) -> tuple[dict[str, np.ndarray], list[float]]:
    """Train the projections; return the projected, normalised vectors and the loss curve."""
    g = torch.Generator().manual_seed(seed)
    names = list(feats)
    xs = {m: torch.from_numpy(feats[m]).float() for m in names}
    ms = {m: torch.from_numpy(masks[m]).bool() for m in names}
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    proj = torch.nn.ModuleDict({m: torch.nn.Linear(xs[m].shape[1], dim) for m in names})
    opt = torch.optim.Adam(proj.parameters(), lr=lr)
    n = next(iter(xs.values())).shape[0]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    losses: list[float] = []
    for _ in range(epochs):
        idx = torch.randperm(n, generator=g)[:batch_size]
        z = {m: F.normalize(proj[m](xs[m][idx]), dim=-1) for m in names}
        total = torch.zeros(())
        used = 0
        for a, b in pairs:
            both = ms[a][idx] & ms[b][idx]
            if both.sum() < 2:
                continue
            logits = z[a][both] @ z[b][both].T / temperature  # (n_ab, n_ab)
            target = torch.arange(logits.shape[0])
            total = total + 0.5 * (F.cross_entropy(logits, target)
                                   + F.cross_entropy(logits.T, target))
            used += 1
        if used == 0:
            break
        loss = total / used
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        out = {m: F.normalize(proj[m](xs[m]), dim=-1).numpy() for m in names}
    return out, losses


def fuse(projected: dict[str, np.ndarray], masks: dict[str, np.ndarray],
         weights: dict[str, float]) -> np.ndarray:
    """Concatenate weighted projections, imputing missing modalities from the available ones."""
    names = list(projected)
    stack = np.stack([projected[m] for m in names], axis=1)          # (N, M, d)
    have = np.stack([masks[m] for m in names], axis=1).astype(np.float32)  # (N, M)
    denom = np.maximum(have.sum(1, keepdims=True), 1.0)
    mean = (stack * have[..., None]).sum(1) / denom                  # (N, d)
    filled = np.where(have[..., None] > 0, stack, mean[:, None, :])
    w = np.array([weights.get(m, 1.0) for m in names], np.float32)
    fused = (filled * np.sqrt(w)[None, :, None]).reshape(len(stack), -1)
    norms = np.linalg.norm(fused, axis=1, keepdims=True)
    return (fused / np.maximum(norms, 1e-12)).astype(np.float32)


def modality_inputs(root: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every modality's item vectors and which items have it, from the encode and behaviour
    stages' outputs (a modality with no dimensions, e.g. text when vectors were provided, is
    left out)."""
    root = Path(root)
    status = read_parquet(root / paths.ENCODE / "status.parquet")
    feats = {"text": read_npy(root / paths.ENCODE / "text.npy"),
             "image": read_npy(root / paths.ENCODE / "image.npy"),
             "behaviour": read_npy(root / paths.BEHAVIOUR / "vectors.npy")}
    masks = {"text": np.ones(len(status), bool),  # title is always there
             "image": status["has_image"].to_numpy(),
             "behaviour": read_npy(root / paths.BEHAVIOUR / "has.npy")}
    if (root / paths.ENCODE / "tags.npy").exists():      # categories, brands, attributes
        feats["tags"] = read_npy(root / paths.ENCODE / "tags.npy")
        masks["tags"] = status["has_tags"].to_numpy()
    if (root / paths.ENCODE / "provided.npy").exists():  # the items' own vectors (files)
        feats["provided"] = read_npy(root / paths.ENCODE / "provided.npy")
        masks["provided"] = np.ones(len(status), bool)
    keep = [m for m, v in feats.items() if v.shape[1] > 0]
    return {m: feats[m] for m in keep}, {m: masks[m] for m in keep}
