"""Train the two-tower model with the negative sampler chosen in params.

One loop, readable top to bottom: per batch of train interactions (user, positive, history of
the L items before it), draw real negatives, let hard-selecting samplers pick among them,
optionally add EDIS virtual negatives in embedding space, and minimise sampled softmax with
logQ correction (or the full softmax, the reference). Negatives equal to the positive or in the
user's train items are masked out of the loss. Validation Recall@50 after each epoch drives
early stopping; the best epoch's weights are kept.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from esans import distributed
from esans.checkpoint import Checkpoint
from esans.config import TrainParams, resolve_sampler
from esans.data.history import Histories
from esans.early_stopping import EarlyStopping
from esans.heap import release_free_heap
from esans.model.loss import full_softmax, sampled_softmax_logits, scores
from esans.model.row_adam import RowAdam
from esans.model.stale_table import StaleItemTable
from esans.model.towers import TwoTower
from esans.rank import evaluate
from esans.sampling import edis
from esans.sampling.base import Sampler, SeenItems
from esans.sampling.dns import DNSSampler
from esans.sampling.inbatch import InBatchSampler
from esans.sampling.mixed import MixedSampler
from esans.sampling.mixgcf import MixGCFSampler
from esans.sampling.msac import MSACSampler
from esans.sampling.own_cluster import OwnClusterMask
from esans.sampling.popularity import PopularitySampler
from esans.sampling.uniform import UniformSampler

# Steps between handing the C heap's free pages back to the OS (``esans.heap``): without it a
# large catalogue's resident memory grows through the epochs far past what the run uses
# (measured in docs/scale.md).
HEAP_TRIM_EVERY = 50


@dataclass
class TrainData:
    n_users: int
    n_items: int
    train_users: np.ndarray   # (T,) sorted by (user, time)
    train_items: np.ndarray   # (T,)
    train_pos: np.ndarray     # (T,) position in the user's train sequence
    valid_users: np.ndarray
    valid_items: np.ndarray
    content: np.ndarray       # (N, D) fused item vectors
    l1: np.ndarray | None = None
    l2: np.ndarray | None = None
    centroids1: np.ndarray | None = None


@dataclass
class TrainResult:
    model: TwoTower
    sampler: str = ""            # the sampler that trained (train.sampler: auto resolved)
    sampler_choice: str = ""     # ... and why
    edis: bool = False           # whether EDIS virtual negatives were on
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_valid_recall50: float = 0.0
    mean_step_s: float = 0.0
    mean_sample_s: float = 0.0
    false_negative_rate: float | None = None  # share of real negatives in valid/test
    false_negative_rate_hard: float | None = None  # ... among hard (same level-1) negatives
    false_negative_rate_easy: float | None = None  # ... among the others


def _base_sampler(p: TrainParams, data: TrainData,
                  seen: SeenItems | None = None) -> Sampler | None:
    if seen is None:
        seen = SeenItems(data.train_users, data.train_items, data.n_items)
    counts = np.bincount(data.train_items, minlength=data.n_items)
    n = p.n_negatives
    match p.sampler:
        case "uniform":
            return UniformSampler(data.n_items, n, seen)
        case "popularity":
            return PopularitySampler(counts, n, 0.75, seen)
        case "inbatch":
            return InBatchSampler(counts)
        case "mixed":
            return MixedSampler(counts, p.mns_uniform)
        case "dns":
            return DNSSampler(data.n_items, p.pool_size, n, seen)
        case "mixgcf":
            return MixGCFSampler(data.n_items, p.pool_size, n, seen)
        case "msac" | "esans":
            if data.l1 is None:
                raise ValueError("the msac/esans samplers need cluster assignments")
            return MSACSampler(data.l1, data.l2, data.centroids1, p.m_c, p.m_o,
                               seen=seen, hard_candidates=p.candidates,
                               exclude_own_l2=p.excludes_own_l2,
                               easy_candidates=p.candidates)
        case "full":
            return None
    raise ValueError(f"unknown sampler {p.sampler!r}")


def build_sampler(p: TrainParams, data: TrainData,
                  seen: SeenItems | None = None) -> Sampler | None:
    """The real-negative sampler named by ``p.sampler`` (None for the full softmax), with
    MSAC's own-level-2 mask over it where ``train.exclude_own_l2`` asks for it.

    ``seen``: the users' train items, as the loss masks them (built from ``data`` if not
    given). A sampler returns its lookup in them (``Negatives.seen``) and the loss trusts it,
    so ``train`` passes the loss's own: one table, not two.
    """
    p, _ = resolve_sampler(p, data.n_items)
    sampler = _base_sampler(p, data, seen)
    if sampler is not None and p.excludes_own_l2 and not p.traits.hard:
        if data.l2 is None:
            raise ValueError("train.exclude_own_l2 needs cluster assignments")
        return OwnClusterMask(sampler, data.l2)
    return sampler


def valid_recall(model: TwoTower, data: TrainData, train_hist: Histories,
                 history_len: int, k: int = 50) -> float:
    users = np.unique(data.valid_users)
    if len(users) == 0:
        return 0.0
    model.eval()
    m, _ = evaluate(model, users, train_hist, history_len, data.valid_users,
                    data.valid_items, [k])
    model.train()
    return m[f"recall@{k}"]


def selector(sampler: Sampler) -> Callable | None:
    """The sampler's hard selection (``select``), None where it keeps every draw: samplers
    without one, and those that say so (``selects`` False: MSAC at one candidate a slot)."""
    select = getattr(sampler, "select", None)
    return select if select is not None and getattr(sampler, "selects", True) else None


def stale_table(p: TrainParams, sampler: Sampler | None) -> StaleItemTable | None:
    """The stale item table the sampler's hard selection scores on (``p.table_every``), None
    where it scores exactly or keeps every draw."""
    return (StaleItemTable(p.table_every)
            if p.table_every and selector(sampler) is not None else None)


def batch_loss(model: TwoTower, p: TrainParams, sampler: Sampler | None, seen: SeenItems,
               u: torch.Tensor, i: torch.Tensor, h: torch.Tensor, gen: torch.Generator,
               heldout: SeenItems | None = None,
               table: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """The loss of one batch: users ``u`` (B,), positives ``i`` (B,), histories ``h`` (B, L).

    Real negatives from ``sampler`` (None: full softmax), kept by its ``select`` where it has
    one; EDIS virtual negatives when ``p.uses_edis``. Negatives equal to the positive, in the
    user's train items or masked by the sampler stay out of the softmax. ``table`` (n_items,
    d), no gradient: a stale vector of every item (``StaleItemTable``) that the selection
    scores candidates with instead of the current tower. ``p`` is resolved
    (``config.resolve_sampler``): ``train`` passes it so.
    """
    info = {"sample_s": 0.0, "fn_hits": 0, "n_neg": 0}
    if sampler is None:
        allv = model.all_items()                                            # (N, d)
        uv = model.users(u, h, allv[h.clamp(min=0)])
        return full_softmax(uv, allv, i, p.softmax_temperature), info
    neg = _draw(sampler, u, i, gen, heldout, info)
    select = selector(sampler)                                              # dns, mixgcf, msac
    # With sparse id rows (large catalogues) or a stale table, the candidates are scored
    # without autograd and only the kept ones go through the item tower with gradient (a
    # second, smaller call); with dense ids the batch's one tower pass already holds most.
    two_pass = select is not None and (model.item_id.sparse or table is not None)
    t = _Tower(model, u, i, h, neg, graph_candidates=not two_pass)
    hit = (neg.ids == i.unsqueeze(1)) | (                                   # (B, m)
        neg.seen if neg.seen is not None else seen.contains(u, neg.ids))
    if neg.masked is not None:
        hit = hit | neg.masked
    ids, log_q, nv, mix = neg.ids, neg.log_q, None, None
    if select is not None:  # chosen on detached scores: only the kept enter the graph
        keep, mix = _select(select, sampler, t, neg, hit, table, two_pass, gen)
        ids, log_q, hit = (x.gather(1, keep) for x in (ids, log_q, hit))
        nv = model.items(ids) if two_pass else t.kept(keep)                 # (B, m', d)
    else:
        nv = t.negatives()                                                  # (B, m', d)
    if mix is not None:                                                     # mixgcf
        nv = mix * t.iv.unsqueeze(1) + (1 - mix) * nv
    neg_score = scores(t.uv, nv)                                            # (B, m')
    if p.uses_edis:  # virtual negatives, scored as the same mix of their sources' scores
        neg_score, log_q, hit = _with_edis(p, neg.n_easy, neg_score, log_q, hit, gen)
    loss = sampled_softmax_logits((t.uv * t.iv).sum(-1), neg_score, log_q, p.softmax_temperature,
                                  hit, p.logq_correction)
    return loss, info


def _draw(sampler: Sampler, u, i, gen, heldout: SeenItems | None, info: dict):
    """The row's real negatives; counts false negatives into ``info`` (diagnostics only:
    held-out items drawn as negatives)."""
    t0 = time.perf_counter()
    neg = sampler.sample(u, i, gen)                                         # ids (B, m)
    info["sample_s"] = time.perf_counter() - t0
    if heldout is not None:
        future = heldout.contains(u, neg.ids)
        info["fn_hits"], info["n_neg"] = int(future.sum()), neg.ids.numel()
        if neg.hard is not None:
            info["fn_hard_hits"] = int((future & neg.hard).sum())
            info["n_hard"] = int(neg.hard.sum())
    return neg


class _Tower:
    """One pass of the item tower over everything the batch needs (positives, history
    items, candidates unless they are scored apart); each part looks its
    rows up in it (backward: an index_add into one tensor, not a zero gradient per slice)."""

    def __init__(self, model: TwoTower, u, i, h, neg, graph_candidates: bool) -> None:
        b, self.m = neg.ids.shape
        cand = neg.ids[0] if neg.shared else neg.ids.reshape(-1)            # shared: (m,)
        graph = cand if graph_candidates else cand[:0]
        self.uniq, inv = torch.unique(torch.cat([i, graph, h.clamp(min=0).reshape(-1)]),
                                      return_inverse=True)
        self.vecs = model.item_vectors(self.uniq)
        self.inv_i, self.inv_n, inv_h = inv.split([b, len(graph), h.numel()])
        self.iv = self.vecs.index_select(0, self.inv_i)                     # (B, d)
        self.uv = model.users(u, h, self.vecs.index_select(0, inv_h).view(b, h.shape[1], -1))
        self.model, self.neg, self.b = model, neg, b

    def negatives(self) -> torch.Tensor:
        nv = self.vecs.index_select(0, self.inv_n)                          # (m, d) shared
        return nv if self.neg.shared else nv.view(self.b, -1, nv.shape[1])

    def candidates(self) -> torch.Tensor:
        return self.vecs.detach().index_select(0, self.inv_n).view(self.b, self.m, -1)

    def kept(self, keep: torch.Tensor) -> torch.Tensor:
        rows = self.inv_n.view(self.b, self.m).gather(1, keep).reshape(-1)
        return self.vecs.index_select(0, rows).view(self.b, keep.shape[1], -1)


def _select(select, sampler: Sampler, t: _Tower, neg, hit, table, two_pass: bool, gen):
    """The columns the sampler keeps (and MixGCF's mixing), on detached scores."""
    b, m = neg.ids.shape
    with torch.no_grad():
        if table is not None:
            c_vec = table.index_select(0, neg.ids.reshape(-1)).view(b, m, -1)
        elif two_pass:
            c_vec = t.model.items(neg.ids)
        else:
            c_vec = t.candidates()
        sel = select(t.uv.detach(), t.iv.detach(), c_vec, hit, gen)
    assert sel is not None, f"{sampler.name}: selects but select() kept everything"
    return sel.keep, sel.mix


def _with_edis(p: TrainParams, n_easy, neg_score, log_q, hit, gen):
    """EDIS's virtual negatives appended: scored as the same mix of their sources' scores."""
    src_s, src_q = edis.sources(neg_score, log_q, n_easy, p.edis_sources)
    vs, vq = edis.mix_scores(src_s, src_q, p.edis_lambda, gen)              # (B, V)
    return (torch.cat([neg_score, vs], 1), torch.cat([log_q, vq], 1),
            torch.cat([hit, torch.zeros(vq.shape, dtype=torch.bool)], 1))


CLUSTERS_PER_BATCH = 4   # batching: clusters (TAS-B balances a few topics a batch)


def epoch_order(p: TrainParams, data: TrainData, items: torch.Tensor, batch: int,
                gen: torch.Generator) -> torch.Tensor:
    """The order of the training events (positives ``items``) for one epoch: a random
    permutation, or with ``train.batching: clusters`` one whose every ``batch`` consecutive
    events come from about ``CLUSTERS_PER_BATCH`` level-1 clusters of the positives (each
    cluster's events shuffled and cut into chunks of batch / CLUSTERS_PER_BATCH, the chunks
    shuffled)."""
    perm = torch.randperm(len(items), generator=gen)
    if p.batching == "random":
        return perm
    groups = torch.from_numpy(np.array(data.l1, np.int64))[items[perm]]   # a writable copy
    by_cluster = torch.argsort(groups, stable=True)            # shuffled within a cluster
    order, g = perm[by_cluster], groups[by_cluster]
    at = torch.arange(len(g))
    first = torch.ones(len(g), dtype=torch.bool)
    first[1:] = g[1:] != g[:-1]
    group_start = torch.cummax(torch.where(first, at, 0), 0).values
    new_chunk = first | ((at - group_start) % max(1, batch // CLUSTERS_PER_BATCH) == 0)
    chunk = torch.cumsum(new_chunk.long(), 0) - 1
    rank = torch.randperm(int(chunk[-1]) + 1, generator=gen)[chunk]
    return order[torch.argsort(rank * len(g) + at)]


def uses_sparse_ids(p: TrainParams, n_items: int) -> bool:
    """Whether id embeddings train with sparse gradients and a lazy Adam: ``p.sparse_ids``,
    or from 100k items where it is ``auto``, except for the full softmax, which reads (and
    updates) every item row each step."""
    if isinstance(p.sparse_ids, bool):
        return p.sparse_ids
    return n_items >= 100_000 and p.traits.sampled


def optimizers(model: TwoTower, p: TrainParams, sparse: bool) -> list[torch.optim.Optimizer]:
    """Adam; with sparse id embeddings, a lazy Adam for them (RowAdam: it updates only the rows a
    batch touched; weight decay applies to the dense weights only)."""
    if not sparse:
        return [torch.optim.Adam(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)]
    ids = [model.item_id.weight, model.user_id.weight]
    dense = [w for w in model.parameters() if all(w is not t for t in ids)]
    return [torch.optim.Adam(dense, lr=p.lr, weight_decay=p.weight_decay),
            RowAdam(ids, lr=p.lr)]


def optimiser_step(loss: torch.Tensor, opts: list[torch.optim.Optimizer], model: TwoTower,
                   world: distributed.World = distributed.World()) -> None:
    """Backward, average the gradients across ranks (nothing in one process), step."""
    for o in opts:
        o.zero_grad()
    loss.backward()
    distributed.average_gradients(model, world)
    for o in opts:
        o.step()


@dataclass
class FalseNegatives:
    """How many sampled real negatives are held-out positives (diagnostics only), in all and
    among the hard ones (MSAC's level-1 draws)."""
    hits: int = 0
    total: int = 0
    hard_hits: int = 0
    hard_total: int = 0

    def add(self, info: dict) -> None:
        self.hits += info["fn_hits"]
        self.total += info["n_neg"]
        self.hard_hits += info.get("fn_hard_hits", 0)
        self.hard_total += info.get("n_hard", 0)

    def rates(self) -> dict[str, float | None]:
        easy_total = self.total - self.hard_total
        return {"all": self.hits / self.total if self.total else None,
                "hard": self.hard_hits / self.hard_total if self.hard_total else None,
                "easy": (self.hits - self.hard_hits) / easy_total if easy_total else None}


def fit(p: TrainParams, data: TrainData, seed: int, log: Callable[[str], None] = print,
        heldout: SeenItems | None = None, checkpoint: str | os.PathLike | None = None,
        key: str = "", progress: bool = False) -> TrainResult:
    """Fit the model. ``heldout`` (valid + test pairs) is used only to *count* false
    negatives among the sampled real negatives; it never touches the loss.

    The loop composes small parts: ``batch_loss`` (one batch's negatives and loss),
    ``optimiser_step`` (with gradient averaging across ranks), ``EarlyStopping`` (best epoch's
    weights, patience) and ``Checkpoint``: with ``checkpoint``, the full training state is
    saved as ``p.checkpointing`` says (``train.checkpoint_every``; the fixed item content, part
    of ``key``, is not saved),
    and a run with the same ``key`` (params + data) resumes from it and ends exactly where an
    uninterrupted run would.

    Under ``torchrun`` (see ``esans.distributed``) each rank takes its slice of every global
    batch and its own sampling RNG stream, and gradients are averaged across ranks; a last
    global batch smaller than the world is dropped, and checkpoints are off.
    """
    p, choice = resolve_sampler(p, data.n_items)   # train.sampler: auto -> by catalogue size
    world = distributed.init()
    torch.manual_seed(seed)                   # same initial weights on every rank
    torch.set_num_threads(p.threads)
    torch.use_deterministic_algorithms(True)  # same data + params + seed -> same model
    gen = torch.Generator().manual_seed(seed)
    order_gen = gen                           # the epoch order: shared by every rank
    if world.active:
        gen = torch.Generator().manual_seed(seed + 7919 * (world.rank + 1))
        checkpoint, progress = None, progress and world.is_main
    ckpt = Checkpoint(checkpoint, key, *p.checkpointing) if checkpoint is not None else None
    local_bs = max(1, p.batch_size // world.size)
    sparse = uses_sparse_ids(p, data.n_items)
    model = TwoTower(torch.from_numpy(data.content), data.n_users, p.dim, p.history_len, sparse)
    opts = optimizers(model, p, sparse)
    seen = SeenItems(data.train_users, data.train_items, data.n_items)
    sampler = build_sampler(p, data, seen)
    stale = stale_table(p, sampler)
    if world.active and p.traits.batch_pool:
        sampler = distributed.GlobalBatchPool(sampler, world)
    hist = Histories(data.train_users, data.train_items, data.n_users)
    users_t = torch.from_numpy(data.train_users.astype(np.int64))
    items_t = torch.from_numpy(data.train_items.astype(np.int64))
    pos_t = torch.from_numpy(data.train_pos.astype(np.int64))
    n = len(users_t)
    result = TrainResult(model=model, sampler=p.sampler, sampler_choice=choice,
                         edis=p.uses_edis)
    stopping, fns = EarlyStopping(p.patience), FalseNegatives()
    step_times, sample_times = [], []
    start_epoch, start_step, perm, losses, step = 1, 0, None, [], 0
    saved = ckpt.load() if ckpt is not None else None
    if saved is not None:
        model.load_trained_state(saved["model"])
        for o, state in zip(opts, saved["opt"], strict=True):
            o.load_state_dict(state)
        gen.set_state(saved["gen"])
        start_epoch, start_step, perm = saved["epoch"], saved["next"], saved["perm"]
        losses, result.history = list(saved["losses"]), list(saved["history"])
        stopping.load_state_dict(saved["stopping"])
        fns = FalseNegatives(*saved["fn"])
        if stale is not None:
            stale.load_state_dict(saved["stale"])
        log(f"resumed from checkpoint: epoch {start_epoch}, item {start_step} of {n}")
    for epoch in range(start_epoch, p.epochs + 1):
        t0 = time.perf_counter()
        if epoch != start_epoch or perm is None:
            perm, losses = epoch_order(p, data, items_t, local_bs * world.size, order_gen), []
        starts = range(start_step if epoch == start_epoch else 0, n, local_bs * world.size)
        for s in tqdm(starts, desc=f"epoch {epoch}/{p.epochs}", unit="batch", leave=False,
                      disable=not progress):
            step += 1
            if ckpt is not None and ckpt.due(step):
                ckpt.save({"model": model.trained_state(), "opt": [o.state_dict() for o in opts],
                           "gen": gen.get_state(), "epoch": epoch, "next": s, "perm": perm,
                           "losses": losses, "history": result.history,
                           "stopping": stopping.state_dict(),
                           "fn": list(astuple(fns)),
                           "stale": stale.state_dict() if stale is not None else None})
            ts = time.perf_counter()
            idx = world.local(perm[s:s + local_bs * world.size], local_bs)
            if idx is None:
                continue
            u, i = users_t[idx], items_t[idx]
            h = hist.window(u, pos_t[idx], p.history_len)                   # (B, L)
            loss, info = batch_loss(model, p, sampler, seen, u, i, h, gen, heldout,
                                    stale.tick(model) if stale is not None else None)
            sample_times.append(info["sample_s"])
            fns.add(info)
            optimiser_step(loss, opts, model, world)
            losses.append(loss.item())
            step_times.append(time.perf_counter() - ts)
            if step % HEAP_TRIM_EVERY == 0:
                release_free_heap()
        trained_s = time.perf_counter() - t0
        rec = distributed.broadcast_float(valid_recall(model, data, hist, p.history_len), world)
        release_free_heap()   # what validation's score blocks left
        row = {"epoch": epoch, "loss": float(np.mean(losses)), "valid_recall@50": rec,
               "seconds": time.perf_counter() - t0, "train_seconds": trained_s}
        result.history.append(row)
        log(f"epoch {epoch}: loss {row['loss']:.4f} valid recall@50 {rec:.4f} "
            f"({row['seconds']:.1f}s)")
        if stopping.update(epoch, rec, model):
            log(f"early stop: no gain for {p.patience} epochs; best epoch {stopping.best_epoch}")
            break
    if ckpt is not None:
        ckpt.clear()  # finished: the next run starts fresh
    stopping.restore_best(model)
    result.best_epoch, result.best_valid_recall50 = stopping.best_epoch, stopping.best
    result.mean_step_s = float(np.mean(step_times)) if step_times else 0.0
    result.mean_sample_s = float(np.mean(sample_times)) if sample_times else 0.0
    rates = fns.rates()
    result.false_negative_rate = rates["all"]
    result.false_negative_rate_hard, result.false_negative_rate_easy = rates["hard"], rates["easy"]
    model.eval()
    return result
