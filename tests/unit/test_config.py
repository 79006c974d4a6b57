import pytest
import yaml

from esans.config import Params, load_params
from esans.errors import EsansError
from tests.conftest import ROOT


def test_params_yaml_matches_the_model_exactly():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    p = load_params(ROOT / "params.yaml")
    dumped = p.model_dump(by_alias=True)

    def keys(d, prefix=""):
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict) and k != "weights":
                out |= keys(v, prefix + k + ".")
        return out

    assert keys(raw) == keys(dumped), "params.yaml and esans/config.py disagree"


def test_unknown_key_is_an_error(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("train:\n  samplr: esans\n")
    with pytest.raises(EsansError, match=r"train.samplr.*Extra inputs"):
        load_params(f)


def test_wrong_type_is_an_error(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("train:\n  epochs: many\n")
    with pytest.raises(EsansError, match=r"params.yaml.*train.epochs"):
        load_params(f)


def test_unknown_sampler_is_an_error(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("train:\n  sampler: magic\n")
    with pytest.raises(EsansError, match="train.sampler"):
        load_params(f)


def test_defaults_are_the_paper_defaults():
    p = Params()
    assert (p.train.m_c, p.train.m_o) == (2, 5)
    assert p.evaluate.ks == [20, 50, 100, 200]
    assert (p.split.valid_frac, p.split.test_frac) == (0.1, 0.1)
