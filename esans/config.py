"""One typed config model that mirrors ``params.yaml``. Unknown keys are errors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from esans.errors import EsansError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticParams(_Strict):
    n_items: int = Field(2000, ge=20)
    n_users: int = Field(1000, ge=10)
    n_events: int = Field(60000, ge=100)
    n_topics: int = Field(20, ge=2, le=40)
    image_size: int = Field(64, ge=16, le=512)
    popularity_alpha: float = Field(0.9, ge=0.0)
    text_noise: float = Field(0.35, ge=0.0, le=1.0)
    drift: float = Field(0.5, ge=0.0, le=1.0)


class ScaleSourceParams(_Strict):
    """A synthetic catalogue at any size, items with their own vectors and no text or images
    (esans/data/synthetic_scale.py, docs/synthetic.md): what the scale benchmarks run on."""
    n_items: int = Field(20_000, ge=100)
    n_users: int = Field(10_000, ge=10)
    n_events: int = Field(200_000, ge=1000)
    items_per_group: int = Field(2000, ge=10)     # semantic groups = n_items / this
    topics_per_group: int = Field(10, ge=1)
    dim: int = Field(64, ge=2)
    noise: float = Field(0.5, ge=0.0)
    popularity_alpha: float = Field(0.9, ge=0.0)
    topics_per_user: int = Field(8, ge=1)
    drift: float = Field(0.3, ge=0.0, le=1.0)
    group_spread: float = Field(0.0, ge=0.0, le=1.0)   # a user's tastes within one group
    content: Literal["topics", "random"] = "topics"    # random: the no-structure control


class MovielensParams(_Strict):
    path: str = "../shared/datasets/ml100k-multimodal"


class FilesParams(_Strict):
    interactions: str = "data/raw/interactions.csv"
    items: str = "data/raw/items.csv"


class S3RecParams(_Strict):
    # a folder holding <name>.txt and <name>_item2attributes.json (esans/data/s3rec.py)
    path: str = "../shared/datasets/amazon-s3rec"
    name: str = Field("Beauty", pattern=r"^[A-Za-z0-9_.-]+$")


class DataParams(_Strict):
    source: Literal["synthetic", "scale", "movielens", "files", "s3rec"] = "synthetic"
    synthetic: SyntheticParams = SyntheticParams()
    scale: ScaleSourceParams = ScaleSourceParams()
    movielens: MovielensParams = MovielensParams()
    files: FilesParams = FilesParams()
    s3rec: S3RecParams = S3RecParams()


class ValidateParams(_Strict):
    max_missing_text_frac: float = Field(0.05, ge=0, le=1)
    max_missing_image_frac: float = Field(0.05, ge=0, le=1)
    min_interactions: int = Field(100, ge=1)


class SplitParams(_Strict):
    # temporal: per user, the last test_frac of events to test, the valid_frac before them to
    # valid. leave_last: per user with >= 3 events, the last one to test, the one before it to
    # valid (the protocol of short-history catalogues such as the Amazon ones).
    method: Literal["temporal", "leave_last"] = "temporal"
    valid_frac: float = Field(0.1, gt=0, lt=0.5)
    test_frac: float = Field(0.1, gt=0, lt=0.5)


class TextEncoderParams(_Strict):
    model: str = "builtin:all-MiniLM-L6-v2"
    pooling: Literal["mean", "cls"] = "mean"
    max_length: int = Field(128, ge=8, le=4096)
    batch_size: int = Field(64, ge=1)


class ImageEncoderParams(_Strict):
    model: str = "builtin:efficientnet-lite0"
    size: int = Field(128, ge=32, le=1024)
    batch_size: int = Field(32, ge=1)
    max_pixels: int = Field(40_000_000, ge=1024)


class TagsEncoderParams(_Strict):
    dim: int = Field(64, ge=2)        # TF-IDF over an item's tags, reduced by truncated SVD
    min_items: int = Field(2, ge=1)   # a tag on fewer items says nothing shared: dropped


class DaskParams(_Strict):
    shards: int = Field(0, ge=0)      # > 0: the retrain flow encodes cache misses in shards
    address: str | None = None        # a running Dask scheduler; None: a LocalCluster
    workers: int = Field(2, ge=1)     # LocalCluster worker processes


class EncodeParams(_Strict):
    text: TextEncoderParams = TextEncoderParams()
    image: ImageEncoderParams = ImageEncoderParams()
    tags: TagsEncoderParams = TagsEncoderParams()
    dask: DaskParams = DaskParams()


class BehaviourParams(_Strict):
    dim: int = Field(64, ge=2)


class FuseParams(_Strict):
    dim: int = Field(64, ge=2)
    epochs: int = Field(200, ge=0)
    lr: float = Field(3e-3, gt=0)
    temperature: float = Field(0.1, gt=0)
    # A modality's share of the fused vector (0 drops it); at least one must be > 0.
    weights: dict[Literal["text", "image", "tags", "behaviour", "provided"],
                  Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]] = {
        "text": 1.0, "image": 1.0, "tags": 1.0, "behaviour": 1.0, "provided": 1.0}

    @model_validator(mode="after")
    def _some_weight(self) -> "FuseParams":
        if self.weights and not any(w > 0 for w in self.weights.values()):
            raise ValueError("fuse.weights: all zero; at least one modality needs a weight > 0")
        return self


class ClusterParams(_Strict):
    n_l1: Annotated[int, Field(ge=2)] | Literal["auto"] = "auto"
    n_l2: int = Field(8, ge=1)
    min_cluster_size: int = Field(5, ge=1)
    niter: int = Field(25, ge=1)

    def level1(self, n_items: int) -> int:
        """Level-1 clusters for a catalogue of ``n_items``: ``n_l1``, or with ``auto``
        sqrt(n_items / 8), at least 16 (16 up to ~2,000 items, 39 at 12k, 354 at 1M: level-1
        clusters of a few thousand items at scale), at most what ``min_cluster_size``
        allows."""
        if self.n_l1 != "auto":
            return self.n_l1
        return max(2, min(max(16, round(math.sqrt(n_items / 8))),
                          n_items // self.min_cluster_size))


@dataclass(frozen=True)
class SamplerTraits:
    """What a negative sampler is, as the config model, validate and training need to know
    (the one place these are decided; ``esans.trainer.build_sampler`` builds each by name)."""
    clusters: bool = False   # draws from MSAC's clusters (needs data/cluster)
    hard: bool = False       # draws hard negatives (train.m_c of n_negatives)
    logq: bool = False       # a known log q per id (per-row proposals)
    edis: bool = False       # EDIS virtual negatives always on (train.edis adds them to others)
    selects: bool = False    # always keeps a model-chosen subset of its candidates (hard
    #                          samplers do too with more than one candidate a slot)
    per_row: bool = True     # draws n_negatives of its own a row; False: a pool or none
    sampled: bool = True     # False: the full softmax (no negatives to mix)
    batch_pool: bool = False  # its negatives are the batch's own items (shared by every row):
    #                           under data-parallel training the pool spans every rank's batch


SAMPLERS: dict[str, SamplerTraits] = {
    "esans": SamplerTraits(clusters=True, hard=True, logq=True, edis=True),
    "msac": SamplerTraits(clusters=True, hard=True, logq=True),
    "uniform": SamplerTraits(logq=True),
    "popularity": SamplerTraits(logq=True),
    "inbatch": SamplerTraits(per_row=False, batch_pool=True),
    "mixed": SamplerTraits(per_row=False, batch_pool=True),
    "dns": SamplerTraits(selects=True),
    "mixgcf": SamplerTraits(selects=True),
    "full": SamplerTraits(per_row=False, sampled=False),
    # the rule below: neither of its branches (full, mixed) draws per-row negatives
    "auto": SamplerTraits(per_row=False),
}
Sampler = Literal[tuple(SAMPLERS)]  # type: ignore[valid-type]


def samplers_with(trait: str, sep: str = ", ") -> str:
    """The names of the samplers that have ``trait`` (for error messages)."""
    return sep.join(n for n, s in SAMPLERS.items() if getattr(s, trait) and n != "auto")


# train.sampler: auto is the best the project measured for a catalogue's size (docs/study.md):
# below this many items the full softmax (best on ml100k), from it the shared in-batch +
# uniform pool (tied with the full softmax on Beauty at a fraction of its step; best on
# Sports, and in the generated 200k and 1M catalogues' untuned runs).
AUTO_LARGE_ITEMS = 10_000
AUTO_SMALL = {"sampler": "full", "edis": False, "exclude_own_l2": "auto",
              "selection_table_every": 0}
AUTO_LARGE = {"sampler": "mixed", "edis": False, "exclude_own_l2": "auto",
              "selection_table_every": 0}
# train.temperature: auto is the softmax temperature the map chose for the sampler: the full
# softmax and the pool want a flatter one than the per-row samplers (docs/study.md).
AUTO_TEMPERATURE = {"full": 0.2, "mixed": 0.1}
PER_ROW_TEMPERATURE = 0.07   # every other sampler (the map's per-row choices: 0.05-0.1)


def resolve_sampler(t: "TrainParams", n_items: int) -> tuple["TrainParams", str]:
    """The concrete train params ``t`` stands for on a catalogue of ``n_items``, and why
    (``train.sampler: auto`` picks by size, ``train.temperature: auto`` by sampler; any other
    value is itself)."""
    if t.sampler != "auto":
        chosen, why = t, f"train.sampler: {t.sampler} (params.yaml)"
    elif n_items >= AUTO_LARGE_ITEMS:
        chosen, why = t.model_copy(update=AUTO_LARGE), (
            f"auto: mixed, the shared in-batch + {t.mns_uniform} uniform pool, for "
            f"{n_items:,} items (>= {AUTO_LARGE_ITEMS:,}: the best measured on every catalogue "
            "of that size, per-row samplers behind it)")
    else:
        chosen, why = t.model_copy(update=AUTO_SMALL), (
            f"auto: full, the full softmax over every item, for {n_items:,} items "
            f"(< {AUTO_LARGE_ITEMS:,}: the best measured at that size, at a step no dearer "
            "than the per-row samplers')")
    if chosen.temperature == "auto":
        tau = chosen.softmax_temperature
        chosen = chosen.model_copy(update={"temperature": tau})
        why += f"; temperature {tau} (auto)"
    return chosen, why


# Steps between refreshes of the stale selection table under selection_table_every: auto (~1
# refresh an epoch on ml100k, ~16 at 200k items; docs/samplers.md)
AUTO_TABLE_EVERY = 100


# Knobs no longer offered: each was measured best nowhere (docs/samplers.md, docs/regime.md)
# and is not one of the paper's switches. A params file or bundle that still names one at the
# value every model now has loads as before; any other value is refused.
REMOVED_TRAIN_KNOBS = {"hard_weight": 1.0, "edis_logq": "sources", "hard_anchor": "positive",
                       "easy_temperature": 1.0, "pool": "none",
                       "selection_table_writeback": False}
# checkpoint_every: auto saves every 50 steps, at most once per 30 s and spending at most 5% of
# the time saving (a 1M-item checkpoint is ~1.2 GB); a number N saves every N steps exactly.
AUTO_CHECKPOINT = (50, 30.0, 0.05)      # every, min_seconds, max_overhead


def _migrate(data: dict) -> dict:
    """Train params as an earlier params file or bundle spelt them, in today's knobs: the
    per-row budget in one key (``n_negatives``; MSAC's easy count was ``m_o``), the candidates
    a kept negative is chosen from in one (``candidates``; was ``pool_size`` for dns/mixgcf,
    ``hard_candidates``/``easy_candidates`` for esans/msac), EDIS's sources by rule (was
    ``edis_sources``). Every model trained before loads as the same model; a spelling with
    no equal today is refused with its key."""
    data = dict(data)
    sampler = data.get("sampler", "auto")
    msac = sampler in ("esans", "msac", "auto")
    m_o = data.pop("m_o", None)
    if m_o is not None and msac:
        data["n_negatives"] = data.get("m_c", 2) + m_o
    named = [key for key in ("hard_candidates", "easy_candidates") if key in data]
    if named:
        k = {data.pop("hard_candidates", 4), data.pop("easy_candidates", 4)}
        if not msac and k != {4}:
            raise ValueError(f"train.{named[0]}: only {samplers_with('hard', '/')} draw hard "
                             f"negatives, not {sampler} (the key is train.candidates now)")
        if len(k) > 1:
            raise ValueError(f"train.hard_candidates / easy_candidates: {sorted(k)} differ; "
                             "one count for both is offered now: set train.candidates")
        if msac:
            data["candidates"] = k.pop()
    if "pool_size" in data:
        pool = data.pop("pool_size")
        if sampler in ("dns", "mixgcf"):
            data["candidates"] = max(1, round(pool / data.get("n_negatives", 7)))
    throttle = (data.pop("checkpoint_min_seconds", 30.0), data.pop("checkpoint_max_overhead", 0.05))
    if data.get("checkpoint_every") == 50 and throttle == AUTO_CHECKPOINT[1:]:
        data["checkpoint_every"] = "auto"       # a runtime setting: any other spelling is kept
    if "edis_sources" in data:
        mixed_before = data.pop("edis_sources") or (5 if m_o is None else m_o)
        now = data.get("n_negatives", 7) - (data.get("m_c", 2) if msac else 0)
        edis_on = sampler in ("esans", "auto") or (data.get("edis") and sampler != "full")
        if edis_on and mixed_before != now:
            raise ValueError(f"train.edis_sources: {mixed_before} is no longer offered; EDIS "
                             "mixes MSAC's easy negatives, or every real one of other samplers")
    return data


class TrainParams(_Strict):
    # esans = msac + EDIS; full = full softmax over the catalogue (the reference).
    sampler: Sampler = "auto"
    # EDIS virtual negatives on top of any real-negative sampler (always on for esans).
    edis: bool = False
    logq_correction: bool = True
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(1024, ge=2)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    dim: int = Field(64, ge=2)
    # softmax temperature; auto: by sampler (AUTO_TEMPERATURE: full 0.2, mixed 0.1, else 0.07)
    temperature: Annotated[float, Field(gt=0)] | Literal["auto"] = "auto"
    history_len: int = Field(50, ge=1)
    patience: int = Field(4, ge=1)
    # Real negatives a row, for every per-row sampler; MSAC's (esans, msac) are m_c hard ones
    # and n_negatives - m_c easy ones (m_o, which EDIS mixes).
    n_negatives: int = Field(7, ge=1)
    m_c: int = Field(2, ge=0)
    # The candidates each kept negative is chosen from by the current model: DNS and MixGCF
    # score candidates x n_negatives uniform draws; the project's ESANS draws that many per
    # MSAC slot (hard: same level-1 cluster, not the positive's level-2; easy: other level-1
    # clusters) and keeps the highest-scoring ones. 1 for esans/msac: the paper (one random
    # draw per slot).
    candidates: int = Field(4, ge=1, le=64)
    mns_uniform: int = Field(512, ge=1)
    # EDIS extrapolation: mixing weights (1 + l) w - l / m. EDIS mixes MSAC's easy negatives
    # (the paper), every real negative of other samplers.
    edis_lambda: float = Field(0.1, ge=-1, le=1)
    # Never keep a negative from the positive's own level-2 MSAC cluster (likely false
    # negatives). auto: on for msac/esans (the paper's rule; false there is an ablation: hard
    # negatives from all of the level-1 cluster), off for the others; true on uniform,
    # popularity, dns or mixgcf masks such draws out of the loss (and out of DNS's choice).
    exclude_own_l2: bool | Literal["auto"] = "auto"
    # Hard selection (dns, mixgcf; esans/msac at more than one candidate a slot) scores its
    # candidates against a table of every item's vector recomputed every this many steps,
    # without gradient (ANCE-style staleness; a refresh is one forward of the catalogue),
    # instead of running each candidate through the item tower. 0 (the default): the current
    # model, exact. "auto": every AUTO_TABLE_EVERY steps where the training selects, else 0.
    # A speed switch, not a free one: a stale row can keep an item "hardest" long after the
    # model pushed it away (docs/samplers.md).
    selection_table_every: Annotated[int, Field(ge=0)] | Literal["auto"] = 0
    threads: int = Field(2, ge=1)
    # Crash-resume checkpoints: "auto" (AUTO_CHECKPOINT: every 50 steps, throttled by time)
    # or every N steps exactly.
    checkpoint_every: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    # Id embeddings with sparse gradients and a lazy (row-wise) Adam: a step costs what the
    # batch touches, not the table size. "auto": on from 100k items.
    sparse_ids: bool | Literal["auto"] = "auto"
    # Early stopping scores this many sampled validation users (0: all) against the full
    # catalogue each epoch; at millions of items all of them is minutes per epoch.
    valid_users: int = Field(0, ge=0)
    # The order of training events: random batches, or batches composed from MSAC's level-1
    # clusters (topic-aware batching, as TAS-B composes dense-retrieval batches): a batch
    # holds the events of a few clusters, so in-batch negatives (inbatch, mixed) are semantic
    # neighbours; exclude_own_l2: true then masks the positive's own level-2 cluster.
    batching: Literal["random", "clusters"] = "random"

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data):
        if isinstance(data, dict):
            for key, only in REMOVED_TRAIN_KNOBS.items():
                if key in data and data[key] != only:
                    raise ValueError(f"train.{key}: {data[key]!r} is no longer offered (only "
                                     f"{only!r}; measured in docs/study.md, docs/regime.md): "
                                     "delete the key")
            data = _migrate({k: v for k, v in data.items() if k not in REMOVED_TRAIN_KNOBS})
        return data

    @property
    def checkpointing(self) -> tuple[int, float, float]:
        """(every, min_seconds, max_overhead) of the crash-resume checkpoints."""
        if self.checkpoint_every == "auto":
            return AUTO_CHECKPOINT
        return self.checkpoint_every, 0.0, 1.0

    @property
    def m_o(self) -> int:
        """MSAC's easy negatives a row: the budget's share that is not hard."""
        return self.n_negatives - self.m_c

    @property
    def pool_size(self) -> int:
        """The uniform candidates DNS and MixGCF score a row."""
        return self.candidates * self.n_negatives

    @property
    def edis_sources(self) -> int:
        """The real negatives EDIS mixes (the last ones of a row): MSAC's easy ones, or every
        real one of another sampler."""
        return self.m_o if self.traits.hard else self.n_negatives

    @property
    def traits(self) -> SamplerTraits:
        return SAMPLERS[self.sampler]

    @property
    def softmax_temperature(self) -> float:
        """``temperature`` as a number (``auto``: by sampler; ``resolve_sampler`` sets it)."""
        if self.temperature != "auto":
            return self.temperature
        return AUTO_TEMPERATURE.get(self.sampler, PER_ROW_TEMPERATURE)

    @property
    def excludes_own_l2(self) -> bool:
        """Whether negatives from the positive's own level-2 cluster are kept out."""
        return self.traits.hard if self.exclude_own_l2 == "auto" else self.exclude_own_l2

    @property
    def needs_clusters(self) -> bool:
        """Whether training reads MSAC's cluster assignments."""
        return self.traits.clusters or self.excludes_own_l2 or self.batching == "clusters"

    @property
    def uses_edis(self) -> bool:
        """EDIS virtual negatives on: always for esans, on request for other sampled ones."""
        return self.traits.edis or (self.edis and self.traits.sampled)

    @property
    def table_every(self) -> int:
        """Steps between refreshes of the stale selection table; 0: exact scoring."""
        if self.selection_table_every == "auto":
            return AUTO_TABLE_EVERY if self.selects else 0
        return self.selection_table_every

    @property
    def selects(self) -> bool:
        """Whether the model chooses which drawn candidates are kept (dns, mixgcf; esans/msac
        with more than one candidate a slot), which a stale selection table can serve."""
        return self.traits.selects or (self.traits.hard and self.candidates > 1)


class IndexParams(_Strict):
    # The serving index for `esans recommend/similar`: exact inner product, or IVF-Flat for
    # large catalogues (its recall@200 against exact search is reported). Evaluation always
    # uses the exact index.
    serving: Literal["flat", "ivf"] = "flat"
    nlist: int = Field(4096, ge=1)    # ivf lists (capped at items / 39)
    nprobe: int = Field(32, ge=1)     # ivf lists probed per query


class EvaluateParams(_Strict):
    # cut-offs K of Recall@K / NDCG@K: 1..200 (the top-N lists hold 200 items), no repeats
    ks: list[Annotated[int, Field(ge=1, le=200)]] = Field([20, 50, 100, 200], min_length=1)
    batch_users: int = Field(1024, ge=1)       # users ranked per block
    # 0: every user with held-out items; N: a fixed sample of N of them per split (seeded by
    # `seed`), for catalogues where ranking every user exactly is too slow (1M items)
    users: int = Field(0, ge=0)


class PromoteParams(_Strict):
    # A candidate is promoted unless its validation metric is below the best of the last
    # `compare_last` served models by more than this (absolute); all re-scored on the
    # candidate's validation split.
    max_recall_drop: float = Field(0.01, ge=0, le=1)
    compare_last: int = Field(3, ge=1, le=20)
    keep: int = Field(5, ge=1)                 # registry bundles kept (older ones pruned)
    metric: Literal["recall@20", "recall@50", "recall@100", "recall@200", "ndcg@50"] = \
        "recall@50"


class Params(_Strict):
    seed: int = Field(42, ge=0, lt=2**32)     # numpy and torch seeds
    data: DataParams = DataParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    split: SplitParams = SplitParams()
    encode: EncodeParams = EncodeParams()
    behaviour: BehaviourParams = BehaviourParams()
    fuse: FuseParams = FuseParams()
    cluster: ClusterParams = ClusterParams()
    train: TrainParams = TrainParams()
    index: IndexParams = IndexParams()
    evaluate: EvaluateParams = EvaluateParams()
    promote: PromoteParams = PromoteParams()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _check(self) -> "Params":
        if len(set(self.evaluate.ks)) != len(self.evaluate.ks):
            raise ValueError(f"evaluate.ks: {self.evaluate.ks} repeats a K")
        t = self.train
        if t.edis and not t.traits.sampled:
            raise ValueError("train.edis: EDIS mixes sampled negatives; the full softmax "
                             "(train.sampler: full) has none")
        if t.sparse_ids is True and not t.traits.sampled:
            raise ValueError("train.sparse_ids: true needs a sampled loss; the full softmax "
                             "(train.sampler: full) updates every item row each step (use "
                             "auto or false)")
        if t.exclude_own_l2 is True and not t.traits.sampled:
            raise ValueError("train.exclude_own_l2: true needs sampled negatives to mask; the "
                             "full softmax (train.sampler: full) scores every item")
        if t.traits.hard and t.m_o < 2:
            raise ValueError(f"train.n_negatives: {t.n_negatives} leaves {t.m_o} easy "
                             f"negative(s) after train.m_c ({t.m_c}); MSAC needs at least 2 "
                             "(EDIS mixes them)")
        if t.selection_table_every not in (0, "auto") and not t.selects:
            raise ValueError(f"train.selection_table_every: {t.selection_table_every} needs a "
                             f"hard selection ({samplers_with('selects')}, or "
                             f"{samplers_with('hard', '/')} with candidates > 1); "
                             f"{t.sampler} keeps every draw")
        if self.promote.keep < self.promote.compare_last:
            raise ValueError(f"promote.keep: {self.promote.keep} is below promote.compare_last "
                             f"({self.promote.compare_last}); the gate needs those bundles")
        return self


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``; a wrong type or unknown key raises EsansError."""
    path = Path(path)
    if not path.exists():
        raise EsansError("file not found", path=path)
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
        raw = yaml.safe_load(text) or {}
    except UnicodeDecodeError as exc:
        raise EsansError(f"not valid UTF-8 (byte {data[exc.start]:#x}); re-save the file as "
                         "UTF-8", path=path, row=data[: exc.start].count(b"\n") + 1,
                         rule="encoding") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or str(exc).replace("\n", " ")
        where = f" (column {mark.column + 1})" if mark else ""
        raise EsansError(f"not valid YAML: {what}{where}", path=path,
                         row=mark.line + 1 if mark else None, rule="yaml") from None
    if not isinstance(raw, dict):
        raise EsansError("top level must be a mapping", path=path)
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        where = "" if not loc or msg.startswith(loc.split(".")[0] + ".") else f"{loc}: "
        named = msg.split(":")[0]       # a cross-field rule names its key: point at that
        at = named.split(".") if " " not in named and named.startswith(loc) else first["loc"]
        raise EsansError(f"{where}{msg} ({len(exc.errors())} problem(s))", path=path,
                         row=_line_of(text, at), rule="params") from None


def _line_of(text: str, loc) -> int | None:
    """The params.yaml line of the deepest key of ``loc`` (a pydantic error location) that
    the file has: where the user looks to fix it."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            hit = next(((k, v) for k, v in node.value if k.value == str(key)), None)
            if hit is None:
                break
            line, node = hit[0].start_mark.line + 1, hit[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and \
                key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line
