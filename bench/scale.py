"""The scale path: 1M items, 10M interactions, on this machine (2 cores).

    python bench/scale.py                       # full size (about 20-30 min on 2 cores)
    python bench/scale.py --items 20000 --users 4000 --events 200000   # a quick check

generate (streamed parquet parts, items carry their own vectors) -> load + temporal split ->
MSAC (faiss k-means on a sample, batched assignment) -> training speed, uniform vs ESANS
(alternating steps on the same batches) -> one ESANS epoch -> exact and IVF indexes (IVF
recall@200 vs exact, latency per query) -> evaluation on a user sample (exact top-200, seen
items masked). Wall time and peak RSS per stage go to bench/results/scale.json.
Peak RSS per stage is sampled with psutil every 20 ms.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]


class RSS:
    """Peak resident set size between reset() and peak(), sampled with psutil every ``every``
    seconds: of this process, or of process ``pid`` (with ``tree``, summed over it and its
    descendants, e.g. ``dvc`` and the stage it runs). A process that is gone counts 0."""

    def __init__(self, pid: int | None = None, tree: bool = False, every: float = 0.02) -> None:
        self._proc, self._tree, self._every = psutil.Process(pid), tree, every
        self._max = 0
        threading.Thread(target=self._run, daemon=True).start()

    def now(self) -> int:
        try:
            procs = [self._proc, *self._proc.children(recursive=True)] if self._tree else \
                [self._proc]
        except psutil.Error:
            return 0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:   # exited between the listing and the reading
                pass
        return total

    def _run(self) -> None:
        while True:
            self._max = max(self._max, self.now())
            time.sleep(self._every)

    def reset(self) -> None:
        self._max = self.now()

    def peak(self) -> int:
        return max(self._max, self.now())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--work", type=Path, default=ROOT / "bench/.work/scale")
    ap.add_argument("--rate-steps", type=int, default=150)
    ap.add_argument("--valid-users", type=int, default=2000)
    ap.add_argument("--eval-users", type=int, default=10_000)
    ap.add_argument("--ann-queries", type=int, default=1000)
    ap.add_argument("--n-l1", type=int, default=1000)
    ap.add_argument("--n-l2", type=int, default=8)
    ap.add_argument("--nlist", type=int, default=4096)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/scale.json")
    a = ap.parse_args()

    import faiss
    import polars as pl
    import torch
    from timing import alternating_step_times

    from esans import ann
    from esans.cluster.msac import msac
    from esans.config import load_params
    from esans.data.history import Histories
    from esans.data.split import temporal_split
    from esans.data.synthetic_scale import ScaleParams, generate, read_item_vectors
    from esans.rank import score, topk, user_vectors
    from esans.trainer import TrainData, fit

    base = load_params(ROOT / "params.yaml")
    tp = base.train
    torch.set_num_threads(tp.threads)
    faiss.omp_set_num_threads(tp.threads)
    rss, stages, t_all = RSS(), {}, time.perf_counter()

    @contextmanager
    def stage(name: str):
        rss.reset()
        t0 = time.perf_counter()
        row: dict = {}
        yield row
        row.update(seconds=round(time.perf_counter() - t0, 1),
                   peak_rss_gb=round(rss.peak() / 2**30, 2))
        stages[name] = row
        print(f"{name}: {json.dumps(row)}", flush=True)

    rng = np.random.default_rng(0)
    sp = ScaleParams(n_items=a.items, n_users=a.users, n_events=a.events)
    data_dir = a.work / "data"
    with stage("generate") as row:
        row.update(generate(sp, data_dir, seed=base.seed))
        row.pop("params")

    with stage("load_split") as row:
        ids, vecs = read_item_vectors(data_dir / "items")
        inter = (pl.scan_parquet(data_dir / "interactions/*.parquet")
                 .with_row_index("seq").with_columns(pl.col("seq").cast(pl.Int64)).collect())
        split = temporal_split(inter, pl.DataFrame({"item_id": ids}), base.split.valid_frac,
                               base.split.test_frac)
        del inter
        tr = split.train
        n_users, n_items = split.users.height, len(ids)

        def arr(df, col):
            return df[col].to_numpy().astype(np.int64)

        train_u, train_i, train_p = arr(tr, "user_idx"), arr(tr, "item_idx"), arr(tr, "pos")
        valid_u, valid_i = arr(split.valid, "user_idx"), arr(split.valid, "item_idx")
        valid_p = arr(split.valid, "pos")
        test_u, test_i = arr(split.test, "user_idx"), arr(split.test, "item_idx")
        del split, tr
        row.update(train=len(train_u), valid=len(valid_u), test=len(test_u), users=n_users)

    with stage("cluster") as row:
        cl = msac(vecs, a.n_l1, a.n_l2, base.cluster.min_cluster_size, niter=20,
                  seed=base.seed)
        s1, s2 = np.bincount(cl.l1), np.bincount(cl.l2)
        row.update(n_l1=len(s1), n_l2=len(s2), l1_size_min=int(s1.min()),
                   l2_size_min=int(s2.min()), l2_size_median=float(np.median(s2)))

    # early stopping / model selection on a sample of validation users (full catalogue each)
    vsample = rng.choice(np.unique(valid_u), min(a.valid_users, len(np.unique(valid_u))),
                         replace=False)
    vmask = np.isin(valid_u, vsample)
    data = TrainData(n_users, n_items, train_u, train_i, train_p, valid_u[vmask],
                     valid_i[vmask], vecs, cl.l1, cl.l2, cl.centroids1)
    esans_p = tp.model_copy(update={"sampler": "esans", "epochs": 1})
    uniform_p = tp.model_copy(update={"sampler": "uniform", "edis": False,
                                      "n_negatives": tp.m_c + tp.m_o, "epochs": 1})

    with stage("train_rate") as row:
        timed = alternating_step_times({"uniform": uniform_p, "esans": esans_p}, data,
                                       a.rate_steps, warmup=5, sparse_ids=True)
        times = {n: t["step_s"] for n, t in timed.items()}
        eps = {n: tp.batch_size / float(np.median(t)) for n, t in times.items()}
        row.update(batch_size=tp.batch_size, steps=a.rate_steps,
                   events_per_s={n: round(v) for n, v in eps.items()},
                   ratio_esans_to_uniform=round(eps["esans"] / eps["uniform"], 3))

    with stage("train_epoch") as row:
        res = fit(esans_p, data, seed=base.seed, log=lambda s: print(s, flush=True),
                    progress=False)
        model = res.model
        row.update(sampler="esans", epochs=1, events=len(train_u),
                   events_per_s=round(len(train_u) / res.history[0]["seconds"]),
                   mean_step_ms=round(res.mean_step_s * 1000, 1),
                   valid_recall50_sample=round(res.best_valid_recall50, 4),
                   loss=round(res.history[0]["loss"], 4))

    with stage("index") as row:
        with torch.inference_mode():
            item_vecs = model.all_items()
        iv = item_vecs.numpy().astype(np.float32)
        flat = faiss.IndexFlatIP(iv.shape[1])
        flat.add(iv)
        t0 = time.perf_counter()
        ivf = ann.build_ivf(iv, a.nlist, nprobe=32, seed=base.seed, max_train=64)
        row["ivf_build_s"] = round(time.perf_counter() - t0, 1)
        all_seen = np.concatenate([train_u, valid_u])            # seen at test time
        order = np.lexsort((np.concatenate([train_p, valid_p]), all_seen))
        seen_hist = Histories(all_seen[order], np.concatenate([train_i, valid_i])[order],
                              n_users)
        qusers = rng.choice(np.unique(test_u), min(a.ann_queries, len(np.unique(test_u))),
                            replace=False)
        q = user_vectors(model, qusers, seen_hist, tp.history_len, item_vecs).numpy()
        _, exact = flat.search(q, 200)
        row["exact_latency"] = ann.latency_ms(flat, q[:200], 200)
        row["ivf"] = {"nlist": a.nlist}
        for nprobe in (8, 32, 128):
            ivf.nprobe = nprobe
            _, approx = ivf.search(q, 200)
            row["ivf"][f"nprobe={nprobe}"] = {
                "recall@200_vs_exact": round(ann.recall_vs_exact(approx, exact), 4),
                **{k: round(v, 3) for k, v in ann.latency_ms(ivf, q[:200], 200).items()}}

    with stage("evaluate") as row:
        eusers = np.sort(rng.choice(np.unique(test_u), min(a.eval_users,
                                                            len(np.unique(test_u))),
                                    replace=False))
        uv = user_vectors(model, eusers, seen_hist, tp.history_len, item_vecs).numpy()
        top = topk(uv, eusers, seen_hist, 200, index=flat)
        m = score(top, eusers, test_u, test_i, [20, 50, 100, 200])
        row.update(users=len(eusers), **{k: round(v, 4) for k, v in m.items()
                                         if isinstance(v, float)})

    total = round(time.perf_counter() - t_all, 1)
    peak = round(max(s["peak_rss_gb"] for s in stages.values()), 2)
    ratio = stages["train_rate"]["ratio_esans_to_uniform"]
    result = {
        "machine": {"cores": __import__("os").cpu_count(), "python": platform.python_version(),
                    "torch": torch.__version__, "faiss": faiss.__version__},
        "size": {"items": a.items, "users": a.users, "events_target": a.events},
        "stages": stages, "total_s": total, "peak_rss_gb": peak,
        "ru_maxrss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "goals": {"total_le_30min": total <= 1800, "peak_rss_le_12gb": peak <= 12,
                  "esans_events_per_s_ge_0.85x_uniform": ratio >= 0.85},
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
