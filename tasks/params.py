"""Run parameters: overrides that apply to one flow run only.

``prefect deployment run 'retrain/retrain' -p sampler=uniform`` must not change what the next
nightly run trains: the override is written to ``params.yaml`` for the run (DVC reads params
from there, and records them in ``dvc.lock``), and the file's exact bytes are put back when the
run ends, however it ends. A run killed before it could restore leaves a backup in
``.dvc/tmp``; the next run restores it first.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from esans.config import load_params
from esans.io import atomic_path

BACKUP = Path(".dvc/tmp/params.yaml.before-run")
# where a run's data_path lands, by the run's effective source
DATA_PATH_KEY = {"movielens": "data.movielens.path", "files": "data.files.interactions",
                 "s3rec": "data.s3rec.path"}
log = logging.getLogger("esans")


def _write(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def apply(path: Path, overrides: dict[str, object]) -> None:
    """Set dotted keys in ``path`` (comments kept), validated before it is written."""
    from ruamel.yaml import YAML

    yaml = YAML()
    doc = yaml.load(path.read_text())
    for dotted, value in overrides.items():
        node = doc
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            yaml.dump(doc, fh)
        load_params(tmp)  # a bad override raises here, and params.yaml stays as it was


def restore_interrupted(root: Path) -> bool:
    """Put back params.yaml from a run that was killed with overrides applied."""
    backup = Path(root) / BACKUP
    if not backup.exists():
        return False
    _write(Path(root) / "params.yaml", backup.read_bytes())
    backup.unlink()
    log.warning("params.yaml restored from %s (a run with overrides was interrupted)", BACKUP)
    return True


@contextlib.contextmanager
def run_overrides(root: Path, overrides: dict[str, object]) -> Iterator[None]:
    """``params.yaml`` with ``overrides`` for the body of the ``with``; byte-identical after."""
    root = Path(root)
    restore_interrupted(root)
    if not overrides:
        yield
        return
    path, backup = root / "params.yaml", root / BACKUP
    original = path.read_bytes()
    _write(backup, original)
    try:
        apply(path, overrides)
        yield
    finally:
        _write(path, original)
        backup.unlink(missing_ok=True)


def source_overrides(root: Path, source: str | None,
                     data_path: str | None) -> dict[str, object]:
    """The params a run's ``source`` and ``data_path`` set: the path goes to the key of the
    source the run reads (``source`` if given, else params.yaml's data.source), never to
    another source's key; a source that reads no files refuses a path."""
    out: dict[str, object] = {"data.source": source} if source is not None else {}
    if data_path is None:
        return out
    effective = source or load_params(Path(root) / "params.yaml").data.source
    if effective not in DATA_PATH_KEY:
        from esans.errors import EsansError

        raise EsansError(f"data_path: the {effective} source reads no files; give source "
                         f"too (one of {', '.join(sorted(DATA_PATH_KEY))})", rule="params")
    return {**out, DATA_PATH_KEY[effective]: data_path}
