"""Peak memory of encoding one batch of large images: decoded images held for the batch
(what the encoder did before: ``max_pixels`` capped one image, not a batch) vs shrunk as soon
as each is decoded (``esans.encode.image.encode`` now).

    python bench/image_memory.py [--n 32] [--side 6000]

Each variant runs in its own process (peak RSS = ru_maxrss). Writes
bench/results/image-memory.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(variant: str, folder: str, n: int) -> None:
    import torch

    from esans.encode import image

    torch.set_num_threads(2)
    paths = [str(Path(folder) / f"{i}.png") for i in range(n)]
    if variant == "held":            # the old batch: every decoded image alive at once
        imgs = [image.load_image(p, 40_000_000)[0] for p in paths]
        _, features, _ = image.load_backend("builtin:efficientnet-lite0", 128)
        features(imgs)
    else:
        image.encode(paths, "builtin:efficientnet-lite0", 128, n, 40_000_000, progress=False)
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--side", type=int, default=6000)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return _child(a.child[0], a.child[1], a.n)
    from PIL import Image

    with tempfile.TemporaryDirectory() as d:
        for i in range(a.n):         # flat colours: tiny files, full-size when decoded
            Image.new("RGB", (a.side, a.side), (7 * i % 255, 90, 160)).save(Path(d) / f"{i}.png")
        rows = {}
        for variant in ("held", "streamed"):
            out = subprocess.run([sys.executable, __file__, "--n", str(a.n), "--child", variant,
                                  d], capture_output=True, text=True, check=True).stdout
            rows[variant] = json.loads(out.strip().splitlines()[-1])["peak_rss_mb"]
    decoded_mb = a.n * a.side * a.side * 3 / 2**20
    result = {"images": a.n, "side": a.side, "decoded_batch_mb": round(decoded_mb),
              "peak_rss_mb": {k: round(v) for k, v in rows.items()},
              "ratio_held_over_streamed": round(rows["held"] / rows["streamed"], 2)}
    print(f"| variant | peak RSS MB |\n|---|---|\n| held (before) | {rows['held']:.0f} |\n"
          f"| streamed (now) | {rows['streamed']:.0f} |\n({a.n} images of {a.side}x{a.side}; "
          f"the batch decoded is {decoded_mb:.0f} MB)")
    out = ROOT / "bench/results/image-memory.json"
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
