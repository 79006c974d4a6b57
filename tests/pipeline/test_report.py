"""The HTML report: every image is a valid picture and the numbers are metrics.json's."""

import base64
import io
import json
import re
from html.parser import HTMLParser

import pytest
from PIL import Image

pytestmark = pytest.mark.slow


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.cells, self.cards = [], {}, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag == "td" and "data-key" in a:
            self.cells[a["data-key"]] = a["data-value"]
        if tag == "div" and "card" in (a.get("class") or ""):
            self.cards.append(a["class"])


def test_report_images_and_metrics(built_project):
    p = built_project
    page = (p / "reports/index.html").read_text()
    doc = _Collect()
    doc.feed(page)
    assert len(doc.imgs) >= 5
    for src in doc.imgs:
        m = re.match(r"data:image/png;base64,(.+)$", src)
        assert m, src[:60]                      # self-contained: no external references
        raw = base64.b64decode(m.group(1))
        assert len(raw) > 100
        img = Image.open(io.BytesIO(raw))
        img.verify()
        assert img.size[0] > 0 and img.size[1] > 0
    metrics = json.loads((p / "metrics.json").read_text())
    expected = {f"{s}.{k}": v for s in ("test", "valid") for k, v in metrics[s].items()
                if "@" in k}
    assert {k: float(v) for k, v in doc.cells.items()} == expected
    # the gallery: a positive with 3 hard and 3 easy negatives per row, posters included
    assert doc.cards.count("card positive") >= 1
    assert doc.cards.count("card hard") == 3 * doc.cards.count("card positive")
    assert doc.cards.count("card easy") == 3 * doc.cards.count("card positive")
    # lineage from declared inputs only: the params the run used, the source's fingerprint
    assert "Lineage" in page and "data source" in page and "train:" in page
    # the sampler map, parsed from its JSON (a declared dep), one row per (catalogue, config)
    text = page.replace("&amp;", "&").replace("&#x27;", "'")
    for row in json.loads((p / "bench/results/map.json").read_text()):
        shown = row["config"] + (" (default)" if row["is_default"] else "")
        cells = f"<td>{row['catalogue']}</td><td>{row['n_items']:,}</td><td>{shown}</td>"
        assert cells in text, cells
    # the validation section links the great-expectations Data Docs, which exist
    assert 'href="data_docs/index.html"' in page
    assert (p / "reports/data_docs/index.html").stat().st_size > 1000
