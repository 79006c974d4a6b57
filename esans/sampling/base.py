"""The sampler interface and the shared false-negative mask.

A sampler takes a batch of (user, positive item) pairs and returns ``Negatives``: item ids
(B, m) and the log of each id's expected count under the proposal (for logQ correction).
Ids equal to the row's positive are dropped by the loss (accidental hits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import torch


@dataclass(frozen=True)
class Negatives:
    ids: torch.Tensor    # (B, m) long
    log_q: torch.Tensor  # (B, m) float: log expected count of the id in this row's draw
    shared: bool = False  # every row has the same ids (in-batch pools): scored once, (m, d)
    # (B, m) bool: the sampler drew this column as a *hard* negative (MSAC's same level-1
    # cluster); None: no hard/easy distinction. The loss may weight hard negatives up.
    hard: torch.Tensor | None = None
    # The sampler's layout promise: the last ``n_easy`` columns are its *easy* draws (MSAC:
    # from other level-1 clusters), and a ``select`` step keeps them last. EDIS mixes only
    # these. None: no easy/hard split (every column may be mixed).
    n_easy: int | None = None
    # (B, m) bool: drawn, but kept out of the loss like an accidental hit (MSAC anchored on
    # a history item may reach the positive's own level-2 cluster); None: nothing masked.
    masked: torch.Tensor | None = None
    # (B, m) bool: the sampler already looked the ids up in the users' train items (the same
    # ``SeenItems`` as the loss's); None: the loss looks them up.
    seen: torch.Tensor | None = None


@dataclass(frozen=True)
class Selection:
    """What a hard-selecting sampler (``select``) keeps of its drawn candidates.

    ``keep`` (B, n): column indices into the drawn ``Negatives`` (ids, log q, hit, hard follow
    them); the kept negatives' vectors are the tower's, with gradient. ``mix`` (B, n, 1):
    positive-mixing coefficients a (MixGCF), the kept vector being a * e_pos + (1 - a) * e;
    None: the vectors as they are. Selection itself runs on detached scores, so only the
    kept negatives enter the autograd graph.
    """
    keep: torch.Tensor
    mix: torch.Tensor | None = None


class Sampler(Protocol):
    name: str

    def sample(self, users: torch.Tensor, pos: torch.Tensor,
               gen: torch.Generator) -> Negatives: ...


class SeenItems:
    """Membership test for (user, item) pairs in train, vectorised.

    A dense bit table when users x items is small enough (``max_dense`` cells), else the
    sorted pair keys behind a one-hash bit filter (``bits_per_key`` bits a key, addressed by
    key mod a prime): a query whose bit is clear is not a train pair, and only the few whose
    bit is set (the true pairs and ~1/bits_per_key of the rest) are ``searchsorted`` in the
    keys. Both answer (B,) x (B, m) -> (B, m) bool, exactly. With the keys, a row shared by
    every user (an expanded view, as the in-batch and mixed pools are) is answered from the
    batch users' own train items instead of B x m lookups.
    """

    def __init__(self, user_idx: np.ndarray, item_idx: np.ndarray, n_items: int,
                 max_dense: int = 64_000_000, bits_per_key: int = 16) -> None:
        self.n_items = n_items
        user_idx = np.asarray(user_idx, np.int64)
        item_idx = np.asarray(item_idx, np.int64)
        n_users = int(user_idx.max()) + 1 if len(user_idx) else 0
        self.dense: torch.Tensor | None = None
        if 0 < n_users * n_items <= max_dense:
            table = torch.zeros((n_users + 1, n_items), dtype=torch.bool)  # +1: unknown users
            table[torch.from_numpy(user_idx), torch.from_numpy(item_idx)] = True
            self.dense = table
        keys = np.unique(user_idx * n_items + item_idx)
        self.keys = torch.from_numpy(keys)
        # the filter (only where the keys answer lookups): bit (key mod prime) set for every
        # key; a prime modulus, so that no power-of-two catalogue size lines the users' keys
        # up on the same bits. bits_per_key 0: none.
        self.bits: torch.Tensor | None = None
        if self.dense is None and bits_per_key > 0:
            self.prime = prime_at_least(max(bits_per_key * len(keys), 64))
            bits = np.zeros(self.prime + (-self.prime) % 64, bool)
            bits[keys % self.prime] = True
            self.bits = torch.from_numpy(
                np.packbits(bits, bitorder="little").view("<i8").copy())

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B,) users x (B, m) items -> (B, m) bool."""
        if self.dense is not None:
            u, empty = users.long(), len(self.dense) - 1   # -1 / unknown users: the empty row
            u = torch.where((u < 0) | (u > empty), empty, u)
            return take2(self.dense, u.unsqueeze(1), items.long())
        row = shared_row(items)
        if row is not None:
            return self._contains_row(users.long(), row.long())
        q = users.long().unsqueeze(1) * self.n_items + items.long()
        out = torch.zeros(q.numel(), dtype=torch.bool)
        if len(self.keys) == 0:
            return out.view(q.shape)
        if self.bits is None:
            return self._in_keys(q)
        h = q.remainder(self.prime)                     # >= 0, also for -1 (unknown) users
        maybe = ((take(self.bits, h >> 6) >> (h & 63)) & 1).reshape(-1).nonzero().squeeze(1)
        if len(maybe):
            out[maybe] = self._in_keys(q.reshape(-1).index_select(0, maybe))
        return out.view(q.shape)

    def _in_keys(self, q: torch.Tensor) -> torch.Tensor:
        """Whether each pair key in ``q`` is a train key: a binary search of the keys."""
        pos = torch.searchsorted(self.keys, q).clamp(max=len(self.keys) - 1)
        return take(self.keys, pos) == q

    def _contains_row(self, users: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
        """(B,) users x one (P,) row of items -> (B, P): each user's train items (a key range)
        looked up in the sorted row, so the work is the users' items, not B x P."""
        n = self.n_items
        lo = torch.searchsorted(self.keys, users * n)          # a user's keys: [lo, hi)
        cnt = torch.searchsorted(self.keys, (users + 1) * n) - lo
        which = torch.repeat_interleave(torch.arange(len(users)), cnt)         # (T,) rows
        item = take(self.keys, _ranges(lo, cnt)) - take(users, which) * n       # (T,) items
        srt, order = row.sort()
        at = torch.searchsorted(srt, item)                      # equal ids: [at, at + hits)
        hits = torch.searchsorted(srt, item, right=True) - at
        out = torch.zeros((len(users), len(row)), dtype=torch.bool)
        out[torch.repeat_interleave(which, hits), take(order, _ranges(at, hits))] = True
        return out


def prime_at_least(n: int) -> int:
    """The smallest prime >= n (trial division: fine up to ~10^12, once per table)."""
    n = max(n, 2)
    while n > 2 and (n % 2 == 0 or any(n % d == 0 for d in range(3, int(n ** 0.5) + 1, 2))):
        n += 1
    return n


def shared_row(ids: torch.Tensor) -> torch.Tensor | None:
    """The one row of a (B, m) index tensor expanded over its batch (a shared pool's ids, as
    in-batch and mixed sampling build them: stride 0 along rows), or None if it is not one."""
    if ids.dim() == 2 and ids.shape[0] > 1 and ids.stride(0) == 0:
        return ids[0]
    return None


def _ranges(starts: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """The concatenated ranges [starts[j], starts[j] + counts[j]) as one flat index."""
    shift = torch.repeat_interleave(starts - (torch.cumsum(counts, 0) - counts), counts)
    return torch.arange(len(shift)) + shift


def take(table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``table[idx]`` for a 1-D ``table`` and an index tensor of any shape, as one
    ``index_select``: the same values, several times faster on CPU than advanced indexing
    (the samplers' hot path)."""
    return table.index_select(0, idx.reshape(-1)).view(idx.shape)


def take2(table: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``table[rows, cols]`` for a 2-D ``table``, ``rows`` and ``cols`` broadcast together:
    one ``take`` of the flattened table."""
    return take(table.reshape(-1), rows * table.shape[1] + cols)


def alias_tables(prob: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Walker/Vose alias tables, one per row of ``prob`` (K, K): O(1) exact draws."""
    k = prob.shape[1]
    keep = np.ones(prob.shape, np.float64)
    alias = np.tile(np.arange(k), (prob.shape[0], 1))
    for row, p in enumerate(prob):
        scaled = p / p.sum() * k
        small = [i for i in range(k) if scaled[i] < 1.0]
        large = [i for i in range(k) if scaled[i] >= 1.0]
        while small and large:
            s, g = small.pop(), large.pop()
            keep[row, s], alias[row, s] = scaled[s], g
            scaled[g] -= 1.0 - scaled[s]
            (small if scaled[g] < 1.0 else large).append(g)
        for i in small + large:
            keep[row, i] = 1.0
    return torch.from_numpy(keep).float(), torch.from_numpy(alias)


def alias_draw(keep: torch.Tensor, alias: torch.Tensor, rows: torch.Tensor, shape: tuple,
               gen: torch.Generator) -> torch.Tensor:
    """Draws from row ``rows`` (B,) of alias tables (K rows, N columns): (B, *shape[1:])."""
    k = torch.randint(alias.shape[1], shape, generator=gen)
    flat = rows.view(-1, *([1] * (len(shape) - 1))) * alias.shape[1] + k  # one index, 2 tables
    return torch.where(torch.rand(shape, generator=gen) < take(keep.reshape(-1), flat), k,
                       take(alias.reshape(-1), flat))


def pick_unseen(draw: Callable[[torch.Tensor], torch.Tensor], users: torch.Tensor,
                seen: SeenItems | None, tries: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Each slot's first draw not in the user's train items, out of up to ``tries``
    independent draws (the first draw if all are seen; the loss then masks it).

    ``draw(rows)`` returns fresh candidates (len(rows), m) for those rows of the batch (a row
    may repeat). Only the rows with a seen slot are drawn again, their ``tries - 1`` redraws in
    one call and one lookup, so a large catalogue (where almost no draw is seen) pays for one
    draw and one lookup per slot. Returns the ids (B, m) and whether each is still a train item
    of its user ((B, m) bool: the loss's mask, already looked up; None without ``seen``).
    """
    ids = draw(torch.arange(len(users)))
    if seen is None:
        return ids, None
    bad = seen.contains(users, ids)
    rows = bad.any(1).nonzero().squeeze(1)
    if tries < 2 or len(rows) == 0:
        return ids, bad
    r, m = len(rows), ids.shape[1]
    # (r, m, tries - 1): a slot's redraws last, where argmax is fast (over a middle dim of
    # int8, torch's CPU argmax is ~20x slower)
    again = draw(rows.repeat_interleave(tries - 1)).view(r, tries - 1, m).transpose(1, 2)
    again = again.contiguous()
    ok = ~seen.contains(users[rows], again.reshape(r, -1)).view(r, m, tries - 1)
    first = ok.to(torch.int8).argmax(dim=2, keepdim=True)                # 0 if none ok
    was = bad[rows]
    fix = was & ok.any(2)
    ids[rows] = torch.where(fix, again.gather(2, first).squeeze(2), ids[rows])
    bad[rows] = was & ~fix
    return ids, bad
