"""The data watcher fires on content changes of the configured inputs only."""

from __future__ import annotations

import os
import shutil

from PIL import Image

from flows.watch import Watcher
from tasks.params import run_overrides
from tests.bad_inputs.test_corpus import good_catalogue
from tests.conftest import ROOT, set_params


def _project(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / ".dvc/tmp").mkdir(parents=True)
    good_catalogue(tmp_path / "raw")
    set_params(tmp_path, {"data": {"source": "files", "files": {
        "interactions": "raw/inter.csv", "items": "raw/items.csv"}}})
    return tmp_path


def test_a_touch_is_no_change_and_new_bytes_are(tmp_path):
    p = _project(tmp_path)
    w = Watcher(p)
    assert len(w.images) == 30
    st = (p / "raw/inter.csv").stat()
    os.utime(p / "raw/inter.csv", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    (p / "raw/img/3.png").touch()
    assert w.moved() and w.changes() == []
    with open(p / "raw/inter.csv", "a") as fh:
        fh.write("u0,5,1600009999,4\n")
    assert w.moved() and w.changes() == ["raw/inter.csv"]


def test_a_poster_replaced_in_place_is_a_change(tmp_path):
    p = _project(tmp_path)
    w = Watcher(p)
    Image.new("RGB", (24, 24), (1, 2, 3)).save(p / "raw/img/7.png")
    assert w.moved() and w.changes() == ["images (30 files)"]


def test_a_runs_own_overrides_are_not_a_data_change(tmp_path):
    p = _project(tmp_path)
    good_catalogue(p / "other")
    w = Watcher(p)
    with run_overrides(p, {"data.files.interactions": "other/inter.csv"}):
        assert not w.moved()                # the watcher reads the user's params, not the run's
    assert not w.moved()
