"""A user's own catalogue: an interactions table and an items table (CSV or parquet).

interactions: user_id, item_id, timestamp (unix seconds, integer), optional rating
items:        item_id, title, text, optional image_path (relative to the items file's folder),
              optional label (a category, used only for diagnostics), optional vector
              (parquet only: a list/array of floats per item, your precomputed embedding; when
              given, the encode stage uses it instead of the text and image encoders),
              optional tags (an item's categories, brands, attributes: a list of strings in
              parquet, ``|``-separated text in CSV/TSV, e.g. ``Skin Care|Face|Brand X``)

A path may be a folder or a glob of parquet parts (``items/``, ``items/part-*.parquet``),
read as one table.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import polars as pl

from esans.errors import EsansError

INTERACTION_COLUMNS = {"required": ["user_id", "item_id", "timestamp"], "optional": ["rating"]}
ITEM_COLUMNS = {"required": ["item_id", "title", "text"],
                "optional": ["image_path", "label", "vector", "tags"]}
TAG_SEPARATOR = "|"


def read_table(path: Path, columns: dict[str, list[str]]) -> pl.DataFrame:
    """Read CSV or parquet with every column as text-or-number, check the column set."""
    parts = (sorted(path.glob("*.parquet")) if path.is_dir() else
             sorted(path.parent.glob(path.name)) if any(c in path.name for c in "*?[") else None)
    if parts is not None and not parts:
        raise EsansError("no parquet parts found (a folder is read as its *.parquet files)",
                         path=path)
    if parts is None and not path.exists():
        raise EsansError("file not found", path=path)
    if parts is None and path.stat().st_size == 0:
        raise EsansError("file is empty", path=path, rule="non-empty")
    try:
        if parts is not None:
            df = pl.read_parquet(parts)
        elif path.suffix.lower() in {".parquet", ".pq"}:
            df = pl.read_parquet(path)
        elif path.suffix.lower() in {".csv", ".tsv"}:
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = raw[: exc.start].count(b"\n") + 1
                raise EsansError(f"not valid UTF-8 (byte {raw[exc.start]:#x}); re-save the file "
                                 "as UTF-8", path=path, row=line, rule="encoding") from None
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            _check_fields(text, sep, path)
            del text
            df = pl.read_csv(raw, separator=sep, infer_schema=False)
        else:
            raise EsansError("unsupported format (use .csv, .tsv or .parquet)", path=path)
    except EsansError:
        raise
    except Exception as exc:  # polars/arrow raise many types for corrupt input
        raise EsansError(f"cannot read: {type(exc).__name__}: {exc}".split("\n")[0],
                         path=path) from None
    missing = [c for c in columns["required"] if c not in df.columns]
    if missing:
        raise EsansError(f"missing required column(s) {missing}; found {df.columns}", path=path,
                         rule="schema")
    unknown = [c for c in df.columns if c not in columns["required"] + columns["optional"]]
    if unknown:
        raise EsansError(f"unknown column(s) {unknown}; allowed: "
                         f"{columns['required'] + columns['optional']}", path=path, rule="schema")
    if df.height == 0:
        raise EsansError("no data rows (header only)", path=path, rule="non-empty")
    text = [c for c in columns["required"] if df[c].dtype == pl.String]
    if text:   # files concatenated with their headers: a data row that repeats the header
        again = df.select(pl.all_horizontal([pl.col(c).str.strip_chars() == c for c in text])
                          .fill_null(False)).to_series()
        if again.any():
            row = int(again.arg_true()[0])
            raise EsansError(f"row repeats the header {text} (files concatenated?); remove it",
                             path=path, row=record_line(path, row), rule="header")
    return df


# No cap on a field's length here: a long text is validation's rule (text_length, the same
# for CSV and parquet), not the csv module's default 131,072 characters.
csv.field_size_limit(2**31 - 1)
_SEPARATORS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}


def _other_separator(header: str, sep: str) -> str | None:
    """The separator a one-column header really uses, if it is another common one."""
    counts = {s: header.count(s) for s in _SEPARATORS if s != sep}
    best = max(counts, key=counts.get)
    return best if counts[best] >= 2 else None


def _check_fields(text: str, sep: str, path: Path) -> None:
    """Every record has as many fields as the header: a short row is not padded with
    missing values, a long one not cut (the error names the line the record starts on). A
    header that is one column but split by another separator is named for what it is."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    header, start = None, 1
    for fields in reader:
        if fields:
            if header is None:
                header = len(fields)
                other = _other_separator(fields[0], sep) if header == 1 else None
                if other is not None:
                    fix = ("rename the file to .tsv" if other == "\t" else
                           f"re-save it {_SEPARATORS[sep]}-separated")
                    raise EsansError(f"the header is {_SEPARATORS[other]}-separated, but a "
                                     f"{path.suffix} file is read {_SEPARATORS[sep]}-separated: "
                                     f"{fix}", path=path, row=1, rule="separator")
                twice = sorted({f for f in fields if fields.count(f) > 1})
                if twice:
                    raise EsansError(f"column(s) {twice} appear more than once in the header",
                                     path=path, row=1, rule="schema")
            elif len(fields) != header:
                hint = (f" (an unquoted {sep!r} in a value?)" if len(fields) > header else
                        " (an unclosed quote?)" if reader.line_num > start else "")
                raise EsansError(f"record has {len(fields)} field(s); the header has {header}"
                                 f"{hint}", path=path, row=start, rule="fields")
        start = reader.line_num + 1


def record_line(path: Path, row: int) -> int:
    """Where data row ``row`` (0-based) is, as a user finds it: its first line in a CSV/TSV
    file (quoted fields may span lines, so this is not ``row + 2``), else its 1-based record
    number in parquet."""
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".tsv"} or not path.is_file():
        return row + 1
    import csv

    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter="\t" if suffix == ".tsv" else ",")
        end = 0
        for i, _ in enumerate(reader):
            if i == row + 1:          # record 0 is the header
                return end + 1
            end = reader.line_num
    return row + 2


# Which stored (parquet) types each target type accepts; CSV/TSV columns are text, parsed.
# A float where an id or unix seconds belong, a date or a boolean is refused, not coerced.
_ACCEPTS = {
    "id": lambda t: t == pl.String or t.is_integer(),
    "int": lambda t: t == pl.String or t.is_integer(),
    "float": lambda t: t == pl.String or t.is_integer() or t.is_float(),
    "text": lambda t: t == pl.String,
}
_HINT = {"int": "integer unix seconds", "id": "a string or integer id",
         "float": "a number", "text": "text"}


def _kind(col: str, dtype: pl.DataType) -> str:
    return ("id" if col.endswith("_id") else "int" if dtype.is_integer()
            else "float" if dtype.is_float() else "text")


def _cast(df: pl.DataFrame, path: Path, col: str, dtype: pl.DataType,
          required: bool = True) -> pl.Series:
    """``col`` as ``dtype``: text is parsed, a stored type is accepted only if it means the
    same thing (``_ACCEPTS``); a required column has a value in every row."""
    src = df[col]
    kind = _kind(col, dtype)
    if src.dtype != pl.Null and not _ACCEPTS[kind](src.dtype):
        raise EsansError(f"column {col!r} is stored as {src.dtype}; expected {_HINT[kind]} "
                         "(convert it in the file; it is not coerced)", path=path,
                         rule="dtype")
    if src.dtype == pl.String:
        src = src.str.strip_chars()
        src = pl.select(pl.when(src == "").then(None).otherwise(src)).to_series().alias(col)
    if required and src.null_count():
        row = int(src.is_null().arg_true()[0])
        raise EsansError(f"column {col!r}: missing value", path=path, row=record_line(path, row),
                         rule="required")
    out = src.cast(dtype, strict=False)
    bad = out.is_null() & src.is_not_null()
    if dtype.is_float():
        bad = bad | (out.is_nan() | out.is_infinite()).fill_null(False)
    if bad.any():
        row = int(bad.arg_true()[0])
        raise EsansError(f"column {col!r}: value {src[row]!r} is not a valid {dtype}",
                         path=path, row=record_line(path, row), rule="dtype")
    return out


def _text(df: pl.DataFrame, path: Path, col: str) -> pl.Series:
    """A text column: stored as text (a number or date is refused, not coerced); kept as is."""
    src = df[col]
    if src.dtype not in (pl.String, pl.Null):
        raise EsansError(f"column {col!r} is stored as {src.dtype}; expected text", path=path,
                         rule="dtype")
    return src.cast(pl.String)


def item_tags(df: pl.DataFrame, path: Path) -> pl.Series:
    """The ``tags`` column as a list of strings per item: parquet lists of strings as they
    are, text split on ``|``; anything else is refused, not coerced."""
    col = df["tags"]
    if col.dtype in (pl.String, pl.Null):
        return col.cast(pl.String).str.split(TAG_SEPARATOR).alias("tags")
    if isinstance(col.dtype, pl.List) and col.dtype.inner in (pl.String, pl.Null):
        return col.cast(pl.List(pl.String))
    raise EsansError(f"column 'tags' is stored as {col.dtype}; expected a list of strings "
                     f"(parquet) or {TAG_SEPARATOR!r}-separated text (CSV)", path=path,
                     rule="dtype")


def item_vectors(df: pl.DataFrame, path: Path) -> np.ndarray:
    """The ``vector`` column as an (N, d) float32 array; every row a finite vector of the
    same length, else an error naming the row."""
    col = df["vector"]
    if not isinstance(col.dtype, pl.List | pl.Array) or not col.dtype.inner.is_numeric():
        raise EsansError(f"column 'vector' must be a list of numbers per item (parquet); got "
                         f"{col.dtype}", path=path, rule="vector")
    lengths = col.list.len() if isinstance(col.dtype, pl.List) else pl.Series(
        [col.dtype.size] * len(col))
    null = col.is_null()
    if null.any():
        raise EsansError("missing vector", path=path,
                         row=record_line(path, int(null.arg_true()[0])),
                         rule="vector")
    d = int(lengths[0])
    bad = lengths != d
    if d == 0 or bad.any():
        row = int(bad.arg_true()[0]) if bad.any() else 0
        raise EsansError(f"vector has {int(lengths[row])} values; the first row has {d} (every "
                         "vector must have the same, non-zero length)", path=path,
                         row=record_line(path, row),
                         rule="vector")
    flat = (col.list.explode() if isinstance(col.dtype, pl.List) else col.arr.explode())
    vecs = flat.cast(pl.Float32).to_numpy().reshape(len(col), d)
    finite = np.isfinite(vecs).all(1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise EsansError("vector has NaN or infinite values", path=path, row=record_line(path, row),
                         rule="vector")
    return np.ascontiguousarray(vecs)


def safe_image_path(value: str | None, items_file: Path, row: int,
                    project_root: str | Path) -> str | None:
    """Resolve an image path against the items file's folder; refuse any that escapes it
    (``..``, absolute paths, symlinks pointing outside). Never reads the file. ``row`` is
    the 0-based data row (errors name its line)."""
    if value is None or not value.strip():
        return None
    root = items_file.parent.resolve()
    if os.path.isabs(value):
        raise EsansError(f"image_path {value!r} is absolute; give it relative to the items "
                         "file's folder", path=items_file, row=record_line(items_file, row),
                         rule="image-path")
    try:
        target = (root / value).resolve()  # follows symlinks
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long, ...
        raise EsansError(f"image_path {value!r} cannot be resolved "
                         f"({'a symlink loop' if 'loop' in str(exc).lower() else exc})",
                         path=items_file, row=record_line(items_file, row),
                         rule="image-path") from None
    if not target.is_relative_to(root):
        raise EsansError(f"image_path {value!r} leads outside the data folder {root}",
                         path=items_file, row=record_line(items_file, row), rule="image-path")
    return os.path.relpath(target, project_root)


def load(interactions: str | Path, items: str | Path,
         project_root: str | Path = ".") -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    ipath, tpath = Path(interactions), Path(items)
    inter = read_table(ipath, INTERACTION_COLUMNS)
    inter = inter.with_columns(
        _cast(inter, ipath, "user_id", pl.String()), _cast(inter, ipath, "item_id", pl.String()),
        _cast(inter, ipath, "timestamp", pl.Int64()),
        *([_cast(inter, ipath, "rating", pl.Float64(), required=False)]
          if "rating" in inter.columns else []))
    cat = read_table(tpath, ITEM_COLUMNS)
    cat = cat.with_columns(_cast(cat, tpath, "item_id", pl.String()),
                           *[_text(cat, tpath, c) for c in ("title", "text", "image_path",
                                                            "label") if c in cat.columns])
    if "image_path" in cat.columns:
        cat = cat.with_columns(pl.Series("image_path", [
            safe_image_path(p, tpath, row, project_root)
            for row, p in enumerate(cat["image_path"].to_list())], dtype=pl.String))
    if "tags" in cat.columns:
        cat = cat.with_columns(item_tags(cat, tpath))
    if "vector" in cat.columns:
        vecs = item_vectors(cat, tpath)
        cat = cat.drop("vector").with_columns(
            pl.Series("vector", vecs, dtype=pl.Array(pl.Float32, vecs.shape[1])))
    return cat, inter, {"items": cat.height, "interactions": inter.height}
