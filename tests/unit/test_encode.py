"""Encoders: HF text/vision paths on tiny random models, offline defaults with real weights,
the image loading policy, and the incremental cache."""

import json
import os
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esans.encode import image, text
from tests.conftest import run
from tests.hf_tiny import tiny_bert, tiny_clip, tiny_vit

ESANS = str(Path(sys.executable).parent / "esans")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("hf")
    return {"bert": tiny_bert(d / "bert"), "vit": tiny_vit(d / "vit"),
            "clip": tiny_clip(d / "clip")}


def test_hf_text_path_mean_and_cls(models):
    texts = ["the story of space", "rocket chef", ""]
    mean = text.encode(texts, str(models["bert"]), "mean", progress=False)
    cls = text.encode(texts, str(models["bert"]), "cls", progress=False)
    assert mean.shape == cls.shape == (3, 16)
    assert np.allclose(np.linalg.norm(mean, axis=1), 1, atol=1e-5)
    assert not np.allclose(mean, cls)
    # batching and length-sorting must not change a text's vector
    one = text.encode(texts[1:2], str(models["bert"]), "mean", progress=False)
    assert np.allclose(one[0], mean[1], atol=1e-5)


@pytest.mark.parametrize("name,dim", [("vit", 16), ("clip", 8)])
def test_hf_vision_paths(models, tmp_path, name, dim):
    Image.new("RGB", (40, 50), (200, 10, 10)).save(tmp_path / "a.png")
    Image.new("RGB", (40, 50), (10, 10, 200)).save(tmp_path / "b.png")
    v, status, counts = image.encode([str(tmp_path / "a.png"), None, str(tmp_path / "b.png")],
                                     str(models[name]), progress=False)
    assert v.shape == (3, dim) and status == ["ok", "missing", "ok"]
    assert np.allclose(v[1], 0) and not np.allclose(v[0], v[2])


def test_offline_defaults_load_real_weights(tmp_path):
    v = text.encode(["a rocket flies to the moon", "astronauts travel through space",
                     "a chef bakes bread in the oven"], "builtin:all-MiniLM-L6-v2",
                    progress=False)
    assert v.shape == (3, 384)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1      # real semantics, not random weights
    for i, colour in enumerate([(250, 0, 0), (245, 10, 5), (0, 0, 250)]):
        Image.new("RGB", (64, 64), colour).save(tmp_path / f"{i}.png")
    iv, status, _ = image.encode([str(tmp_path / f"{i}.png") for i in range(3)],
                                 "builtin:efficientnet-lite0", size=64, progress=False)
    assert iv.shape == (3, 1280) and status == ["ok"] * 3
    assert iv[0] @ iv[1] > iv[0] @ iv[2]


def test_image_loading_policy(tmp_path):
    Image.new("CMYK", (20, 20), (0, 255, 0, 0)).save(tmp_path / "cmyk.jpg")
    Image.new("L", (20, 20), 128).save(tmp_path / "grey.png")
    Image.new("RGBA", (20, 20), (255, 0, 0, 0)).save(tmp_path / "alpha.png")
    Image.new("P", (20, 20)).save(tmp_path / "pal.png")
    Image.new("RGB", (300, 300), (1, 2, 3)).save(tmp_path / "big.png")
    good = (tmp_path / "grey.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    cases = {"cmyk.jpg": "ok", "grey.png": "ok", "alpha.png": "ok", "pal.png": "ok",
             "big.png": "too_large", "trunc.png": "corrupt", "junk.jpg": "corrupt",
             "absent.png": "missing"}
    for name, expected in cases.items():
        img, status = image.load_image(tmp_path / name, max_pixels=200 * 200)
        assert status == expected, name
        if status == "ok":
            assert img.mode == "RGB"
    img, _ = image.load_image(tmp_path / "alpha.png", max_pixels=10_000)
    assert img.getpixel((0, 0)) == (255, 255, 255)      # transparent -> white


def _catalogue(root: Path, texts: list[str]) -> None:
    (root / "img").mkdir(exist_ok=True)
    rows = ["item_id,title,text,image_path"]
    for i, t in enumerate(texts):
        Image.new("RGB", (16, 16), (20 * i, 100, 50)).save(root / "img" / f"{i}.png")
        rows.append(f"{i},title {i},{t},img/{i}.png")
    (root / "items.csv").write_text("\n".join(rows) + "\n")
    inter = ["user_id,item_id,timestamp"] + [f"u{u},{i},{u * 10 + i}" for u in range(5)
                                             for i in range(len(texts))]
    (root / "inter.csv").write_text("\n".join(inter) + "\n")


def test_cache_reencodes_exactly_what_changed(models, tmp_path):
    texts = ["the story of space", "rocket chef", "kitchen story", "space chef"]
    _catalogue(tmp_path, texts)
    params = ("data:\n  source: files\n  files: {interactions: inter.csv, items: items.csv}\n"
              # a 4-item catalogue passes validation (encode refuses data it has not passed)
              "validate: {min_interactions: 1}\ncluster: {n_l1: 2, min_cluster_size: 1}\n"
              "train: {sampler: uniform, n_negatives: 1}\nevaluate: {ks: [1, 2]}\n"
              f"encode:\n  text: {{model: {models['bert']}}}\n"
              f"  image: {{model: {models['vit']}, size: 32}}\n")
    (tmp_path / "params.yaml").write_text(params)

    def ingest_encode():
        run([ESANS, "ingest", "-q"], tmp_path)
        run([ESANS, "validate", "-q"], tmp_path)
        run([ESANS, "encode", "-q"], tmp_path)
        return json.loads((tmp_path / "reports/encode.json").read_text())

    first = ingest_encode()
    assert (first["text_encoded"], first["image_encoded"]) == (4, 4)
    assert first["libraries"]["transformers"] == metadata.version("transformers")
    before = np.load(tmp_path / "data/encode/text.npy")
    assert ingest_encode()["text_encoded"] == 0                     # nothing changed
    texts[2] = "a brand new overview"
    _catalogue(tmp_path, texts)
    r = ingest_encode()
    assert (r["text_encoded"], r["image_encoded"]) == (1, 0)
    after = np.load(tmp_path / "data/encode/text.npy")
    assert np.allclose(before[[0, 1, 3]], after[[0, 1, 3]]) and not np.allclose(before[2],
                                                                                 after[2])
    Image.new("RGB", (16, 16), (0, 0, 0)).save(tmp_path / "img" / "1.png")  # one poster
    r = ingest_encode()
    assert (r["text_encoded"], r["image_encoded"]) == (0, 1)
    (tmp_path / "params.yaml").write_text(params.replace("{model: " + str(models["bert"]),
                                                         "{max_length: 16, model: "
                                                         + str(models["bert"])))
    assert ingest_encode()["text_encoded"] == 4                     # preprocessing changed
    assert os.path.exists(tmp_path / ".cache/encode/text.parquet")


def test_cold_warm_and_half_warm_caches_give_byte_identical_vectors(tmp_path):
    """An item's vector never depends on which other items were encoded with it: the real
    offline encoders, a cold cache vs one filled by encoding a third of the items one at a
    time vs a warm one, byte for byte; and the cache keeps earlier runs' entries."""
    from esans.encode.cache import EmbeddingCache, encode_cached

    rng = np.random.default_rng(0)
    paths, texts = [], []
    for i in range(40):
        f = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), np.uint8)).save(f)
        paths.append(str(f))
        texts.append(" ".join(rng.choice(["space", "chef", "river", "noir", "comedy", "war",
                                          "robot", "love"], size=3 + i % 9)))

    def enc_text(rows):
        return text.encode([texts[i] for i in rows], "builtin:all-MiniLM-L6-v2",
                           batch_size=16, progress=False), ["ok"] * len(rows)

    def enc_image(rows):
        v, s, _ = image.encode([paths[i] for i in rows], "builtin:efficientnet-lite0", 64, 8,
                               progress=False)
        return v, s

    for name, contents, fn in (("text", texts, enc_text), ("image", paths, enc_image)):
        cold = encode_cached(contents, "fp", tmp_path / f"cold-{name}.parquet", fn)[0]
        half = tmp_path / f"half-{name}.parquet"
        for i in range(0, 40, 3):                    # a third of the items, one per run
            one = [c if j == i else None for j, c in enumerate(contents)]
            encode_cached(one, "fp", half, fn)
        assert len(EmbeddingCache(half).table) == 14     # earlier runs' entries are kept
        got, _, n = encode_cached(contents, "fp", half, fn)
        assert n == 26 and got.tobytes() == cold.tobytes(), name
        warm, _, n = encode_cached(contents, "fp", half, fn)
        assert n == 0 and warm.tobytes() == cold.tobytes(), name


def test_another_library_build_reencodes_everything(tmp_path, monkeypatch):
    """Cached vectors are keyed by the encoders' library versions too: after a torch upgrade
    every item is re-encoded (another build's low bits never mix into one catalogue), and
    going back is a cache hit again."""
    from esans.encode import cache

    real = cache.metadata.version
    contents = ["space chef", "river noir", None]
    calls = []

    def fn(rows):
        calls.append(list(rows))
        return np.ones((len(rows), 2), np.float32), ["ok"] * len(rows)

    def fp():
        return cache.fingerprint("m", tmp_path / "absent-model", max_length=8)

    versions = cache.library_versions()
    assert set(versions) == {*cache.LIBRARIES, "onednn_max_cpu_isa"}
    assert versions["torch"] == real("torch") and versions["onednn_max_cpu_isa"] == "AVX2"
    cache.encode_cached(contents, fp(), tmp_path / "c.parquet", fn)
    cache.encode_cached(contents, fp(), tmp_path / "c.parquet", fn)
    monkeypatch.setattr(cache.metadata, "version",
                        lambda name: "9.9.9" if name == "torch" else real(name))
    cache.encode_cached(contents, fp(), tmp_path / "c.parquet", fn)
    monkeypatch.setattr(cache.metadata, "version", real)
    cache.encode_cached(contents, fp(), tmp_path / "c.parquet", fn)
    assert calls == [[0, 1], [0, 1]]           # cold, warm, new torch: all again, back: warm
