"""The bad-input corpus: each case breaks one thing in a small valid catalogue (or in
``params.yaml``) and names the fragment the one-line error must contain.

Cases are grouped by the class of defect they probe: ``garbage`` (a value outside
its declared type, never coerced), ``format`` (files a reader cannot take as they are),
``params`` (the config model's types, ranges and cross-field rules), ``degenerate``
(catalogues too small or too sparse to train on), ``filesystem`` (paths that are not plain
files inside the data folder) and ``lock`` (a second writer while a run owns the workspace).
"""

from __future__ import annotations

import gzip
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml
from PIL import Image

N_ITEMS, N_USERS = 30, 12
HEADER_ITEMS = "item_id,title,text,image_path"
HEADER_INTER = "user_id,item_id,timestamp,rating"


@dataclass(frozen=True)
class Case:
    kind: str
    breaker: Callable[[Path], None]   # breaks the catalogue in raw folder d (params: d.parent)
    expected: str                     # a fragment of the one error line
    stages: tuple[str, ...] = ("ingest", "validate")
    hold: str | None = None           # a lock file (under the workspace) held meanwhile


def good_catalogue(d: Path, n_items: int = N_ITEMS, n_users: int = N_USERS,
                   per_user: int = 10) -> None:
    (d / "img").mkdir(parents=True, exist_ok=True)
    rows = [HEADER_ITEMS]
    for i in range(n_items):
        Image.new("RGB", (24, 24), (8 * i % 256, 120, 60)).save(d / "img" / f"{i}.png")
        rows.append(f"{i},Title {i},A story about thing {i},img/{i}.png")
    (d / "items.csv").write_text("\n".join(rows) + "\n")
    inter = [HEADER_INTER]
    for u in range(n_users):
        for k in range(per_user):
            inter.append(f"u{u},{(u * 3 + k) % n_items},{1_600_000_000 + 1000 * u + k},4")
    (d / "inter.csv").write_text("\n".join(inter) + "\n")


# ---------------------------------------------------------------------------- helpers
def _edit(path: Path, fn) -> None:
    path.write_text(fn(path.read_text()))


def _replace_line(path: Path, n: int, line: str) -> None:
    lines = path.read_text().splitlines()
    lines[n] = line
    path.write_text("\n".join(lines) + "\n")


def _insert_line(path: Path, n: int, line: str) -> None:
    lines = path.read_text().splitlines()
    lines.insert(n, line)
    path.write_text("\n".join(lines) + "\n")


def _params(d: Path, fn) -> None:
    f = d.parent / "params.yaml"
    p = yaml.safe_load(f.read_text())
    fn(p)
    f.write_text(yaml.safe_dump(p, sort_keys=False))


def _set(dotted: str, value):
    """A breaker that sets one params key (``a.b.c``) to ``value``."""
    def breaker(d: Path) -> None:
        def fn(p):
            *head, last = dotted.split(".")
            node = p
            for k in head:
                node = node.setdefault(k, {})
            node[last] = value
        _params(d, fn)
    return breaker


def _params_text(text: str | bytes):
    def breaker(d: Path) -> None:
        f = d.parent / "params.yaml"
        (f.write_bytes if isinstance(text, bytes) else f.write_text)(text)
    return breaker


def _bomb_png(path: Path, side: int = 20000) -> None:
    """A tiny PNG whose header claims side x side pixels (a decompression bomb)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = zlib.compress(b"\x00" * (side // 8 + 1), 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side,
                                                                        1, 0, 0, 0, 0))
                     + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def _images(d: Path, fn, name: str = "bad.img") -> None:
    """Point every item at one broken image path (so the broken share is over the threshold);
    ``fn`` makes the thing at that path."""
    fn(d / "img" / name)
    _edit(d / "items.csv", lambda t: "\n".join(
        [t.splitlines()[0]] + [",".join(r.split(",")[:3] + [f"img/{name}"])
                               for r in t.splitlines()[1:]]) + "\n")


def _to_parquet(which: str, **columns):
    """Rewrite items/inter as parquet with ``columns`` replaced (name -> function of the
    column's values, returning a polars Series) and point params at it."""
    def breaker(d: Path) -> None:
        import polars as pl

        df = pl.read_csv(d / f"{which}.csv", infer_schema=False)
        for name, fn in columns.items():
            df = df.with_columns(fn(df[name].to_list()).alias(name))
        df.write_parquet(d / f"{which}.parquet")
        key = "items" if which == "items" else "interactions"
        _params(d, lambda p: p["data"]["files"].update({key: f"raw/{which}.parquet"}))
    return breaker


def _series(values, dtype=None):
    import polars as pl

    return pl.Series(values, dtype=dtype)


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


def _symlink_loop(d: Path) -> None:
    os.symlink("loop-b.png", d / "img" / "loop-a.png")
    os.symlink("loop-a.png", d / "img" / "loop-b.png")
    _replace_line(d / "items.csv", 1, "0,T,x,img/loop-a.png")


def _catalogue(**kw):
    def breaker(d: Path) -> None:
        for f in ("items.csv", "inter.csv"):
            (d / f).unlink()
        good_catalogue(d, **kw)
    return breaker


def _fifo(p: Path) -> None:
    os.mkfifo(p)


FUTURE = int(time.time()) + 10 * 86400
T0 = 1_600_000_005


# ---------------------------------------------------------------------------- the corpus
CASES: dict[str, Case] = {
    # --- garbage: a value outside its column's declared type is an error, never coerced
    "null user id": Case("garbage", lambda d: _replace_line(d / "inter.csv", 5, f",3,{T0},4"),
                         "raw/inter.csv row 6 [required]: column 'user_id': missing value"),
    "null item id": Case("garbage", lambda d: _replace_line(d / "inter.csv", 5, f"u0,,{T0},4"),
                         "raw/inter.csv row 6 [required]: column 'item_id': missing value"),
    "whitespace-only user id": Case(
        "garbage", lambda d: _replace_line(d / "inter.csv", 5, f"   ,3,{T0},4"),
        "raw/inter.csv row 6 [required]: column 'user_id': missing value"),
    "whitespace-only item id in the catalogue": Case(
        "garbage", lambda d: _replace_line(d / "items.csv", 4, "  ,T,x,img/3.png"),
        "raw/items.csv row 5 [required]: column 'item_id': missing value"),
    "unknown item id": Case("garbage", lambda d: _replace_line(d / "inter.csv", 5,
                                                               f"u0,999,{T0},4"),
                            "raw/inter.csv: row(s) [6] column 'item_id' failed "
                            "expect_column_values_to_be_in_set; e.g. ['999']"),
    "duplicate item ids, conflicting content": Case(
        "garbage", lambda d: _edit(d / "items.csv",
                                   lambda t: t + "3,Other title,Other text,img/3.png\n"),
        "'item_id' failed expect_column_values_to_be_unique"),
    "header row repeated inside the items file": Case(
        "garbage", lambda d: _insert_line(d / "items.csv", 11, HEADER_ITEMS),
        "raw/items.csv row 12 [header]: row repeats the header"),
    "header row repeated inside the interactions file": Case(
        "garbage", lambda d: _insert_line(d / "inter.csv", 40, HEADER_INTER),
        "raw/inter.csv row 41 [header]: row repeats the header"),
    "text timestamp": Case("garbage", lambda d: _replace_line(d / "inter.csv", 5,
                                                              "u0,3,yesterday,4"),
                           "raw/inter.csv row 6 [dtype]: column 'timestamp': value 'yesterday'"),
    "fractional timestamp": Case("garbage", lambda d: _replace_line(d / "inter.csv", 5,
                                                                    f"u0,3,{T0}.5,4"),
                                 "raw/inter.csv row 6 [dtype]: column 'timestamp'"),
    "future timestamp": Case("garbage", lambda d: _replace_line(d / "inter.csv", 5,
                                                                f"u0,25,{FUTURE},4"),
                             "'timestamp' failed expect_column_values_to_be_between"),
    "millisecond timestamps": Case("garbage", lambda d: _replace_line(
        d / "inter.csv", 5, f"u0,25,{T0 * 1000},4"),
        "'timestamp' failed expect_column_values_to_be_between"),
    "negative timestamp": Case("garbage", lambda d: _replace_line(d / "inter.csv", 5,
                                                                  "u0,3,-5,4"),
                               "'timestamp' failed expect_column_values_to_be_between"),
    "NaN rating": Case("garbage", lambda d: _replace_line(d / "inter.csv", 5, f"u0,3,{T0},nan"),
                       "inter.csv row 6 [dtype]: column 'rating'"),
    "inf rating": Case("garbage", lambda d: _replace_line(d / "inter.csv", 5, f"u0,3,{T0},inf"),
                       "[dtype]: column 'rating'"),
    "text rating": Case("garbage", lambda d: _replace_line(d / "inter.csv", 5, f"u0,3,{T0},four"),
                        "inter.csv row 6 [dtype]: column 'rating': value 'four'"),
    "float item ids in the items parquet": Case(
        "garbage", _to_parquet("items", item_id=lambda v: _series([float(x) for x in v])),
        "raw/items.parquet [dtype]: column 'item_id' is stored as Float64"),
    "float item ids in the interactions parquet": Case(
        "garbage", _to_parquet("inter", item_id=lambda v: _series([float(x) for x in v])),
        "raw/inter.parquet [dtype]: column 'item_id' is stored as Float64"),
    "boolean user ids in parquet": Case(
        "garbage", _to_parquet("inter", user_id=lambda v: _series([i % 2 == 0
                                                                   for i in range(len(v))])),
        "raw/inter.parquet [dtype]: column 'user_id' is stored as Boolean"),
    "date timestamps in parquet": Case(
        "garbage", _to_parquet("inter", timestamp=lambda v: _series(
            [__import__("datetime").date(2020, 1, 1 + i % 28) for i in range(len(v))])),
        "raw/inter.parquet [dtype]: column 'timestamp' is stored as Date"),
    "float timestamps in parquet": Case(
        "garbage", _to_parquet("inter", timestamp=lambda v: _series([float(x) for x in v])),
        "raw/inter.parquet [dtype]: column 'timestamp' is stored as Float64"),
    "numeric titles in parquet": Case(
        "garbage", _to_parquet("items", title=lambda v: _series(list(range(len(v))))),
        "raw/items.parquet [dtype]: column 'title' is stored as Int64; expected text"),
    "list-valued text in parquet": Case(
        "garbage", _to_parquet("items", text=lambda v: _series([[x] for x in v])),
        "raw/items.parquet [dtype]: column 'text' is stored as List(String); expected text"),
    "vector column in a CSV": Case("garbage", lambda d: _edit(d / "items.csv", lambda t: "\n".join(
        [t.splitlines()[0] + ",vector"] + [r + ',"[1, 2]"' for r in t.splitlines()[1:]]) + "\n"),
        "items.csv [vector]: column 'vector' must be a list of numbers"),
    "vector with NaN": Case("garbage",
                            lambda d: _vector_items(d, lambda v: v[4].__setitem__(1, float("nan"))),
                            "items.parquet row 5 [vector]: vector has NaN or infinite values"),
    "vectors of different lengths": Case("garbage",
                                         lambda d: _vector_items(d, lambda v: v[2].pop()),
                                         "items.parquet row 3 [vector]: vector has 3 values"),
    "missing vector": Case("garbage", lambda d: _vector_items(d, lambda v: v.__setitem__(6, None)),
                           "items.parquet row 7 [vector]: missing vector"),
    "vector of strings": Case(
        "garbage", lambda d: (_to_parquet("items")(d), _add_string_vector(d)),
        "raw/items.parquet [vector]: column 'vector' must be a list of numbers"),

    # --- format: files a reader cannot take as they are; the line the record starts on
    "missing column": Case("format", lambda d: _edit(d / "inter.csv",
                                                     lambda t: t.replace("timestamp,", "when,", 1)),
                           "raw/inter.csv [schema]: missing required column(s) ['timestamp']"),
    "extra unknown column": Case("format", lambda d: _edit(d / "items.csv", lambda t: "\n".join(
        r + ",x" for r in t.splitlines()) + "\n"), "unknown column(s) ['x"),
    "duplicate column names": Case("format", lambda d: _edit(
        d / "items.csv", lambda t: t.replace(HEADER_ITEMS, "item_id,title,title,image_path", 1)),
        "raw/items.csv row 1 [schema]: column(s) ['title'] appear more than once in the header"),
    "latin-1 text in a UTF-8 file": Case(
        "format", lambda d: (d / "items.csv").write_bytes(
            (d / "items.csv").read_bytes() + "31,Am\xe9lie,caf\xe9,\n".encode("latin-1")),
        "items.csv row 32 [encoding]: not valid UTF-8"),
    "empty file": Case("format", lambda d: (d / "inter.csv").write_text(""),
                       "inter.csv [non-empty]"),
    "semicolon-separated .csv": Case(
        "format", lambda d: _edit(d / "items.csv", lambda t: t.replace(",", ";")),
        "items.csv row 1 [separator]: the header is semicolon-separated"),
    "header only": Case("format", lambda d: (d / "items.csv").write_text(HEADER_ITEMS + "\n"),
                        "no data rows"),
    "truncated parquet": Case("format", _truncated_parquet, "inter.parquet: cannot read"),
    "gzip bytes in a .csv": Case("format", lambda d: (d / "inter.csv").write_bytes(
        gzip.compress((d / "inter.csv").read_bytes())), "raw/inter.csv"),
    "TSV content in a .csv": Case("format", lambda d: _edit(d / "inter.csv",
                                                            lambda t: t.replace(",", "\t")),
                                  "raw/inter.csv row 1 [separator]: the header is "
                                  "tab-separated, but a .csv file is read comma-separated: "
                                  "rename the file to .tsv"),
    "row with too many fields": Case("format", lambda d: _replace_line(
        d / "inter.csv", 7, f"u0,3,{T0},4,extra"),
        "raw/inter.csv row 8 [fields]: record has 5 field(s); the header has 4 (an unquoted"),
    "row with too few fields": Case("format", lambda d: _replace_line(
        d / "items.csv", 9, "8,Title 8"),
        "raw/items.csv row 10 [fields]: record has 2 field(s); the header has 4"),
    "unterminated quote": Case("format", lambda d: _replace_line(
        d / "items.csv", 9, '8,"Title 8,text,img/8.png'),
        "raw/items.csv row 10 [fields]: record has 2 field(s); the header has 4 (an unclosed "
        "quote?)"),
    "bad value after a quoted newline names its line": Case(
        "format", lambda d: (_replace_line(d / "items.csv", 2, '1,"Two\nline title",t,img/1.png'),
                             _replace_line(d / "inter.csv", 5, f"u0,3,{T0},bad")),
        "raw/inter.csv row 6 [dtype]: column 'rating': value 'bad'"),
    "unsupported file format": Case("format", lambda d: (
        (d / "inter.xlsx").write_bytes(b"PK\x03\x04"),
        _params(d, lambda p: p["data"]["files"].update(interactions="raw/inter.xlsx"))),
        "raw/inter.xlsx: unsupported format"),

    # --- params: types, ranges and cross-field rules of the config model
    "params.yaml wrong type": Case("params", _set("train.epochs", "ten"),
                                   "[params]: train.epochs"),
    "params.yaml unknown key": Case("params", _set("train.lr_decay", 1),
                                    "[params]: train.lr_decay: Extra inputs"),
    "unknown section": Case("params", _set("trainer", {"epochs": 3}),
                            "[params]: trainer: Extra inputs"),
    "list where a number belongs": Case("params", _set("train.epochs", [1, 2]),
                                        "[params]: train.epochs"),
    "mapping where a number belongs": Case("params", _set("train.lr", {"base": 0.1}),
                                           "[params]: train.lr"),
    "number where a section belongs": Case("params", _set("train", 5),
                                           "[params]: train"),
    "invalid YAML": Case("params", _params_text("train: [epochs: 3\n"),
                         "params.yaml row 2 [yaml]: not valid YAML: expected ',' or ']'"),
    "params.yaml a list": Case("params", _params_text("- 1\n- 2\n"),
                               "params.yaml: top level must be a mapping"),
    "params.yaml not UTF-8": Case("params", _params_text("seed: 4\xe9\n".encode("latin-1")),
                                  "params.yaml row 1 [encoding]: not valid UTF-8 (byte 0xe9)"),
    "unknown sampler": Case("params", _set("train.sampler", "bogus"),
                            "[params]: train.sampler"),
    "unknown data source": Case("params", _set("data.source", "s3"),
                                "[params]: data.source"),
    "negative seed": Case("params", _set("seed", -1), "[params]: seed"),
    "evaluate.ks zero": Case("params", _set("evaluate.ks", [0, 50]),
                             "[params]: evaluate.ks.0"),
    "evaluate.ks negative": Case("params", _set("evaluate.ks", [-5]),
                                 "[params]: evaluate.ks.0"),
    "evaluate.ks above the catalogue": Case("degenerate", _set("evaluate.ks", [20, 50]),
                                           "evaluate.ks (K up to 50"),
    "evaluate.ks empty": Case("params", _set("evaluate.ks", []),
                              "[params]: evaluate.ks"),
    "evaluate.ks above the lists' length": Case("params", _set("evaluate.ks", [500]),
                                                "[params]: evaluate.ks.0"),
    "evaluate.ks repeated": Case("params", _set("evaluate.ks", [10, 10]),
                                 "[params]: evaluate.ks: [10, 10] repeats a K"),
    "fusion weights all zero": Case(
        "params", _set("fuse.weights", {"text": 0, "image": 0, "behaviour": 0}),
        "fuse.weights: all zero"),
    "fusion weight NaN": Case("params", _set("fuse.weights", {"text": float("nan")}),
                              "[params]: fuse.weights.text"),
    "fusion weight for an unknown modality": Case(
        "params", _set("fuse.weights", {"audio": 1.0}), "[params]: fuse.weights"),
    "split fractions out of range": Case("params", _set("split.valid_frac", 0.7),
                                         "[params]: split.valid_frac"),
    "quality threshold above 1": Case("params", _set("validate.max_missing_text_frac", 1.5),
                                      "[params]: validate.max_missing_text_frac"),
    "max_pixels zero": Case("params", _set("encode.image.max_pixels", 0),
                            "[params]: encode.image.max_pixels"),
    "EDIS with the full softmax": Case(
        "params", lambda d: (_set("train.sampler", "full")(d), _set("train.edis", True)(d)),
        "[params]: train.edis: EDIS mixes sampled negatives"),
    "a budget MSAC's hard share leaves too few easy negatives in": Case(
        "params", lambda d: (_set("train.sampler", "esans")(d), _set("train.n_negatives", 3)(d)),
        "[params]: train.n_negatives: 3 leaves 1 easy negative(s) after train.m_c (2)"),
    "hard and easy candidate counts that differ, from an earlier params file": Case(
        "params", lambda d: (_set("train.hard_candidates", 2)(d),
                             _set("train.easy_candidates", 3)(d)),
        "[params]: train.hard_candidates / easy_candidates: [2, 3] differ"),
    "a knob no longer offered": Case("params", _set("train.hard_weight", 2),
                                     "[params]: train.hard_weight: 2 is no longer offered"),
    "registry keeps fewer than it compares": Case(
        "params", lambda d: (_set("promote.keep", 2)(d), _set("promote.compare_last", 3)(d)),
        "[params]: promote.keep: 2 is below promote.compare_last"),

    # --- degenerate catalogues: checked in validate / split before anything is published
    "three items": Case("degenerate", _catalogue(n_items=3, n_users=40, per_user=3),
                        "[catalogue-size]: the catalogue has 3 items; cluster.n_l1"),
    "one user": Case("degenerate", _catalogue(n_users=1, per_user=120),
                     "[catalogue-size]: 1 user(s) with interactions; training and evaluation "
                     "need >= 2"),
    "too few interactions": Case("degenerate", _catalogue(n_users=4, per_user=5),
                                 "validate.min_interactions"),
    "one event per user: nothing to validate or test on": Case(
        "degenerate", _catalogue(n_users=130, per_user=1), "split.valid_frac",
        stages=("ingest", "validate", "split")),
    "text missing for most items": Case(     # (no text at all is a catalogue without text)
        "degenerate", lambda d: _edit(d / "items.csv", lambda t: "\n".join(
            t.splitlines()[:2] + [f"{r.split(',')[0]},{r.split(',')[1]},,{r.split(',')[3]}"
                                  for r in t.splitlines()[2:]]) + "\n"),
        "validate.max_missing_text_frac"),
    "images missing for most items": Case(
        "degenerate", lambda d: _images(d, lambda p: None, "nowhere.png"),
        "validate.max_missing_image_frac"),

    # --- filesystem: image and data paths that are not plain files in the data folder
    "corrupt JPEG": Case("filesystem",
                         lambda d: _images(d, lambda p: p.write_bytes(b"\xff\xd8\xff\xe0junk")),
                         "'image_status' failed expect_column_values_to_be_in_set (100.0% of "
                         "rows); e.g. ['corrupt"),
    "truncated PNG": Case("filesystem", lambda d: _images(d, lambda p: p.write_bytes(
        (d / "img" / "0.png").read_bytes()[:60])), "e.g. ['corrupt"),
    "zero-byte images": Case("filesystem", lambda d: _images(d, lambda p: p.write_bytes(b"")),
                             "e.g. ['corrupt"),
    "decompression bomb": Case("filesystem", lambda d: _images(d, _bomb_png),
                               "e.g. ['too_large"),
    "image path is a folder": Case("filesystem", lambda d: _images(d, lambda p: p.mkdir()),
                                   "'image_status' failed"),
    "image path is a FIFO": Case("filesystem", lambda d: _images(d, _fifo),
                                 "'image_status' failed"),
    "image path ../../etc/passwd": Case(
        "filesystem", lambda d: _replace_line(d / "items.csv", 1, "0,T,x,../../etc/passwd"),
        "items.csv row 2 [image-path]: image_path '../../etc/passwd' leads outside"),
    "absolute image path": Case("filesystem",
                                lambda d: _replace_line(d / "items.csv", 1, "0,T,x,/etc/passwd"),
                                "row 2 [image-path]: image_path '/etc/passwd' is absolute"),
    "symlink out of the data root": Case("filesystem", _symlink_out, "[image-path]"),
    "symlink loop": Case("filesystem", _symlink_loop,
                         "raw/items.csv row 2 [image-path]: image_path 'img/loop-a.png' cannot "
                         "be resolved (a symlink loop)"),
    "items file is a folder": Case("filesystem", lambda d: (
        (d / "items.csv").unlink(), (d / "items.csv").mkdir()),
        "raw/items.csv: no parquet parts found (a folder is read as its *.parquet files)"),
    "interactions file missing": Case("filesystem", lambda d: (d / "inter.csv").unlink(),
                                      "raw/inter.csv: file not found"),
    "parquet folder with no parts": Case("filesystem", lambda d: (
        (d / "parts").mkdir(),
        _params(d, lambda p: p["data"]["files"].update(interactions="raw/parts"))),
        "raw/parts: no parquet parts found"),

    # --- lock: one run owns the workspace; a second writer refuses, naming the holder
    "a stage by hand while dvc repro runs": Case(
        "lock", lambda d: None, "[lock]: `dvc repro` (or another dvc command) is using this "
        "workspace", hold=".dvc/tmp/lock"),
    "a stage by hand while a retrain flow runs": Case(
        "lock", lambda d: None, "[lock]: a retrain or sweep flow is using this workspace",
        hold=".dvc/tmp/esans-flow.lock"),
    "two stages at once": Case("lock", lambda d: None, "[lock]: another esans stage",
                               hold=".dvc/tmp/esans-stage.lock"),
}


def _add_string_vector(d: Path) -> None:
    import polars as pl

    df = pl.read_parquet(d / "items.parquet")
    df.with_columns(pl.Series("vector", [["a", "b"]] * df.height)).write_parquet(
        d / "items.parquet")
