"""The one error type the pipeline raises for bad input: it names the file, row and rule."""

from __future__ import annotations


class EsansError(Exception):
    """A user-facing error: bad input, bad params, missing file.

    The CLI prints ``str(err)`` on one line and exits non-zero; no traceback.
    """

    def __init__(self, message: str, *, path: object | None = None, row: object | None = None,
                 rule: str | None = None) -> None:
        parts = []
        if path is not None:
            parts.append(str(path))
        if row is not None:
            parts.append(f"row {row}")
        if rule is not None:
            parts.append(f"[{rule}]")
        prefix = ": ".join([" ".join(parts)]) if parts else ""
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path, self.row, self.rule = path, row, rule
