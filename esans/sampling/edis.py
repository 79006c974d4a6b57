"""EDIS: virtual negatives interpolated from the real negatives' embeddings.

For k = 2..m, k virtual negatives each mix a random k-subset of the row's m source negatives
with Dirichlet(1) weights w (convex), then move by the extrapolation coefficient lambda away
from (lambda > 0) or towards (lambda < 0) the sources' mean:

    v = (1 + lambda) * sum_j w_j e_j - lambda * mean_j e_j

The weights of v sum to one, so v lies in the sources' affine hull (inside the convex hull for
lambda <= 0). That is sum_{k=2}^{m} k = (m + 2)(m - 1) / 2 virtual negatives per row, built with
one batched matrix product.

Training needs only their scores: v is linear in the sources, so s(u, v) = sum_j a_j s(u, e_j),
and ``mix_scores`` mixes the sources' (B, m) scores instead of their (B, m, d) vectors: the
same logits, with no d-dimensional work (the paper's "almost no extra cost").
"""

from __future__ import annotations

import torch


def mixing_weights(batch: int, m: int, lam: float, gen: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (affine weights (B, V, m), convex weights (B, V, m)), V = (m+2)(m-1)/2."""
    sizes = torch.cat([torch.full((k,), k) for k in range(2, m + 1)])      # (V,)
    v = len(sizes)
    noise = torch.rand((batch, v, m), generator=gen)
    # the k smallest noises: a random k-subset. An entry is among them iff fewer than k are
    # smaller (ties included: the same set as ``noise <= k-th smallest``); m compares of the
    # whole tensor, ~2x faster on CPU than sorting its short rows.
    smaller = torch.zeros((batch, v, m), dtype=torch.uint8)
    for j in range(m):
        smaller.add_((noise[..., j:j + 1] < noise).view(torch.uint8))
    in_subset = smaller < sizes.to(torch.uint8).view(1, v, 1)
    g = torch.rand((batch, v, m), generator=gen).clamp_(min=1e-12).log_().neg_()  # Exp(1)
    g.mul_(in_subset)
    convex = g.div_(g.sum(-1, keepdim=True))
    affine = (1 + lam) * convex - lam / m
    return affine, convex


def interpolate(emb: torch.Tensor, log_q: torch.Tensor, lam: float,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """emb (B, m, d), log_q (B, m) -> virtual emb (B, V, d), their log_q (B, V).

    A virtual negative's log_q is the convex-weighted mean of its sources' log_q.
    """
    b, m, _ = emb.shape
    affine, convex = mixing_weights(b, m, lam, gen)
    return affine @ emb, (convex * log_q.unsqueeze(1)).sum(-1)


def mix_scores(score: torch.Tensor, log_q: torch.Tensor, lam: float,
               gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """score (B, m) of the sources against the row's user, log_q (B, m) -> the virtual
    negatives' scores (B, V) and log_q (B, V): ``interpolate``'s vectors scored, without
    building them (same draws from ``gen``)."""
    b, m = score.shape
    affine, convex = mixing_weights(b, m, lam, gen)
    return (affine @ score.unsqueeze(-1)).squeeze(-1), (convex * log_q.unsqueeze(1)).sum(-1)


def sources(emb: torch.Tensor, log_q: torch.Tensor, n_easy: int | None, n: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The real negatives EDIS mixes: of emb (B, m, d) or their scores (B, m), and log_q
    (B, m), the last ``n`` of the sampler's easy draws (its last ``n_easy`` columns,
    ``Negatives.n_easy``; any columns when it makes no easy/hard split): never a hard one."""
    n = min(n, emb.shape[1] if n_easy is None else n_easy)
    return emb[:, emb.shape[1] - n:], log_q[:, log_q.shape[1] - n:]
