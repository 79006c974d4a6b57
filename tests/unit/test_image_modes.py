"""Every image mode Pillow opens reaches the encoder as the RGB image a viewer shows: a
mid-grey (or known-colour) picture stays that colour, whatever its bit depth or format."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from esans.encode.image import load_image

GREY = 0.5   # of full scale in every mode


def _save(tmp_path, im: Image.Image, fmt: str, **kw):
    f = tmp_path / f"x.{fmt}"
    im.save(f, **kw)
    return f


CASES = {
    "16-bit grey PNG": lambda d: _save(d, Image.fromarray(
        np.full((8, 8), int(GREY * 65535), np.uint16)), "png"),
    "32-bit int TIFF": lambda d: _save(d, Image.fromarray(
        np.full((8, 8), int(GREY * 65535), np.int32), "I"), "tiff"),
    "float TIFF in [0, 1]": lambda d: _save(d, Image.fromarray(
        np.full((8, 8), GREY, np.float32), "F"), "tiff"),
    "8-bit grey": lambda d: _save(d, Image.new("L", (8, 8), 128), "png"),
    "bilevel": lambda d: _save(d, Image.fromarray(
        (np.indices((8, 8)).sum(0) % 2).astype(bool)), "png"),     # checkerboard: mean 0.5
    "CMYK JPEG": lambda d: _save(d, Image.new("CMYK", (8, 8), (0, 0, 0, 127)), "jpg",
                                 quality=100),
    "LA with half alpha": lambda d: _save(d, Image.new("LA", (8, 8), (0, 128)), "png"),
    "P with transparency": lambda d: _save(d, _palette_transparent(), "png"),
    "RGBA": lambda d: _save(d, Image.new("RGBA", (8, 8), (0, 0, 0, 128)), "png"),
    "YCbCr JPEG": lambda d: _save(d, Image.new("YCbCr", (8, 8), (128, 128, 128)), "jpg",
                                  quality=100),
    "LAB TIFF": lambda d: _save(d, Image.new("LAB", (8, 8), (int(GREY * 255) + 6, 128, 128)),
                                "tiff"),
    "animated GIF (first frame)": lambda d: _gif(d),
}


def _palette_transparent() -> Image.Image:
    im = Image.new("P", (8, 8), 0)
    im.putpalette([0, 0, 0, 128, 128, 128] + [0] * 762)
    im.paste(1, (0, 0, 8, 4))          # top half grey 128, bottom half index 0 = transparent
    im.info["transparency"] = 0
    return im


def _gif(d):
    frames = [Image.new("L", (8, 8), 128), Image.new("L", (8, 8), 0)]
    f = d / "x.gif"
    frames[0].save(f, save_all=True, append_images=frames[1:])
    return f


@pytest.mark.parametrize("case", list(CASES))
def test_every_mode_reaches_the_encoder_as_what_a_viewer_shows(tmp_path, case):
    f = CASES[case](tmp_path)
    with Image.open(f) as raw:
        mode = raw.mode
    img, status = load_image(f, 40_000_000)
    assert status == "ok" and img.mode == "RGB", (case, mode, status)
    a = np.asarray(img, np.float64) / 255
    expected = {"LA with half alpha": (0 * 128 + 255 * 127) / 255 / 255,   # black at ~half
                "RGBA": (0 * 128 + 255 * 127) / 255 / 255,                  # over white
                "P with transparency": (128 / 255 + 1.0) / 2}.get(case, GREY)
    assert a.mean() == pytest.approx(expected, abs=0.03), (case, mode, a.mean())
    assert a.std(axis=2).max() < 0.03 or case == "bilevel", (case, "should stay grey")
