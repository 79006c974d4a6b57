"""Tiny randomly initialised Hugging Face models saved to a folder (no downloads)."""

from __future__ import annotations

from pathlib import Path

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz",
         "the", "story", "of", "space", "rocket", "chef", "kitchen"]


def tiny_bert(dest: Path) -> Path:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    dest.mkdir(parents=True, exist_ok=True)
    (dest / "vocab.txt").write_text("\n".join(VOCAB))
    tok = BertTokenizerFast(vocab_file=str(dest / "vocab.txt"))
    cfg = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1,
                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(dest)
    tok.save_pretrained(dest)
    return dest


def tiny_vit(dest: Path) -> Path:
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    cfg = ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1,
                    num_attention_heads=2, intermediate_size=32)
    ViTModel(cfg).save_pretrained(dest)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(dest)
    return dest


def tiny_clip(dest: Path) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    cfg = CLIPConfig(
        text_config=dict(vocab_size=64, hidden_size=16, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=32, max_position_embeddings=16,
                         bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=32),
        projection_dim=8)
    CLIPModel(cfg).save_pretrained(dest)
    CLIPImageProcessor(size={"shortest_edge": 32},
                       crop_size={"height": 32, "width": 32}).save_pretrained(dest)
    return dest
