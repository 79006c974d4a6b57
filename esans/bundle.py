"""A model bundle: everything a query needs, in one verified folder.

The ``bundle`` stage assembles it from the workspace's outputs (model weights, the item and
user id mappings, every interaction for masking seen items, the faiss index and item vectors,
the MSAC clusters, metrics, params and the ``dvc.lock`` and git revision it came from) and
publishes it with one atomic rename. ``manifest.json`` lists each file's SHA-256; loading a
bundle checks them all, so a missing or changed file is an error naming it, never a guess.

Serving (``esans.query``) and the registry (``esans.registry``) only ever read bundles: a
failed or killed ``dvc repro`` can leave new data beside an old model in the workspace, but
never inside a bundle.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import polars as pl

from esans import paths
from esans.errors import EsansError

FORMAT = 1
MANIFEST = "manifest.json"
# Files whose bytes define the model's answers: two bundles with the same hash over these
# serve identical results (provenance files such as dvc.lock or metrics do not count).
MODEL_FILES = ("model.pt", "meta.json", "items.parquet", "users.parquet",
               "interactions.parquet", "item_vectors.npy", "items.faiss", "serving.faiss",
               "assignments.parquet", "centroids1.npy")
SPLITS = ("train", "valid", "test")


# How to use a bundle, written into its manifest (as an MLflow model directory says its flavor)
LOAD = {"python": "from esans.query import Server; from esans.bundle import Bundle; "
                  "Server(Bundle('<folder>')).recommend('<user_id>', k=10)",
        "cli": "esans recommend --user <user_id> (serves models/current)",
        "reads": f"esans with bundle format {FORMAT}"}


def built_with() -> dict[str, str | None]:
    """The versions of what built the bundle (python and the libraries its files need)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {"python": platform.python_version(), "esans": v("esans"), "torch": v("torch"),
            "faiss": v("faiss-cpu"), "numpy": v("numpy"), "polars": v("polars")}


def sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _git(root: Path) -> dict:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty) if dirty is not None else None}


def assemble(root: Path, out: Path) -> dict:
    """Write a bundle of the workspace at ``root`` into the (empty) folder ``out``.

    Checks that the parts agree (model, id mappings and index cover the same items and users)
    before anything is written, and returns the manifest."""
    import shutil

    root = Path(root)

    def need(rel: Path) -> Path:
        if not (root / rel).exists():
            raise EsansError("file not found (run `dvc repro` first)", path=rel)
        return root / rel

    meta = json.loads(need(paths.MODELS / "meta.json").read_text())
    split = {s: pl.read_parquet(need(paths.SPLIT / f"{s}.parquet")) for s in SPLITS}
    items = pl.read_parquet(need(paths.SPLIT / "items.parquet"))
    users = pl.read_parquet(need(paths.SPLIT / "users.parquet"))
    vectors = np.load(need(paths.INDEX / "item_vectors.npy"), mmap_mode="r")
    assign = pl.read_parquet(need(paths.CLUSTER / "assignments.parquet"))
    for what, n, expected in (("items in data/split/items.parquet", items.height, "n_items"),
                              ("rows of data/index/item_vectors.npy", vectors.shape[0], "n_items"),
                              ("rows of data/cluster/assignments.parquet", assign.height,
                               "n_items"),
                              ("users in data/split/users.parquet", users.height, "n_users")):
        if n != meta[expected]:
            raise EsansError(f"{what}: {n}, but the model was trained with {expected}="
                             f"{meta[expected]}; the workspace mixes outputs of different runs "
                             "(run `dvc repro`)", path=paths.MODELS / "meta.json",
                             rule="bundle-consistency")
    titles = pl.read_parquet(need(paths.INGEST_ITEMS)).select("item_id", "title", "image_path")
    items.join(titles, on="item_id", how="left").sort("item_idx").write_parquet(
        out / "items.parquet")
    users.sort("user_idx").write_parquet(out / "users.parquet")
    pl.concat([split[s].select("user_idx", "item_idx", "pos").with_columns(
        split=pl.lit(s)) for s in SPLITS]).sort(["user_idx", "pos"]).write_parquet(
        out / "interactions.parquet")
    for src, name in ((paths.MODELS / "model.pt", "model.pt"),
                      (paths.MODELS / "meta.json", "meta.json"),
                      (paths.INDEX / "item_vectors.npy", "item_vectors.npy"),
                      (paths.INDEX / "items.faiss", "items.faiss"),
                      (paths.INDEX / "serving.faiss", "serving.faiss"),
                      (paths.CLUSTER / "assignments.parquet", "assignments.parquet"),
                      (paths.CLUSTER / "centroids1.npy", "centroids1.npy"),
                      (paths.METRICS, "metrics.json"),
                      (Path("params.yaml"), "params.yaml"),
                      (Path("dvc.lock"), "dvc.lock")):
        if (root / src).exists():
            shutil.copyfile(root / src, out / name)
        elif name not in ("serving.faiss", "dvc.lock"):
            need(src)
    return write_manifest(out, {"git": _git(root), "meta": meta, "built_with": built_with(),
                                "load": LOAD})


def write_manifest(folder: Path, extra: dict | None = None) -> dict:
    files = {f.name: {"sha256": sha256(f), "bytes": f.stat().st_size}
             for f in sorted(Path(folder).iterdir()) if f.is_file() and f.name != MANIFEST}
    model_hash = hashlib.sha256(json.dumps(
        {k: v["sha256"] for k, v in files.items() if k in MODEL_FILES},
        sort_keys=True).encode()).hexdigest()
    manifest = {"format": FORMAT, "model_hash": model_hash, "files": files, **(extra or {})}
    (Path(folder) / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def verify(folder: Path) -> dict:
    """The bundle's manifest, after checking every file it lists (present, same size and
    SHA-256); raises ``EsansError`` naming the first part that is wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EsansError("no model bundle here", path=folder, rule="bundle")
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise EsansError("not a model bundle: manifest.json missing or unreadable",
                         path=folder / MANIFEST, rule="bundle") from None
    if manifest.get("format") != FORMAT:
        made = (manifest.get("built_with") or {}).get("esans")
        raise EsansError(f"bundle format {manifest.get('format')!r}"
                         f"{f' (built by esans {made})' if made else ''}; this esans "
                         f"({built_with()['esans']}) reads format {FORMAT}: serve it with the "
                         "esans that built it, or rebuild it (dvc repro)",
                         path=folder / MANIFEST, rule="bundle")
    for name, want in files.items():
        f = folder / name
        if not f.is_file():
            raise EsansError("part of the model bundle is missing", path=f, rule="bundle")
        if f.stat().st_size != want["bytes"] or sha256(f) != want["sha256"]:
            raise EsansError("content does not match the bundle's manifest (corrupted or "
                             "edited); refusing to serve it", path=f, rule="bundle")
    return manifest


@dataclass
class Bundle:
    """A verified bundle, loaded lazily part by part."""

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.manifest = verify(self.path)

    @property
    def model_hash(self) -> str:
        return self.manifest["model_hash"]

    @cached_property
    def meta(self) -> dict:
        return json.loads((self.path / "meta.json").read_text())

    @cached_property
    def metrics(self) -> dict:
        return json.loads((self.path / "metrics.json").read_text())

    @cached_property
    def items(self) -> pl.DataFrame:
        return pl.read_parquet(self.path / "items.parquet")

    @cached_property
    def users(self) -> pl.DataFrame:
        return pl.read_parquet(self.path / "users.parquet")

    @cached_property
    def interactions(self) -> pl.DataFrame:
        return pl.read_parquet(self.path / "interactions.parquet")

    @cached_property
    def by_user(self) -> pl.DataFrame:
        """Every interaction sorted by (user, position): one user's rows are a slice."""
        return self.interactions.sort(["user_idx", "pos"])

    @cached_property
    def item_vectors(self) -> np.ndarray:
        return np.load(self.path / "item_vectors.npy", allow_pickle=False)

    @cached_property
    def index(self):
        import faiss

        f = self.path / "serving.faiss"         # the IVF one, when index.serving: ivf
        return faiss.read_index(str(f if f.exists() else self.path / "items.faiss"))

    @cached_property
    def model(self):
        from esans.model.towers import load

        return load(self.path)[0]

    def clusters(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = pl.read_parquet(self.path / "assignments.parquet")
        return (a["l1"].to_numpy(), a["l2"].to_numpy(),
                np.load(self.path / "centroids1.npy", allow_pickle=False))

    def table(self, *splits: str) -> pl.DataFrame:
        """(user_id, item_id, user_idx, item_idx, pos) of the named splits, by user and time."""
        inter = self.interactions.filter(pl.col("split").is_in(list(splits)))
        return (inter.join(self.users, on="user_idx").join(
            self.items.select("item_idx", "item_id"), on="item_idx")
            .sort(["user_idx", "pos"]))

    def score(self, held: pl.DataFrame, seen: pl.DataFrame, user_ids: list[str],
              ks: list[int]) -> dict[str, float]:
        """Recall@K / NDCG@K of this bundle's model for ``user_ids`` against ``held``
        (user_id, item_id) pairs, ranking its whole catalogue from the users' ``seen``
        (user_id, item_id, pos) histories with seen items masked.

        The tables may come from another bundle's split: ids are mapped to this bundle's
        indices; history items it does not know are dropped, held-out items it does not
        know stay in the denominator (a miss: this model cannot recommend them)."""
        from esans.data.history import Histories
        from esans.rank import evaluate

        uidx = dict(zip(self.users["user_id"].to_list(), self.users["user_idx"].to_list()))
        iidx = dict(zip(self.items["item_id"].to_list(), self.items["item_idx"].to_list()))
        missing = [u for u in user_ids if u not in uidx]
        if missing:
            raise EsansError(f"{len(missing)} users unknown to this model, e.g. "
                             f"{missing[0]!r}", path=self.path, rule="score")
        users = np.array(sorted(uidx[u] for u in user_ids), np.int64)
        s = (seen.select("user_id", "item_id", "pos")
             .with_columns(u=pl.col("user_id").replace_strict(uidx, default=None),
                           i=pl.col("item_id").replace_strict(iidx, default=None))
             .drop_nulls(["u", "i"]).sort(["u", "pos"]))
        hist = Histories(s["u"].to_numpy().astype(np.int64), s["i"].to_numpy().astype(np.int64),
                         self.users.height)
        import torch

        h = held.select("user_id", "item_id").filter(pl.col("user_id").is_in(list(uidx)))
        m, _ = evaluate(self.model, users, hist, self.meta["history_len"],
                        np.array([uidx[u] for u in h["user_id"].to_list()], np.int64),
                        np.array([iidx.get(i, -2) for i in h["item_id"].to_list()], np.int64),
                        ks, item_vecs=torch.from_numpy(self.item_vectors))
        return m
