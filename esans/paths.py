"""Artifact locations, relative to the project root. ``dvc.yaml`` declares the same paths
(``tests/unit/test_dvc_yaml.py`` checks that they agree)."""

from pathlib import Path

SOURCE = Path("data/source.json")     # content fingerprint of the raw inputs (ingest's dep)
SOURCE_MEMO = Path(".cache/source-stat.json")  # size/mtime -> md5, so unchanged files aren't reread
INGEST = Path("data/ingest")
INGEST_ITEMS = INGEST / "items.parquet"
INGEST_INTERACTIONS = INGEST / "interactions.parquet"
INGEST_CATALOGUE = INGEST / "catalogue.parquet"  # item ids in catalogue order, nothing else
INGEST_IMAGES = INGEST / "images"
INGEST_VECTORS = INGEST / "vectors.npy"  # precomputed item vectors, (N, d); (N, 0) if none
SPLIT = Path("data/split")
ENCODE = Path("data/encode")
BEHAVIOUR = Path("data/behaviour")
FUSE = Path("data/fuse")
CLUSTER = Path("data/cluster")
MODELS = Path("models/candidate")      # what the train stage just produced (a DVC output)
BUNDLE = Path("models/bundle")         # the workspace's latest complete model bundle (a DVC output)
REGISTRY = Path("models/registry")     # promoted models, one folder each (see registry.py)
CURRENT = Path("models/current")       # symlink to the promoted bundle in service (the champion)
POINTERS = Path("registry")            # <id>.dvc per promoted bundle pushed to a DVC remote (git)
INDEX = Path("data/index")
EVALUATE = Path("data/evaluate")
REPORTS = Path("reports")
METRICS = Path("metrics.json")


def report(stage: str) -> Path:
    """What a stage found (counts, quality): a DVC metric, hashed in dvc.lock."""
    return REPORTS / f"{stage}.json"


def timing(stage: str) -> Path:
    """What a stage measured (seconds, step time, latency): not declared to DVC, so an
    identical rerun leaves dvc.lock identical."""
    return REPORTS / "timings" / f"{stage}.json"
