"""The CLI: every stage is a verb; bad input is one clear line, not a traceback."""

import sys
from pathlib import Path

import yaml

from esans.stages import NAMES
from tests.conftest import BIN, ROOT, run

ESANS = str(Path(sys.executable).parent / "esans")


def test_help_lists_every_dvc_stage():
    out = run([ESANS, "--help"], ROOT).stdout
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert list(stages) == NAMES
    for name in stages:
        assert f" {name} " in out, name
        assert stages[name]["cmd"] == f"esans {name}"


def test_missing_input_file_is_one_line_naming_it(tmp_path):
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    proc = run([ESANS, "split"], tmp_path, check=False)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in proc.stderr
    assert err[0].startswith("esans: error: data/ingest/catalogue.parquet: file not found")


def test_malformed_input_file_is_one_line_naming_it(tmp_path):
    (tmp_path / "params.yaml").write_text(
        "data:\n  source: files\n  files:\n    interactions: inter.csv\n    items: items.csv\n")
    (tmp_path / "items.csv").write_text("item_id,title,text\n1,a,b\n")
    (tmp_path / "inter.csv").write_text("user_id,item_id,when\n1,1,5\n")
    proc = run([ESANS, "ingest"], tmp_path, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line
    assert "inter.csv" in line and "timestamp" in line and "[schema]" in line


def test_malformed_params_is_one_line(tmp_path):
    (tmp_path / "params.yaml").write_text("train: {epochs: -3}\n")
    proc = run([ESANS, "ingest"], tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("esans: error: params.yaml")
    assert "train.epochs" in proc.stderr and "Traceback" not in proc.stderr


def test_non_numeric_timestamp_names_row(tmp_path):
    (tmp_path / "params.yaml").write_text(
        "data:\n  source: files\n  files:\n    interactions: i.csv\n    items: t.csv\n")
    (tmp_path / "t.csv").write_text("item_id,title,text\n1,a,b\n")
    (tmp_path / "i.csv").write_text("user_id,item_id,timestamp\n1,1,5\n1,1,yesterday\n")
    proc = run([ESANS, "ingest"], tmp_path, check=False)
    assert proc.returncode == 2
    assert "i.csv row 3 [dtype]" in proc.stderr and "yesterday" in proc.stderr
    assert BIN.exists()
