"""Champion and candidates: the promotion gate, the registry, rollback and restore.

- The *candidate* is the workspace's latest bundle (``models/bundle``, written by the
  ``bundle`` stage). The *champion* is the bundle ``models/current`` points at; it is the only
  model ``esans recommend/similar/negatives`` serve by default.
- ``promote`` copies the candidate into ``models/registry/<id>/``, verifies the copy, and
  switches ``models/current`` to it with one atomic symlink rename. The gate in front of it
  re-scores the champion (and up to ``compare_last`` - 1 earlier champions) on the
  candidate's validation split with the same protocol, so the comparison is between models,
  not between splits, and a run of small drops cannot creep past the best recent model.
  A candidate whose model hash equals the champion's is not promoted again.
- ``rollback`` switches ``models/current`` back to an earlier bundle; ``prune`` keeps the
  last ``keep`` promoted bundles.
- With a DVC remote, a promoted bundle is also tracked by ``registry/<id>.dvc`` (commit it to
  git) and pushed; ``checkout`` brings it back into any clone with ``dvc pull``.

``models/registry.jsonl`` logs every promote, rollback and checkout with its lineage.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from esans import paths
from esans.bundle import Bundle, verify
from esans.errors import EsansError
from esans.lock import workspace_lock

LOG = Path("models/registry.jsonl")
LOCK = Path("models/.registry.lock")


@dataclass
class Decision:
    promote: bool
    reason: str
    metric: str
    candidate: float | None = None
    # every compared model, re-scored on the candidate's validation split:
    # {id, rescored, at_promotion}
    compared: list[dict] = field(default_factory=list)
    users: int = 0
    identical: bool = False          # the candidate is the champion's model: nothing to do
    model_id: str | None = None
    pushed_to: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


# --- registry state ---------------------------------------------------------------------

def current_id(root: Path) -> str | None:
    link = Path(root) / paths.CURRENT
    return Path(os.readlink(link)).name if link.is_symlink() else None


def events(root: Path) -> list[dict]:
    log = Path(root) / LOG
    if not log.exists():
        return []
    return [json.loads(x) for x in log.read_text().splitlines() if x.strip()]


def served_history(root: Path) -> list[str]:
    """Ids that were made current, oldest first (each once, at its latest switch)."""
    order: list[str] = []
    for e in events(root):
        if e.get("event") in ("promote", "rollback", "checkout"):
            if e["id"] in order:
                order.remove(e["id"])
            order.append(e["id"])
    return order


def listing(root: Path) -> list[dict]:
    """Bundles this registry has served, most recent first, with their validation metric."""
    root = Path(root)
    cur = current_id(root)
    promoted = {e["id"]: e for e in events(root) if e.get("event") == "promote"}
    rows = []
    for i in reversed(served_history(root)):
        e = promoted.get(i, {})
        here = (root / paths.REGISTRY / i).is_dir()
        rows.append({"id": i, "current": "*" if i == cur else "",
                     "promoted_at": e.get("at", "(checked out)"),
                     "valid recall@50": (e.get("valid") or {}).get("recall@50", ""),
                     "local": "yes" if here else "no (esans checkout)"})
    return rows


def champion(root: Path) -> Bundle | None:
    link = Path(root) / paths.CURRENT
    if not link.is_symlink():
        return None
    return Bundle(link)


def _log(root: Path, record: dict) -> None:
    log = Path(root) / LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh:
        fh.write(json.dumps(record, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _switch(root: Path, model_id: str) -> None:
    """Point models/current at registry/<id>: a new symlink renamed over the old one."""
    link = Path(root) / paths.CURRENT
    tmp = link.with_name(".current.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(Path(paths.REGISTRY.name) / model_id, tmp)
    os.replace(tmp, link)  # readers see the old or the new bundle, never neither


# --- the gate -----------------------------------------------------------------------------

def gate(root: Path, candidate: Bundle, metric: str, max_drop: float,
         compare_last: int, max_users: int = 0) -> Decision:
    """Should ``candidate`` replace the champion? Scores the candidate and the last
    ``compare_last`` served bundles on the candidate's validation split (users every compared
    model knows; a fixed sample of ``max_users`` of them when set, as ``evaluate.users`` does
    for evaluation), and promotes unless the candidate is more than ``max_drop`` below the
    best.
    """
    root = Path(root)
    champ = champion(root)
    if champ is None:
        return Decision(True, "no champion yet: promoting the first model", metric,
                        candidate=_stored(candidate.metrics, metric))
    if champ.model_hash == candidate.model_hash:
        return Decision(False, f"identical to the champion {current_id(root)} (same model "
                               "hash): nothing to promote", metric,
                        candidate=_stored(candidate.metrics, metric), identical=True)
    ids = [i for i in reversed(served_history(root))
           if (root / paths.REGISTRY / i).is_dir()][:compare_last]
    cur = current_id(root)
    if cur not in ids:
        ids = [cur, *ids][:max(1, compare_last)]
    # the champion is already loaded and verified: hashing it again would double the cost
    others = [(i, champ if i == cur else Bundle(root / paths.REGISTRY / i)) for i in ids]
    held, seen = candidate.table("valid"), candidate.table("train")
    valid_users = set(held["user_id"].unique().to_list())
    known = {i: valid_users & set(b.users["user_id"].to_list()) for i, b in others}
    n_champ = len(known[cur])
    if n_champ == 0:
        return Decision(True, f"the champion {cur} knows none of the candidate's "
                              f"{len(valid_users)} validation users (another user base): "
                              "promoting without comparison", metric,
                        candidate=_stored(candidate.metrics, metric))
    # an earlier champion trained on another user base is left out rather than shrinking
    # the comparison to the few users every model knows
    left_out = [i for i in ids if i != cur and len(known[i]) < n_champ / 2]
    others = [(i, b) for i, b in others if i not in left_out]
    users = set.intersection(*(known[i] for i, _ in others))
    users_l = sorted(users)
    sampled = 0 < max_users < len(users_l)
    if sampled:           # the same users for every model compared: one seeded sample
        users_l = sorted(np.random.default_rng(0).choice(users_l, max_users,
                                                        replace=False).tolist())
    k = int(metric.split("@")[1])
    cand = candidate.score(held, seen, users_l, [k])[metric]
    stored = {e["id"]: e.get("valid", {}).get(metric) for e in events(root)
              if e.get("event") == "promote"}
    compared = [{"id": i, "rescored": round(b.score(held, seen, users_l, [k])[metric], 6),
                 "at_promotion": stored.get(i), "champion": i == cur} for i, b in others]
    best = max(compared, key=lambda c: c["rescored"])
    what = "the champion" if best["champion"] else f"earlier champion {best['id']}"
    d = Decision(cand >= best["rescored"] - max_drop, "", metric, round(cand, 6), compared,
                 len(users_l))
    among = (f"a fixed sample of {len(users_l)} of the {len(users)} of its "
             f"{len(valid_users)} users every compared model knows (evaluate.users)"
             if sampled else f"{len(users_l)} of its {len(valid_users)} users, those every "
                             "compared model knows")
    d.reason = (f"valid {metric} {cand:.4f} vs {what} {best['rescored']:.4f}, both on this "
                f"validation split ({among}; allowed drop {max_drop})")
    if left_out:
        d.reason += ("; left out, trained on another user base: " + ", ".join(
            f"{i} (knows {len(known[i])} of them)" for i in left_out))
    if not d.promote:
        d.reason = "below the best recent model: " + d.reason
    return d


def _stored(metrics: dict, metric: str) -> float | None:
    v = metrics.get("valid", {}).get(metric)
    return None if v is None else float(v)


# --- promote / rollback / prune / checkout -------------------------------------------------

def promote(root: Path, *, metric: str = "recall@50", max_drop: float = 0.01,
            compare_last: int = 3, keep: int = 5, force: bool = False,
            note: str = "", max_users: int = 0) -> Decision:
    """Gate the workspace's bundle and, if it passes (or ``force``), make it the champion."""
    root = Path(root)
    with workspace_lock(root / LOCK, wait_s=60, what="registry change"):
        candidate = Bundle(root / paths.BUNDLE)
        try:
            d = gate(root, candidate, metric, max_drop, compare_last, max_users)
        except EsansError as exc:    # e.g. a corrupted champion: it cannot be compared
            if not force:
                raise EsansError(f"cannot compare with the served models: {exc} "
                                 "(`esans promote --force` promotes without comparing)") \
                    from None
            d = Decision(False, f"not compared ({exc})", metric)
        if force and not d.promote and not d.identical:
            d.promote, d.reason = True, "forced: " + d.reason
        if not d.promote:
            return d
        model_id = time.strftime("%Y%m%dT%H%M%S") + "-" + candidate.model_hash[:8]
        dest = root / paths.REGISTRY / model_id
        tmp = dest.with_name(f".{model_id}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(candidate.path, tmp)
        verify(tmp)                       # the copy is complete and intact before it serves
        os.replace(tmp, dest)
        _switch(root, model_id)
        d.model_id = model_id
        _log(root, {"event": "promote", "id": model_id, "at": _now(),
                    "reason": d.reason, "note": note, "model_hash": candidate.model_hash,
                    "valid": candidate.metrics.get("valid"),
                    "test": candidate.metrics.get("test"),
                    "git": candidate.manifest.get("git"), "gate": d.as_dict()})
        d.pushed_to = push(root, model_id)
        prune(root, keep)
    return d


def rollback(root: Path, model_id: str | None = None) -> str:
    """Serve ``model_id`` (default: the bundle served before the current one) again."""
    root = Path(root)
    with workspace_lock(root / LOCK, wait_s=60, what="registry change"):
        cur = current_id(root)
        if model_id is None:
            earlier = [i for i in served_history(root) if i != cur
                       and (root / paths.REGISTRY / i).is_dir()]
            if not earlier:
                raise EsansError("no earlier model in the registry to roll back to",
                                 path=root / paths.REGISTRY, rule="rollback")
            model_id = earlier[-1]
        folder = root / paths.REGISTRY / model_id
        if not folder.is_dir():
            hint = " (run `esans checkout` to fetch it from the DVC remote)" \
                if (root / paths.POINTERS / f"{model_id}.dvc").exists() else ""
            raise EsansError(f"no model {model_id!r} in the registry{hint}",
                             path=root / paths.REGISTRY, rule="rollback")
        verify(folder)
        _switch(root, model_id)
        _log(root, {"event": "rollback", "id": model_id, "at": _now(), "from": cur})
    return model_id


def prune(root: Path, keep: int) -> list[str]:
    """Delete registry bundles beyond the ``keep`` most recently served (never the current)."""
    root = Path(root)
    cur = current_id(root)
    keep_ids = set(list(reversed(served_history(root)))[:keep]) | {cur}
    removed = []
    reg = root / paths.REGISTRY
    for d in sorted(reg.iterdir()) if reg.is_dir() else []:
        if d.is_dir() and not d.name.startswith(".") and d.name not in keep_ids:
            shutil.rmtree(d)
            removed.append(d.name)
    return removed


def dvc_executable() -> str:
    """The ``dvc`` beside this interpreter (the project's venv), else the one on PATH."""
    exe = Path(sys.executable).with_name("dvc")
    return str(exe) if exe.exists() else (shutil.which("dvc") or "dvc")


def _dvc_run(root: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([dvc_executable(), *args], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise EsansError(f"`dvc {' '.join(args)}` failed: {msg[-1] if msg else proc.returncode}",
                         rule="dvc")
    return proc


def default_remote(root: Path) -> str | None:
    if not (Path(root) / ".dvc").is_dir():
        return None
    proc = subprocess.run([dvc_executable(), "remote", "default"], cwd=root, capture_output=True,
                          text=True)
    name = proc.stdout.strip()
    return name if proc.returncode == 0 and name else None


def push(root: Path, model_id: str) -> str | None:
    """Track ``models/registry/<id>`` with ``registry/<id>.dvc`` and push it (with the
    pipeline's outputs) to the default DVC remote; None (and nothing written) when no remote
    is configured."""
    remote = default_remote(root)
    if remote is None:
        return None
    pointer = Path(root) / paths.POINTERS / f"{model_id}.dvc"
    pointer.parent.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(Path(root) / paths.REGISTRY / model_id, pointer.parent)
    pointer.write_text(f"# esans model bundle {model_id}: `esans checkout {model_id}`\n"
                       f"outs:\n- path: {rel}\n")
    _dvc_run(root, "commit", "--force", "--quiet", str(pointer.relative_to(root)))
    # the bundle, and the pipeline outputs its dvc.lock names (to reproduce or inspect them)
    targets = ["dvc.yaml"] if (Path(root) / "dvc.yaml").exists() else []
    _dvc_run(root, "push", "--quiet", *targets, str(pointer.relative_to(root)))
    return remote


def checkout(root: Path, model_id: str) -> str:
    """Bring bundle ``model_id`` back from the DVC remote (via ``registry/<id>.dvc``), verify
    it, and serve it."""
    root = Path(root)
    pointer = root / paths.POINTERS / f"{model_id}.dvc"
    if not (root / paths.REGISTRY / model_id).is_dir():
        if not pointer.exists():
            raise EsansError(f"no model {model_id!r} here and no {pointer.name} to fetch it "
                             "with (is the commit that promoted it checked out?)",
                             path=pointer, rule="checkout")
        _dvc_run(root, "pull", "--quiet", str(pointer.relative_to(root)))
    with workspace_lock(root / LOCK, wait_s=60, what="registry change"):
        verify(root / paths.REGISTRY / model_id)
        prev = current_id(root)
        _switch(root, model_id)
        _log(root, {"event": "checkout", "id": model_id, "at": _now(), "from": prev})
    return model_id


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
