"""Run parameters apply to one flow run only: params.yaml is byte-identical afterwards."""

import pytest
import yaml

from esans.errors import EsansError
from tasks.params import BACKUP, restore_interrupted, run_overrides
from tests.conftest import ROOT


@pytest.fixture
def root(tmp_path):
    (tmp_path / ".dvc/tmp").mkdir(parents=True)
    # the real file: comments, `null`s and layout that a YAML round trip would rewrite
    (tmp_path / "params.yaml").write_bytes((ROOT / "params.yaml").read_bytes())
    return tmp_path


def test_overrides_apply_inside_and_leave_the_file_byte_identical(root):
    before = (root / "params.yaml").read_bytes()
    with run_overrides(root, {"train.sampler": "uniform", "data.source": "movielens"}):
        inside = yaml.safe_load((root / "params.yaml").read_text())
        assert inside["train"]["sampler"] == "uniform"
        assert inside["data"]["source"] == "movielens"
        assert (root / BACKUP).read_bytes() == before
    assert (root / "params.yaml").read_bytes() == before and not (root / BACKUP).exists()


def test_a_failing_run_restores_too(root):
    before = (root / "params.yaml").read_bytes()
    with pytest.raises(RuntimeError, match="stage failed"):
        with run_overrides(root, {"train.sampler": "dns"}):
            raise RuntimeError("stage failed")
    assert (root / "params.yaml").read_bytes() == before


def test_a_bad_override_is_rejected_before_anything_runs(root):
    before = (root / "params.yaml").read_bytes()
    with pytest.raises(EsansError, match="train.sampler"):
        with run_overrides(root, {"train.sampler": "nonsense"}):
            raise AssertionError("the body must not run")
    assert (root / "params.yaml").read_bytes() == before


def test_a_killed_run_is_repaired_by_the_next(root):
    before = (root / "params.yaml").read_bytes()
    (root / BACKUP).write_bytes(before)                       # what a killed run leaves
    (root / "params.yaml").write_text("train:\n  sampler: uniform\n")
    with run_overrides(root, {}):
        assert (root / "params.yaml").read_bytes() == before
    assert not (root / BACKUP).exists() and not restore_interrupted(root)


def test_data_path_goes_to_the_key_of_the_source_the_run_reads(root):
    from tasks.params import source_overrides

    import yaml as _yaml
    params = _yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["source"] = "files"
    (root / "params.yaml").write_text(_yaml.safe_dump(params))
    # no source given: params.yaml's (files), never movielens
    assert source_overrides(root, None, "new/inter.csv") == {
        "data.files.interactions": "new/inter.csv"}
    assert source_overrides(root, "movielens", "/ml") == {
        "data.source": "movielens", "data.movielens.path": "/ml"}
    assert source_overrides(root, "s3rec", "/amazon") == {
        "data.source": "s3rec", "data.s3rec.path": "/amazon"}
    assert source_overrides(root, "synthetic", None) == {"data.source": "synthetic"}
    with pytest.raises(EsansError, match="synthetic source reads no files"):
        source_overrides(root, "synthetic", "x.csv")
