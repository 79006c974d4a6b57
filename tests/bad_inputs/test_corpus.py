"""A corpus of bad inputs (``cases.py``): each must fail with one clear line and change
nothing published.

Every case starts from a small valid catalogue (the `files` source), breaks one thing, runs
the stages it names (``esans ingest`` then ``esans validate`` as `dvc repro` would, stopping at
the first failure) and checks: exit code 2, a single `esans: error:` line naming the file /
row / rule or params key (no traceback), and the published model, index, metrics, top-K lists
and report byte-identical to before.

The stages run in this process through the CLI's own ``main()`` (imports paid once, so the
corpus stays cheap as it grows); ``test_the_cli_process_agrees`` runs a few cases through
the installed ``esans`` executable to show the two agree.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.bad_inputs.cases import CASES, good_catalogue
from tests.conftest import copy_project, run, set_params

# As in a plain `esans` process, where Python hides DeprecationWarnings from libraries.
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
ESANS = str(Path(sys.executable).parent / "esans")
PUBLISHED = ["models/candidate", "data/index", "data/evaluate", "data/split", "metrics.json",
             "reports/index.html", "reports/train.json"]


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for rel in PUBLISHED:
        p = root / rel
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
        for f in files:
            out[str(f.relative_to(root))] = hashlib.sha256(f.read_bytes()).hexdigest()
    assert out, "nothing published to protect"
    return out


@pytest.fixture(scope="module")
def published(built_project, tmp_path_factory):
    return copy_project(built_project, tmp_path_factory.mktemp("bad") / "ws")


@contextlib.contextmanager
def files_source(ws: Path, raw: str = "raw"):
    """The workspace reading a fresh good catalogue from ``ws/raw``; params restored after."""
    shutil.rmtree(ws / raw, ignore_errors=True)
    good_catalogue(ws / raw)
    original = (ws / "params.yaml").read_bytes()
    set_params(ws, {"data": {"source": "files", "files": {
        "interactions": f"{raw}/inter.csv", "items": f"{raw}/items.csv"}},
        "evaluate": {"ks": [5, 10, 20]}})      # below the small catalogue's item count
    try:
        yield ws / raw
    finally:
        (ws / "params.yaml").write_bytes(original)


def in_process(ws: Path, stage: str, capfd, monkeypatch) -> tuple[int, str]:
    """``esans <stage> -q`` through the CLI's main() in ``ws``: (exit code, stderr). An
    exception other than the CLI's own exit is what a user would see as a traceback."""
    from esans import cli

    monkeypatch.chdir(ws)
    for var in ("DVC_STAGE", "ESANS_FLOW_RUN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "argv", ["esans", stage, "-q"])
    capfd.readouterr()
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # noqa: BLE001 - the point: anything else is a traceback
        pytest.fail(f"esans {stage}: traceback ({type(exc).__name__}: {exc})")
    return code, capfd.readouterr().err


def _held(ws: Path, rel: str | None):
    from esans.lock import workspace_lock

    return workspace_lock(ws / rel) if rel else contextlib.nullcontext()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_cleanly_and_publishes_nothing(published, case, capfd, monkeypatch):
    c = CASES[case]
    ws = published
    with files_source(ws) as raw:
        before = snapshot(ws)
        c.breaker(raw)
        with _held(ws, c.hold):
            for stage in c.stages:
                code, err = in_process(ws, stage, capfd, monkeypatch)
                if code:
                    break
        assert code == 2, f"{case}: exit {code} after {stage}\n{err}"
        err = err.strip()
        assert "Traceback" not in err
        assert len(err.splitlines()) == 1, err
        assert err.startswith("esans: error: ") and c.expected in err, err
        if "[params]" in err:      # a params error names the file and the line of its key
            assert re.match(r"esans: error: params\.yaml row \d+ \[params\]: ", err), err
        assert snapshot(ws) == before


def test_every_class_has_several_cases():
    kinds = collections.Counter(c.kind for c in CASES.values())
    assert set(kinds) == {"garbage", "format", "params", "degenerate", "filesystem", "lock"}
    assert min(kinds.values()) >= 3, kinds
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", ["null item id", "evaluate.ks zero", "symlink loop"])
def test_the_cli_process_agrees(published, case):
    """The in-process runs above match what the installed executable prints and returns."""
    c = CASES[case]
    ws = published
    with files_source(ws) as raw:
        before = snapshot(ws)
        c.breaker(raw)
        for stage in c.stages:
            proc = run([ESANS, stage, "-q"], ws, check=False)
            if proc.returncode:
                break
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
        assert proc.stderr.startswith("esans: error: ") and c.expected in proc.stderr
        assert snapshot(ws) == before


def test_the_good_catalogue_itself_passes(published, capfd, monkeypatch):
    with files_source(published, "raw2"):
        for stage in ("ingest", "validate", "split"):
            code, err = in_process(published, stage, capfd, monkeypatch)
            assert code == 0, err
        report = json.loads((published / "reports/validate.json").read_text())
    assert report["success"] and report["n_warnings"] == 0
