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

import functools
import itertools

import torch


MAX_TABLE_M = 8                  # the permutation table's largest m: 8! = 40,320 rows, 322 kB


@functools.lru_cache(maxsize=8)
def _subset_ranks(m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The virtual negatives' subset sizes (V,) and, for m <= MAX_TABLE_M, every permutation
    of m as ranks (m!, m) uint8: a random permutation's first k ranks are a random k-subset."""
    sizes = torch.cat([torch.full((k,), k, dtype=torch.uint8) for k in range(2, m + 1)])
    if m > MAX_TABLE_M:
        return sizes, torch.empty((0, m), dtype=torch.uint8)
    return sizes, torch.tensor(list(itertools.permutations(range(m))), dtype=torch.uint8)


def convex_weights(batch: int, m: int, gen: torch.Generator) -> torch.Tensor:
    """Convex weights (B, V, m), V = (m+2)(m-1)/2: for k = 2..m, k rows of Dirichlet(1)
    weights over a uniformly random k-subset of the m sources (zero elsewhere)."""
    sizes, perms = _subset_ranks(m)
    v = len(sizes)
    if len(perms):  # a random permutation of m per virtual negative, looked up: one gather
        ranks = perms.index_select(0, torch.randint(len(perms), (batch * v,), generator=gen))
        ranks = ranks.view(batch, v, m)
    else:  # ranks of uniform noise: m compares of the whole tensor (ties: smaller first)
        noise = torch.rand((batch, v, m), generator=gen)
        ranks = torch.zeros((batch, v, m), dtype=torch.uint8)
        for j in range(m):
            ranks.add_((noise[..., j:j + 1] < noise).view(torch.uint8))
    g = torch.rand((batch, v, m), generator=gen).clamp_(min=1e-12).log_().neg_()  # Exp(1)
    g.mul_(ranks < sizes.view(1, v, 1))           # the k lowest ranks: a random k-subset
    return g.div_(g.sum(-1, keepdim=True))


def mixing_weights(batch: int, m: int, lam: float, gen: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (affine weights (B, V, m), convex weights (B, V, m)), V = (m+2)(m-1)/2."""
    convex = convex_weights(batch, m, gen)
    return (1 + lam) * convex - lam / m, convex


def interpolate(emb: torch.Tensor, log_q: torch.Tensor, lam: float,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """emb (B, m, d), log_q (B, m) -> virtual emb (B, V, d), their log_q (B, V).

    A virtual negative's log_q is the convex-weighted mean of its sources' log_q.
    """
    b, m, _ = emb.shape
    affine, convex = mixing_weights(b, m, lam, gen)
    return affine @ emb, (convex @ log_q.unsqueeze(-1)).squeeze(-1)


def mix_scores(score: torch.Tensor, log_q: torch.Tensor, lam: float,
               gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """score (B, m) of the sources against the row's user, log_q (B, m) -> the virtual
    negatives' scores (B, V) and log_q (B, V): ``interpolate``'s vectors scored, without
    building them (same draws from ``gen``)."""
    b, m = score.shape
    convex = convex_weights(b, m, gen)
    # affine = (1 + lam) convex - lam / m, so affine . s = (1 + lam) convex . s - lam mean(s)
    both = convex @ torch.stack([score, log_q], -1)                      # (B, V, 2)
    return (1 + lam) * both[..., 0] - lam * score.mean(1, True), both[..., 1]


def sources(emb: torch.Tensor, log_q: torch.Tensor, n_easy: int | None, n: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The real negatives EDIS mixes: of emb (B, m, d) or their scores (B, m), and log_q
    (B, m), the last ``n`` of the sampler's easy draws (its last ``n_easy`` columns,
    ``Negatives.n_easy``; any columns when it makes no easy/hard split): never a hard one."""
    n = min(n, emb.shape[1] if n_easy is None else n_easy)
    return emb[:, emb.shape[1] - n:], log_q[:, log_q.shape[1] - n:]
