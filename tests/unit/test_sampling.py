"""Samplers and EDIS on small, fully known clusterings."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from esans.cluster.msac import msac
from esans.sampling import edis
from esans.sampling.base import SeenItems, pick_unseen, take, take2
from esans.sampling.msac import MSACSampler
from esans.sampling.uniform import UniformSampler


def _blobs(n_per=40, k=4, d=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, (k, d))
    x = np.concatenate([c + rng.normal(0, 0.5, (n_per, d)) for c in centres])
    return x.astype(np.float32), np.repeat(np.arange(k), n_per)


def test_msac_recovers_separated_blobs_and_respects_min_size():
    x, truth = _blobs()
    cl = msac(x, n_l1=4, n_l2=3, min_size=5, seed=0)
    # every level-1 cluster is exactly one blob
    for c in np.unique(cl.l1):
        assert len(np.unique(truth[cl.l1 == c])) == 1
    assert np.bincount(cl.l2).min() >= 5
    # level-2 clusters nest inside level-1 clusters
    assert all(len(np.unique(cl.l1[cl.l2 == s])) == 1 for s in np.unique(cl.l2))
    assert np.array_equal(cl.parent[cl.l2], cl.l1)


def _sampler(m_c=2, m_o=5, seen=None):
    x, _ = _blobs()
    cl = msac(x, n_l1=4, n_l2=3, min_size=5, seed=0)
    return MSACSampler(cl.l1, cl.l2, cl.centroids1, m_c, m_o, 1.0, seen), cl


def test_msac_negatives_never_from_own_level2_and_exact_counts():
    s, cl = _sampler()
    g = torch.Generator().manual_seed(0)
    pos = torch.arange(len(cl.l1)).repeat(20)
    neg = s.sample(torch.zeros_like(pos), pos, g)
    assert neg.ids.shape == (len(pos), 7)
    l1, l2 = torch.from_numpy(cl.l1), torch.from_numpy(cl.l2)
    assert not (l2[neg.ids] == l2[pos].unsqueeze(1)).any()
    same = l1[neg.ids] == l1[pos].unsqueeze(1)
    assert same[:, :2].all()          # m_c hard: same level-1 cluster
    assert not same[:, 2:].any()      # m_o easy: other level-1 clusters
    assert torch.isfinite(neg.log_q).all()


@pytest.mark.parametrize("kw", [{}, {"exclude_own_l2": False},
                                {"hard_candidates": 4, "easy_candidates": 3}])
def test_msac_sample_log_q_and_hard_mask_equal_the_general_lookup(kw):
    """sample() computes its draws' log q and hard mask on a fast path (one level-1 lookup);
    they must equal log_q() on the same ids and the level-1 test, also with a single-level-2
    level-1 cluster (its hard slots drawn easy) and with train items redrawn."""
    x, _ = _blobs()
    cl = msac(x, n_l1=4, n_l2=3, min_size=5, seed=0)
    l1, l2 = cl.l1.copy(), cl.l2.copy()
    l2[l1 == 0] = l2[l1 == 0].min()                    # level-1 cluster 0: one level-2 cluster
    l2 = np.unique(l2, return_inverse=True)[1]
    rng = np.random.default_rng(0)
    seen = SeenItems(rng.integers(0, 30, 600), rng.integers(0, len(l1), 600), len(l1))
    s = MSACSampler(l1, l2, cl.centroids1, m_c=2, m_o=3, seen=seen, **kw)
    pos = torch.arange(len(l1)).repeat(5)
    neg = s.sample(torch.arange(len(pos)) % 30, pos, torch.Generator().manual_seed(1))
    assert torch.equal(neg.log_q, s.log_q(pos, neg.ids))
    assert torch.equal(neg.hard, torch.from_numpy(l1)[neg.ids] == torch.from_numpy(l1)[pos, None])
    one = torch.from_numpy(l1)[pos] == 0               # no hard pool there but its own l2
    assert neg.hard[one].any() == (kw.get("exclude_own_l2") is False)


def test_msac_log_q_of_a_shared_pool_row_equals_the_per_row_lookup():
    s, cl = _sampler()
    g = torch.Generator().manual_seed(3)
    pos = torch.randint(len(cl.l1), (40,), generator=g)
    pool = torch.randint(len(cl.l1), (25,), generator=g).expand(40, -1)   # as train.pool shares
    got = s.log_q(pos, pool)
    assert torch.equal(got, s.log_q(pos, pool.contiguous()))
    own = torch.from_numpy(cl.l2)[pool] == torch.from_numpy(cl.l2)[pos].unsqueeze(1)
    assert own.any() and torch.isinf(got[own]).all() and torch.isfinite(got[~own]).all()


def test_msac_skips_the_users_train_items():
    s0, cl = _sampler()
    n = len(cl.l1)
    # user 0 has seen every item of level-1 cluster 0 except level-2 cluster 0's
    c0 = np.flatnonzero((cl.l1 == 0) & (cl.l2 != cl.l2[cl.l1 == 0].min()))
    seen = SeenItems(np.zeros(len(c0), int), c0, n)
    s, _ = _sampler(seen=seen)
    others = np.flatnonzero(cl.l1 == 1)
    pos = torch.from_numpy(others).repeat(50)
    neg = s.sample(torch.zeros_like(pos), pos, torch.Generator().manual_seed(1))
    assert not np.isin(neg.ids.numpy(), c0).any()


def test_uniform_redraws_seen_items():
    seen = SeenItems(np.zeros(9, int), np.arange(9), 10)   # user 0 saw 0..8
    neg = UniformSampler(10, 5, seen).sample(torch.zeros(200, dtype=torch.long),
                                             torch.zeros(200, dtype=torch.long),
                                             torch.Generator().manual_seed(0))
    # Only item 9 is unseen: a slot keeps a seen item if all 4 draws are seen (0.9^4)
    assert abs((neg.ids == 9).float().mean() - (1 - 0.9 ** 4)) < 0.05
    assert torch.equal(neg.seen, neg.ids != 9)


def test_pick_unseen_draws_again_only_rows_with_a_seen_slot():
    seen = SeenItems(np.zeros(9, int), np.arange(9), 10)   # user 0 saw 0..8; user 1 nothing
    users = torch.tensor([0, 1]).repeat_interleave(2000)
    gen, draws = torch.Generator().manual_seed(0), []

    def draw(rows):
        draws.append((rows.clone(), torch.randint(10, (len(rows), 3), generator=gen)))
        return draws[-1][1].clone()

    ids, still = pick_unseen(draw, users, seen, tries=4)
    assert len(draws) == 2 and torch.equal(draws[0][0], torch.arange(4000))
    again = draws[1][0]                        # 3 redraws of each row with a seen slot
    assert bool((users[again] == 0).all()) and torch.equal(again[::3], again[1::3])
    assert torch.equal(still, seen.contains(users, ids))
    assert torch.equal(ids[still], draws[0][1][still])       # all 4 seen: the first draw
    u0, u1 = ids[:2000], ids[2000:]
    assert abs((u0 == 9).float().mean() - (1 - 0.9 ** 4)) < 0.03    # sd 0.006 over 6,000
    assert torch.equal(u1, draws[0][1][2000:])                       # user 1's first draw
    assert torch.bincount(u1.reshape(-1), minlength=10).min() > 450  # ~600 each


@given(st.integers(1, 40), st.integers(1, 9), st.lists(st.integers(1, 5), min_size=0,
                                                      max_size=3), st.integers(0, 2**31))
@settings(max_examples=60, deadline=None)
def test_take_equals_advanced_indexing(n, cols, shape, seed):
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(n, generator=g)
    idx = torch.randint(n, tuple(shape), generator=g)
    assert torch.equal(take(table, idx), table[idx])
    grid = torch.randn((n, cols), generator=g) > 0                      # bool, like SeenItems
    rows = torch.randint(n, (len(idx.view(-1)) or 1, 1), generator=g)
    c = torch.randint(cols, (rows.shape[0], 7), generator=g)
    assert torch.equal(take2(grid, rows, c), grid[rows, c])


def test_seen_items_dense_and_sorted_keys_agree():
    rng = np.random.default_rng(0)
    u, i = rng.integers(0, 30, 400), rng.integers(0, 50, 400)
    dense, keys = SeenItems(u, i, 50), SeenItems(u, i, 50, max_dense=0)
    assert dense.dense is not None and keys.dense is None
    users = torch.from_numpy(rng.integers(-1, 35, 64))                 # -1 and unknown users
    items = torch.from_numpy(rng.integers(0, 50, (64, 9)))
    got = dense.contains(users, items)
    pairs = set(zip(u.tolist(), i.tolist()))
    want = torch.tensor([[(a, b) in pairs for b in row] for a, row in
                         zip(users.tolist(), items.tolist())])
    assert torch.equal(got, want) and torch.equal(keys.contains(users, items), want)


@pytest.mark.parametrize("m,lam", [(5, 0.1), (4, -0.3), (6, 0.5)])
def test_edis_count_and_affine_hull(m, lam):
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(32, m, 16, generator=g)
    log_q = torch.randn(32, m, generator=g)
    virt, vq = edis.interpolate(emb, log_q, lam, g)
    assert virt.shape == (32, (m + 2) * (m - 1) // 2, 16)
    affine, convex = edis.mixing_weights(32, m, lam, torch.Generator().manual_seed(0))
    assert torch.allclose(affine.sum(-1), torch.ones(()), atol=1e-5)       # affine hull
    assert (convex >= 0).all() and torch.allclose(convex.sum(-1), torch.ones(()), atol=1e-5)
    sizes = (convex > 0).sum(-1)[0]
    expected = torch.cat([torch.full((k,), k) for k in range(2, m + 1)])
    assert torch.equal(sizes, expected)                                     # k-subsets
    w = torch.linalg.lstsq(emb.transpose(1, 2), virt.transpose(1, 2)).solution
    assert torch.allclose(w.sum(1), torch.ones(()), atol=1e-3)
    assert vq.shape == (32, (m + 2) * (m - 1) // 2)


@pytest.mark.parametrize("m", [4, edis.MAX_TABLE_M + 1])   # permutation table; compares
def test_edis_weights_are_dirichlet_over_uniform_random_k_subsets(m):
    """Each virtual negative of size k mixes a uniformly random k-subset of the m sources
    (every subset as often, every source in it with probability k/m) with Dirichlet(1)
    weights: mean 1/k and variance (k-1)/(k^2 (k+1)) a member."""
    from itertools import combinations
    from math import comb

    n = 6000
    w = edis.convex_weights(n, m, torch.Generator().manual_seed(0))
    sizes = torch.cat([torch.full((k,), k) for k in range(2, m + 1)])
    assert w.shape == (n, len(sizes), m)
    for k in (2, m // 2, m - 1):
        block = w[:, sizes == k]                                            # (n, k, m)
        member = (block > 0).reshape(-1, m)
        assert (member.sum(1) == k).all()
        # subset frequencies: a chi-square over the C(m, k) subsets, ~N(df, 2 df) if uniform
        code = (member.long() << torch.arange(m)).sum(1)
        counts = torch.bincount(code, minlength=2 ** m).double()
        codes = [sum(1 << j for j in c) for c in combinations(range(m), k)]
        assert counts.sum() == counts[codes].sum()                          # only k-subsets
        expect = len(code) / comb(m, k)
        chi2 = float(((counts[codes] - expect) ** 2 / expect).sum())
        df = comb(m, k) - 1
        assert chi2 < df + 5 * (2 * df) ** 0.5, (k, chi2, df)
        assert torch.allclose(member.double().mean(0), torch.full((m,), k / m, dtype=torch.float64),
                              atol=0.02)
        vals = block[block > 0].double()
        assert abs(float(vals.mean()) - 1 / k) < 0.005
        assert abs(float(vals.var()) / ((k - 1) / (k * k * (k + 1))) - 1) < 0.1


def test_edis_scores_equal_the_scored_virtual_vectors():
    """mix_scores mixes the sources' scores with the weights interpolate uses for their
    vectors (same generator state): the same virtual logits and log q, without the vectors."""
    g = torch.Generator().manual_seed(0)
    emb, user = torch.randn(64, 5, 16, generator=g), torch.randn(64, 16, generator=g)
    log_q = torch.randn(64, 5, generator=g)
    virt, vq = edis.interpolate(emb, log_q, 0.3, torch.Generator().manual_seed(7))
    src = torch.einsum("bd,bmd->bm", user, emb)
    vs, vq2 = edis.mix_scores(src, log_q, 0.3, torch.Generator().manual_seed(7))
    assert vs.shape == (64, 14)
    assert torch.allclose(vs, torch.einsum("bd,bvd->bv", user, virt), atol=1e-5)
    assert torch.equal(vq, vq2)


def test_edis_mixes_only_the_easy_draws_msac_declares():
    """MSAC declares its easy columns (Negatives.n_easy, kept last by select); EDIS mixes
    the last n of those and never a hard negative, however many sources are asked for."""
    x, _ = _blobs()
    cl = msac(x, 4, 2, 2, seed=0)
    s = MSACSampler(cl.l1, cl.l2, cl.centroids1, m_c=2, m_o=3)
    pos = torch.arange(len(x))
    neg = s.sample(pos, pos, torch.Generator().manual_seed(0))
    assert neg.n_easy == 3
    easy = neg.ids[:, -neg.n_easy:]
    assert (cl.l1[easy.numpy()] != cl.l1[pos.numpy(), None]).all()  # from other l1 clusters
    emb = torch.from_numpy(x)[neg.ids]
    for n, want in ((2, 2), (3, 3), (10, 3)):
        v, q = edis.sources(emb, neg.log_q, neg.n_easy, n)
        assert v.shape[1] == want
        assert torch.equal(v, emb[:, -want:]) and torch.equal(q, neg.log_q[:, -want:])
    v, _ = edis.sources(emb, neg.log_q, None, 10)           # no split declared: any columns
    assert v.shape[1] == emb.shape[1]


@given(st.integers(0, 2**31), st.integers(1, 30), st.integers(2, 12))
@settings(max_examples=60, deadline=None)
def test_seen_items_shared_row_matches_the_pairwise_lookup(seed, n_pool, batch):
    """The in-batch / mixed pools are one row expanded over the batch: the keys answer it from
    the users' own items. Same answer as row-by-row, with repeated ids, -1 and unknown users."""
    rng = np.random.default_rng(seed)
    n_items = int(rng.integers(5, 40))
    u, i = rng.integers(0, 15, 120), rng.integers(0, n_items, 120)
    seen = SeenItems(u, i, n_items, max_dense=0)
    users = torch.from_numpy(rng.integers(-1, 20, batch))
    row = torch.from_numpy(rng.integers(0, n_items, n_pool))                 # repeats likely
    got = seen.contains(users, row.expand(batch, -1))
    assert torch.equal(got, seen.contains(users, row.expand(batch, -1).contiguous()))
    pairs = set(zip(u.tolist(), i.tolist()))
    want = torch.tensor([[(a, b) in pairs for b in row.tolist()] for a in users.tolist()])
    assert torch.equal(got, want)


@given(st.integers(0, 2**31), st.sampled_from([0, 1, 2, 16]), st.sampled_from([7, 64, 1000]))
@settings(max_examples=40, deadline=None)
def test_seen_items_bit_filter_is_exact_whatever_its_false_positives(seed, bits, n_items):
    """The sorted keys sit behind a bit filter: at 1 bit a key most non-pairs pass it, and the
    answer must still be the exact pair set (-1 and unknown users included); 0: no filter."""
    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, 40, 300), rng.integers(0, n_items, 300)
    seen = SeenItems(u, i, n_items, max_dense=0, bits_per_key=bits)
    users = torch.from_numpy(rng.integers(-1, 45, 50))
    items = torch.from_numpy(rng.integers(0, n_items, (50, 11)))
    items[:, 0] = torch.from_numpy(rng.choice(i, 50))              # some true pairs
    pairs = set(zip(u.tolist(), i.tolist()))
    want = torch.tensor([[(a, b) in pairs for b in row] for a, row in
                         zip(users.tolist(), items.tolist())])
    assert torch.equal(seen.contains(users, items), want)


def test_seen_items_bit_filter_lets_few_non_pairs_through_on_a_power_of_two_catalogue():
    """16 bits a key: about 1/16 of non-pairs reach the exact lookup, also where users x items
    keys share their low bits (2^k items; a power-of-two modulus would map every user's item j
    to the same bits and pass any item someone has seen)."""
    rng = np.random.default_rng(0)
    n_items, n_users = 1 << 12, 3000
    u, i = rng.integers(0, n_users, 60_000), rng.integers(0, 512, 60_000)   # popular head
    seen = SeenItems(u, i, n_items, max_dense=0)
    qu = torch.from_numpy(rng.integers(0, n_users, 20_000))
    qi = torch.from_numpy(rng.integers(0, 512, (20_000, 1)))
    q = qu.unsqueeze(1) * n_items + qi
    h = q.remainder(seen.prime)
    passed = ((seen.bits[h >> 6] >> (h & 63)) & 1).bool()
    truth = seen.contains(qu, qi)
    false_pass = (passed & ~truth).sum().item() / (~truth).sum().item()
    assert passed[truth].all() and false_pass < 2 / 16
