"""A corpus of bad inputs: each must fail with one clear line and change nothing published.

Every case starts from a small valid catalogue (the `files` source), breaks one thing, runs
`esans ingest` then `esans validate` as `dvc repro` would, and checks: non-zero exit, a single
`esans: error:` line naming the file / rule (no traceback), and the published model, index,
metrics, top-K lists and report byte-identical to before.
"""

import hashlib
import json
import os
import shutil
import struct
import sys
import time
import zlib
from pathlib import Path

import pytest
import yaml
from PIL import Image

from tests.conftest import run

pytestmark = pytest.mark.slow
ESANS = str(Path(sys.executable).parent / "esans")
PUBLISHED = ["models/candidate", "data/index", "data/evaluate", "data/split", "metrics.json",
             "reports/index.html", "reports/train.json"]
N_ITEMS, N_USERS = 30, 12


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for rel in PUBLISHED:
        p = root / rel
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
        for f in files:
            out[str(f.relative_to(root))] = hashlib.sha256(f.read_bytes()).hexdigest()
    assert out, "nothing published to protect"
    return out


def good_catalogue(d: Path) -> None:
    (d / "img").mkdir(parents=True, exist_ok=True)
    rows = ["item_id,title,text,image_path"]
    for i in range(N_ITEMS):
        Image.new("RGB", (24, 24), (8 * i, 120, 60)).save(d / "img" / f"{i}.png")
        rows.append(f"{i},Title {i},A story about thing {i},img/{i}.png")
    (d / "items.csv").write_text("\n".join(rows) + "\n")
    inter = ["user_id,item_id,timestamp,rating"]
    for u in range(N_USERS):
        for k in range(10):
            inter.append(f"u{u},{(u * 3 + k) % N_ITEMS},{1_600_000_000 + 1000 * u + k},4")
    (d / "inter.csv").write_text("\n".join(inter) + "\n")


def _edit(path: Path, fn) -> None:
    path.write_text(fn(path.read_text()))


def _replace_line(path: Path, n: int, line: str) -> None:
    lines = path.read_text().splitlines()
    lines[n] = line
    path.write_text("\n".join(lines) + "\n")


def _bomb_png(path: Path, side: int = 20000) -> None:
    """A tiny PNG whose header claims side x side pixels (a decompression bomb)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = zlib.compress(b"\x00" * (side // 8 + 1), 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side,
                                                                        1, 0, 0, 0, 0))
                     + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def _images(d: Path, fn) -> None:
    """Point every item at a broken image (so the broken share is over the threshold)."""
    fn(d / "img" / "bad.img")
    _edit(d / "items.csv", lambda t: "\n".join(
        [t.splitlines()[0]] + [",".join(r.split(",")[:3] + ["img/bad.img"])
                               for r in t.splitlines()[1:]]) + "\n")


FUTURE = int(time.time()) + 10 * 86400

# name -> (break the catalogue in folder d, expected fragment of the error line)
CASES = {
    "missing column": (lambda d: _edit(d / "inter.csv",
                                       lambda t: t.replace("timestamp,", "when,", 1)),
                       "raw/inter.csv [schema]: missing required column(s) ['timestamp']"),
    "extra unknown column": (lambda d: _edit(d / "items.csv", lambda t: "\n".join(
        r + ",x" for r in t.splitlines()) + "\n"), "unknown column(s) ['x"),
    "null user id": (lambda d: _replace_line(d / "inter.csv", 5, ",3,1600000005,4"),
                     "raw/inter.csv row 6 [required]: column 'user_id': missing value"),
    "null item id": (lambda d: _replace_line(d / "inter.csv", 5, "u0,,1600000005,4"),
                     "raw/inter.csv row 6 [required]: column 'item_id': missing value"),
    "unknown item id": (lambda d: _replace_line(d / "inter.csv", 5, "u0,999,1600000005,4"),
                        "raw/inter.csv: row(s) [6] column 'item_id' failed "
                        "expect_column_values_to_be_in_set; e.g. ['999']"),
    "duplicate item ids, conflicting content": (
        lambda d: _edit(d / "items.csv", lambda t: t + "3,Other title,Other text,img/3.png\n"),
        "'item_id' failed expect_column_values_to_be_unique"),
    "latin-1 text in a UTF-8 file": (
        lambda d: (d / "items.csv").write_bytes((d / "items.csv").read_bytes()
                                                + "31,Am\xe9lie,caf\xe9,\n".encode("latin-1")),
        "items.csv row 32 [encoding]: not valid UTF-8"),
    "empty file": (lambda d: (d / "inter.csv").write_text(""), "inter.csv [non-empty]"),
    "header only": (lambda d: (d / "items.csv").write_text("item_id,title,text\n"),
                    "no data rows"),
    "truncated parquet": (lambda d: _truncated_parquet(d), "inter.parquet: cannot read"),
    "corrupt JPEG": (lambda d: _images(d, lambda p: p.write_bytes(b"\xff\xd8\xff\xe0junk")),
                     "'image_status' failed expect_column_values_to_be_in_set (100.0% of rows); "
                     "e.g. ['corrupt"),
    "truncated PNG": (lambda d: _images(d, lambda p: p.write_bytes(
        (d / "img" / "0.png").read_bytes()[:60])), "e.g. ['corrupt"),
    "decompression bomb": (lambda d: _images(d, _bomb_png), "e.g. ['too_large"),
    "image path ../../etc/passwd": (
        lambda d: _replace_line(d / "items.csv", 1, "0,T,x,../../etc/passwd"),
        "items.csv row 2 [image-path]: image_path '../../etc/passwd' leads outside"),
    "absolute image path": (lambda d: _replace_line(d / "items.csv", 1, "0,T,x,/etc/passwd"),
                            "row 2 [image-path]: image_path '/etc/passwd' is absolute"),
    "symlink out of the data root": (lambda d: _symlink_out(d), "[image-path]"),
    "future timestamp": (lambda d: _replace_line(d / "inter.csv", 5, f"u0,25,{FUTURE},4"),
                         "'timestamp' failed expect_column_values_to_be_between"),
    "negative timestamp": (lambda d: _replace_line(d / "inter.csv", 5, "u0,3,-5,4"),
                           "'timestamp' failed expect_column_values_to_be_between"),
    "NaN rating": (lambda d: _replace_line(d / "inter.csv", 5, "u0,3,1600000005,nan"),
                   "inter.csv row 6 [dtype]: column 'rating'"),
    "inf rating": (lambda d: _replace_line(d / "inter.csv", 5, "u0,3,1600000005,inf"),
                   "[dtype]: column 'rating'"),
    "vector column in a CSV": (lambda d: _edit(d / "items.csv", lambda t: "\n".join(
        [t.splitlines()[0] + ",vector"] + [r + ',"[1, 2]"' for r in t.splitlines()[1:]]) + "\n"),
        "items.csv [vector]: column 'vector' must be a list of numbers"),
    "vector with NaN": (lambda d: _vector_items(d, lambda v: v[4].__setitem__(1, float("nan"))),
                        "items.parquet row 5 [vector]: vector has NaN or infinite values"),
    "vectors of different lengths": (lambda d: _vector_items(d, lambda v: v[2].pop()),
                                     "items.parquet row 3 [vector]: vector has 3 values"),
    "params.yaml wrong type": (lambda d: _params(d, lambda p: p["train"].update(epochs="ten")),
                               "params.yaml [params]: train.epochs"),
    "params.yaml unknown key": (lambda d: _params(d, lambda p: p["train"].update(lr_decay=1)),
                                "params.yaml [params]: train.lr_decay: Extra inputs"),
}


def _truncated_parquet(d: Path) -> None:
    import polars as pl

    pl.read_csv(d / "inter.csv").write_parquet(d / "inter.parquet")
    raw = (d / "inter.parquet").read_bytes()
    (d / "inter.parquet").write_bytes(raw[: len(raw) // 2])
    _params(d, lambda p: p["data"]["files"].update(interactions="raw/inter.parquet"))


def _vector_items(d: Path, spoil) -> None:
    """The catalogue as parquet with a 4-d `vector` column, one vector spoilt by ``spoil``."""
    import polars as pl

    items = pl.read_csv(d / "items.csv")
    vecs = [[float(i), 1.0, 0.5, -1.0] for i in range(items.height)]
    spoil(vecs)
    items.with_columns(pl.Series("vector", vecs, dtype=pl.List(pl.Float64))).write_parquet(
        d / "items.parquet")
    _params(d, lambda p: p["data"]["files"].update(items="raw/items.parquet"))


def _symlink_out(d: Path) -> None:
    os.symlink("/etc/hostname", d / "img" / "link.png")
    _replace_line(d / "items.csv", 1, "0,T,x,img/link.png")


def _params(d: Path, fn) -> None:
    f = d.parent / "params.yaml"
    p = yaml.safe_load(f.read_text())
    fn(p)
    f.write_text(yaml.safe_dump(p, sort_keys=False))


@pytest.fixture(scope="module")
def published(built_project, tmp_path_factory):
    ws = tmp_path_factory.mktemp("bad") / "ws"
    shutil.copytree(built_project, ws, symlinks=True)
    return ws


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_cleanly_and_publishes_nothing(published, case):
    ws = published
    raw = ws / "raw"
    shutil.rmtree(raw, ignore_errors=True)
    good_catalogue(raw)
    params = yaml.safe_load((ws / "params.yaml").read_text())
    original = yaml.safe_dump(params, sort_keys=False)
    params["data"]["source"] = "files"
    params["data"]["files"] = {"interactions": "raw/inter.csv", "items": "raw/items.csv"}
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    before = snapshot(ws)
    try:
        breaker, expected = CASES[case]
        breaker(raw)
        procs = [run([ESANS, stage, "-q"], ws, check=False) for stage in ("ingest", "validate")]
        failed = next((pr for pr in procs if pr.returncode != 0), None)
        assert failed is not None, f"{case}: no stage failed"
        assert failed.returncode == 2
        err = failed.stderr.strip()
        assert "Traceback" not in err
        assert len(err.splitlines()) == 1, err
        assert err.startswith("esans: error: ") and expected in err, err
        assert snapshot(ws) == before
    finally:
        (ws / "params.yaml").write_text(original)


def test_the_good_catalogue_itself_passes(published):
    ws = published
    good_catalogue(ws / "raw2")
    params = yaml.safe_load((ws / "params.yaml").read_text())
    original = yaml.safe_dump(params, sort_keys=False)
    params["data"]["source"] = "files"
    params["data"]["files"] = {"interactions": "raw2/inter.csv", "items": "raw2/items.csv"}
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        for stage in ("ingest", "validate"):
            run([ESANS, stage, "-q"], ws)
    finally:
        (ws / "params.yaml").write_text(original)
    report = json.loads((ws / "reports/validate.json").read_text())
    assert report["success"] and report["n_warnings"] == 0
