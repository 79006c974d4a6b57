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


def test_every_sampler_in_the_table_is_built_and_its_traits_hold():
    """config.SAMPLERS is the one table of samplers: each name builds (only the full softmax
    has no sampler), draws hard negatives iff its traits say so, and EDIS is decided once."""
    import torch

    from esans.config import SAMPLERS, TrainParams
    from esans.trainer import build_sampler
    from tests.unit.test_training import tiny_data

    data = tiny_data()
    gen = torch.Generator().manual_seed(0)
    for name, traits in SAMPLERS.items():
        if name == "auto":       # a rule over two samplers (tests/unit/test_auto_sampler.py)
            continue
        tp = TrainParams(sampler=name, n_negatives=3, m_c=1, candidates=3)
        s = build_sampler(tp, data)
        assert (s is None) == (not traits.sampled), name
        if s is not None:
            neg = s.sample(torch.tensor([0, 1]), torch.tensor([0, 1]), gen)
            assert (neg.hard is not None) == traits.hard, name
        assert tp.uses_edis == traits.edis, name
        assert TrainParams(sampler=name, edis=traits.sampled).uses_edis == traits.sampled


AUTO = {"selection_table_every": "auto"}


@pytest.mark.parametrize("change, every", [
    ({}, 0),                                                   # the default: exact scoring
    ({"sampler": "dns"}, 0), ({"sampler": "uniform"}, 0),
    (AUTO, 0),                       # the default rule (full softmax / pool) draws none
    ({**AUTO, "sampler": "esans"}, "auto"),                    # the project's ESANS selects
    ({**AUTO, "sampler": "esans", "candidates": 1}, 0),        # the paper's keeps every draw
    ({**AUTO, "sampler": "dns"}, "auto"), ({**AUTO, "sampler": "mixgcf"}, "auto"),
    ({**AUTO, "sampler": "uniform"}, 0), ({**AUTO, "sampler": "mixed"}, 0),
    ({**AUTO, "sampler": "full"}, 0),
    ({"sampler": "dns", "selection_table_every": 7}, 7),
])
def test_the_shipped_params_switch_sampler_in_one_key_and_the_table_follows(tmp_path, change,
                                                                            every):
    """params.yaml scores candidates exactly; with selection_table_every: auto they are scored
    on the stale table where the training selects and nowhere else, so switching to a baseline
    or to the paper's ESANS stays one change (an explicit table without a selection is still
    an error)."""
    from esans.config import AUTO_TABLE_EVERY

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["train"].update(change)
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(raw))
    t = load_params(f).train
    assert t.table_every == (AUTO_TABLE_EVERY if every == "auto" else every)
    assert t.table_every == 0 or t.selects
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["train"].update(sampler="uniform", selection_table_every=5)
    f.write_text(yaml.safe_dump(raw))
    with pytest.raises(EsansError, match="train.selection_table_every: 5 needs a hard selection"):
        load_params(f)


def test_checkpoint_every_auto_throttles_and_a_number_is_exact():
    from esans.config import AUTO_CHECKPOINT, TrainParams

    assert TrainParams().checkpointing == AUTO_CHECKPOINT == (50, 30.0, 0.05)
    assert TrainParams(checkpoint_every=3).checkpointing == (3, 0.0, 1.0)
    # the spelling of earlier params files and bundles
    old = {"checkpoint_every": 50, "checkpoint_min_seconds": 30, "checkpoint_max_overhead": 0.05}
    assert TrainParams.model_validate(old).checkpoint_every == "auto"
    exact = {"checkpoint_every": 3, "checkpoint_min_seconds": 0, "checkpoint_max_overhead": 1}
    assert TrainParams.model_validate(exact).checkpointing == (3, 0.0, 1.0)


def test_sparse_id_rows_with_the_full_softmax_are_an_error(tmp_path):
    """The full softmax updates every item row each step: forcing sparse id rows (a lazy
    row-wise Adam) on it is contradictory and named by its key; auto and false are fine."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["train"].update(sampler="full", sparse_ids=True)
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(raw))
    with pytest.raises(EsansError, match="train.sparse_ids: true needs a sampled loss"):
        load_params(f)
    for ok in ("auto", False):
        raw["train"]["sparse_ids"] = ok
        f.write_text(yaml.safe_dump(raw))
        assert load_params(f).train.sampler == "full"
