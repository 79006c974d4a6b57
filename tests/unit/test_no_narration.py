"""The repository speaks of the product, not of its own making: no issue numbers, no
"this stop" or "an earlier session", in the docs, the code, the params or the tests."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import ROOT

PATTERNS = [
    r"\bissues? ?#?\d+",
    r"\b(this|that|the last|last|closing|an earlier|earlier|next|previous|one) stops?\b",
    r"\bstops? \d+\b",
    r"\b(this|that|an earlier|a later|the last|earlier|later|previous|next) sessions?('s)?\b",
    r"\b(an earlier|a later|this) machine's\b",
    r"\bearlier (machine|preparation)s?\b",
    r"\blab notebook\b",
    r"\buntil (this|now)\b",
]
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".sh", ".j2", ".txt", ".cfg"}
SKIP = {"tests/unit/test_no_narration.py"}


def _files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return [f for f in out if f not in SKIP and (f.endswith(tuple(SUFFIXES)) or f == "Makefile")
            and (ROOT / f).is_file()]


def test_no_file_narrates_the_projects_own_making():
    rx = re.compile("|".join(PATTERNS), re.IGNORECASE)
    hits = []
    for f in _files():
        for n, line in enumerate((ROOT / f).read_text(errors="replace").splitlines(), 1):
            m = rx.search(line)
            if m:
                hits.append(f"{f}:{n}: {m.group(0)!r}: {line.strip()[:100]}")
    assert not hits, "narration of the project's own making:\n" + "\n".join(hits)


def test_the_patterns_catch_what_they_are_for():
    rx = re.compile("|".join(PATTERNS), re.IGNORECASE)
    for said in ("Verdict (issue 14)", "the default for one stop", "at the closing stop",
                 "an earlier session's preparation", "on this machine's preparation",
                 "issue #18", "until this stop"):
        assert rx.search(said), said
    for fine in ("make stop", "errors stop the pipeline", "early stop: no gain",
                 "in its own session (so stop takes its children)", "a sampled softmax"):
        assert not rx.search(fine), fine
