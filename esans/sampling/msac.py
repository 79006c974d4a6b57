"""MSAC negatives: hard from the positive's level-1 cluster, easy from the others.

For a positive in level-1 cluster c and level-2 cluster s:
- ``m_c`` hard negatives, uniform over cluster c minus cluster s (all of c when
  ``exclude_own_l2`` is off: an ablation of the false-negative rule);
- ``m_o`` easy negatives: a cluster c' != c drawn with probability
  softmax(-||mu_c - mu_c'||^2 / T), then an item uniform in c'.
Nothing is drawn from s (likely false negatives), and draws that hit the user's train items are
redrawn. Everything is index arithmetic on items sorted by (l1, l2): no Python per sample.
If c has a single level-2 cluster, its hard slots are filled with easy draws.

With ``hard_candidates`` k > 1 (this project's variant, not the paper), each hard slot draws k
candidates from the same pool and ``select`` keeps the m_c the current model scores highest
(DNS restricted to MSAC's semantic neighbourhood): the hard negatives become hard for the
model, not only close in content. Their log q stays the pool's, so the emphasis survives logQ.
``easy_candidates`` does the same for the easy slots (DNS over MSAC's other clusters).
"""

from __future__ import annotations

import numpy as np
import torch

from esans.sampling.base import (Negatives, SeenItems, Selection, alias_draw, alias_tables,
                                 pick_unseen, shared_row, take, take2)
from esans.sampling.dns import candidate_scores


class MSACSampler:
    name = "msac"

    def __init__(self, l1: np.ndarray, l2: np.ndarray, centroids1: np.ndarray, m_c: int,
                 m_o: int, temperature: float = 1.0, seen: SeenItems | None = None,
                 tries: int = 4, hard_candidates: int = 1, exclude_own_l2: bool = True,
                 easy_candidates: int = 1) -> None:
        self.tries, self.k, self.exclude = tries, hard_candidates, exclude_own_l2
        self.k_easy = easy_candidates
        l1 = np.array(l1, np.int64)  # copies: torch wants writable arrays
        l2 = np.array(l2, np.int64)
        order = np.lexsort((l2, l1))
        self.sorted_items = torch.from_numpy(order)
        k1, k2 = int(l1.max()) + 1, int(l2.max()) + 1
        s1 = np.bincount(l1, minlength=k1)
        s2 = np.bincount(l2, minlength=k2)
        self.l1 = torch.from_numpy(l1)
        self.l2 = torch.from_numpy(l2)
        self.l1_start = torch.from_numpy(np.concatenate([[0], np.cumsum(s1)[:-1]]))
        self.l1_size = torch.from_numpy(s1)
        # Level-2 ids grow with level-1 ids, so l2 is sorted in this order too.
        self.l2_start = torch.from_numpy(np.searchsorted(l2[order], np.arange(k2)))
        d = ((centroids1[:, None, :] - centroids1[None, :, :]) ** 2).sum(-1)
        logits = torch.from_numpy(-d / temperature).double()
        logits.fill_diagonal_(-float("inf"))
        if k1 == 1:
            logits = torch.zeros((1, 1), dtype=torch.float64)
        self.easy_prob = torch.softmax(logits, dim=1).float()  # (K1, K1), zero diagonal
        self.alias_prob, self.alias = alias_tables(self.easy_prob.double().numpy())
        self.m_c, self.m_o, self.seen = m_c, m_o, seen
        # log expected counts, precomputed: hard draws are uniform over l1 minus own l2,
        # easy ones pick cluster c' with easy_prob[c, c'] then an item uniformly in it.
        parent = np.zeros(k2, np.int64)
        parent[l2] = l1
        pool = np.maximum(s1[parent] - s2 * exclude_own_l2, 1)
        self.log_hard = torch.from_numpy(np.log(max(m_c, 1e-12) / pool)).float()
        self.log_easy = torch.log(m_o * self.easy_prob.clamp(min=1e-12)
                                  / torch.from_numpy(s1).float().unsqueeze(0))
        # the hot path's tables, one row lookup a draw: per level-2 cluster s (parent c), its
        # hard pool [first item of c, pool size, items of c before s, items skipped (s)];
        # an empty pool (c is all s) draws easy instead.
        l1_first = self.l1_start.numpy()[parent]
        empty = s1[parent] - s2 * exclude_own_l2 <= 0
        self.hard_empty = torch.from_numpy(empty)
        self.any_hard_empty = bool(empty.any())
        self.hard_table = torch.from_numpy(np.stack([
            l1_first, np.maximum(s1[parent] - s2 * exclude_own_l2, 1),
            self.l2_start.numpy() - l1_first, np.where(empty, 0, s2 * exclude_own_l2)], 1))

    @property
    def n_neg(self) -> int:
        return self.m_c + self.m_o

    def _easy(self, c: torch.Tensor, m: int, gen: torch.Generator) -> torch.Tensor:
        clusters = alias_draw(self.alias_prob, self.alias, c, (len(c), m), gen)  # ~ easy_prob[c]
        r = torch.rand(clusters.shape, generator=gen)
        off = r.mul_(take(self.l1_size, clusters)).long()
        return take(self.sorted_items, off.add_(take(self.l1_start, clusters)))

    def _hard(self, c: torch.Tensor, s: torch.Tensor, n: int,
              gen: torch.Generator) -> torch.Tensor:
        first, pool, before, skip = self.hard_table.index_select(0, s).unsqueeze(2).unbind(1)
        r = torch.rand((len(c), n), generator=gen).mul_(pool).long()      # in c minus s
        off = torch.where(r >= before, r + skip, r).add_(first)           # s's items skipped
        hard = take(self.sorted_items, off)
        if self.any_hard_empty:              # c is all one level-2 cluster: easy draws
            empty = take(self.hard_empty, s)
            if bool(empty.any()):
                hard[empty] = self._easy(c[empty], n, gen)
        return hard

    def _draw(self, c: torch.Tensor, s: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """(B, m_c * k + m_o * k_easy): one candidate per slot; hard ones from ``c`` minus
        ``s``, easy ones from other level-1 clusters than ``c``."""
        parts = [self._hard(c, s, self.m_c * self.k, gen)] if self.m_c else []
        parts.append(self._easy(c, self.m_o * self.k_easy, gen))
        return torch.cat(parts, dim=1)

    def log_q(self, pos: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Log expected count of each id (B, m) under row b's proposal (positive ``pos[b]``):
        -inf for the positive's own level-2 cluster, which is never drawn."""
        c, s = self.l1[pos].unsqueeze(1), self.l2[pos].unsqueeze(1)
        row = shared_row(ids)                                             # a shared pool's ids
        if row is not None:
            cn, sn = take(self.l1, row), take(self.l2, row)               # (P,), per item once
            easy = self.log_easy.index_select(0, c[:, 0]).index_select(1, cn)
        else:
            cn, sn = take(self.l1, ids), take(self.l2, ids)
            easy = take2(self.log_easy, c, cn)
        lq = torch.where(cn == c, self.log_hard[s], easy)
        return lq.masked_fill((sn == s) & self.exclude, -float("inf"))

    def sample(self, users: torch.Tensor, pos: torch.Tensor,
               gen: torch.Generator) -> Negatives:
        c, s = self.l1[pos], self.l2[pos]
        ids, seen = pick_unseen(lambda r: self._draw(c[r], s[r], gen), users, self.seen,
                                self.tries)
        # log_q's values, with one level-1 lookup of the ids: every candidate comes from
        # outside s (hard pool, or easy draws from other level-1 clusters; with
        # ``exclude_own_l2`` off, s is part of the hard pool), so no level-2 test is needed
        cn = take(self.l1, ids)
        hard = cn == c.unsqueeze(1)
        lq = torch.where(hard, self.log_hard[s].unsqueeze(1), take2(self.log_easy,
                                                                    c.unsqueeze(1), cn))
        return Negatives(ids, lq, hard=hard, n_easy=self.m_o, seen=seen)

    @property
    def selects(self) -> bool:
        """Whether ``select`` keeps a subset: not at one candidate a slot (the paper's ESANS),
        where every draw is kept and the loss scores them all with gradient."""
        return self.k > 1 or self.k_easy > 1

    def select(self, user: torch.Tensor, pos_vec: torch.Tensor, neg_vec: torch.Tensor,
               hit: torch.Tensor, gen: torch.Generator) -> Selection | None:
        """Keep the m_c highest-scoring of the m_c * k hard candidates and the m_o highest of
        the m_o * k_easy easy ones (hard columns first, easy ones last). None (keep all, as
        drawn) when k = k_easy = 1: the paper's ESANS."""
        if not self.selects:
            return None
        h = self.m_c * self.k
        score = candidate_scores(user, neg_vec, hit)                      # all columns once
        parts = []
        for lo, hi, keep, k in ((0, h, self.m_c, self.k),
                                (h, neg_vec.shape[1], self.m_o, self.k_easy)):
            if k > 1 and keep > 0:
                parts.append(lo + score[:, lo:hi].topk(min(keep, hi - lo), dim=1).indices)
            else:
                parts.append(torch.arange(lo, hi).expand(len(user), -1))
        return Selection(torch.cat(parts, 1))
