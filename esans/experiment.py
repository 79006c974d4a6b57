"""One training trial on a prepared project, in process: what studies and benches call.

A trial reads what the pipeline's own stages published in the project at ``root`` (the
split, the fused item vectors, the MSAC clusters), trains with ``train`` params overridden,
and scores valid and test with the evaluate stage's protocol (``esans.rank.evaluate_splits``:
full catalogue, seen items masked). It writes nothing: a study records what it returns.
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from esans import paths
from esans.config import Params, load_params
from esans.io import read_parquet


def trial_params(root: str | Path, train: dict, seed: int) -> Params:
    """The project's params with ``train`` keys overridden and ``seed`` set, validated as
    params.yaml would be (a contradictory override is an error)."""
    base = load_params(Path(root) / "params.yaml").model_dump(by_alias=True)
    base["train"] = {**base["train"], **train}
    base["seed"] = seed
    return Params.model_validate(base)


def trial(root: str | Path, train: dict, seed: int, ks: list[int] | None = None) -> dict:
    """Train ``train`` overrides with ``seed`` on the project at ``root``; return valid and
    test metrics, the best epoch, the epochs run and the cap, and the seconds it took."""
    from esans.trainer import fit
    from esans.train_data import load_train_data
    from esans.rank import evaluate_splits
    from esans.sampling.base import SeenItems

    root = Path(root)
    p = trial_params(root, train, seed)
    t0 = time.perf_counter()
    data = load_train_data(root, p)
    split = {n: read_parquet(root / paths.SPLIT / f"{n}.parquet")
             for n in ("train", "valid", "test")}
    held = pl.concat([split["valid"], split["test"]])
    # diagnostics only: how often a drawn negative is one of the user's held-out items
    heldout = SeenItems(held["user_idx"].to_numpy(), held["item_idx"].to_numpy(), data.n_items)
    res = fit(p.train, data, seed, log=lambda s: None, heldout=heldout)
    train_s = time.perf_counter() - t0
    res.model.eval()
    metrics, _ = evaluate_splits(res.model, split, data.n_users, p.train.history_len,
                                 ks or list(p.evaluate.ks), users=p.evaluate.users, seed=seed)
    return {"valid": metrics["valid"], "test": metrics["test"], "best_epoch": res.best_epoch,
            "epochs_run": len(res.history), "epoch_cap": p.train.epochs,
            "at_cap": res.best_epoch == p.train.epochs, "train_seconds": round(train_s, 1),
            "mean_step_ms": round(1000 * res.mean_step_s, 2),
            "false_negative_rate": {"all": res.false_negative_rate,
                                    "hard": res.false_negative_rate_hard,
                                    "easy": res.false_negative_rate_easy}}
