"""The report template: user data (titles, params, stage reports) is escaped, numbers keep
their exact values, and a missing section simply does not appear."""

from html.parser import HTMLParser

import pytest

from esans.report import html

EVIL = '<script>alert("x")</script>'


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.cells, self.cards, self.text = [], {}, [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "td" and "data-key" in a:
            self.cells[a["data-key"]] = a["data-value"]
        if tag == "div" and "card" in (a.get("class") or ""):
            self.cards.append(a["class"])

    def handle_data(self, data):
        self.text.append(data)


def _metrics():
    ks = [20, 50]
    split = {f"{m}@{k}": 0.1 * k / 50 + (0.01 if m == "ndcg" else 0) for m in ("recall", "ndcg")
             for k in ks}
    return {"source": EVIL, "sampler": "esans", "test": {**split, "n_users": 7},
            "valid": dict(split)}


def _sections(**extra):
    card = {"kind": "hard", "title": EVIL, "thumb": None, "l1": 1, "l2": 4}
    base = {"metrics": html.metrics_section(_metrics()), "bench": None, "training": None,
            "clusters": None, "gallery": None, "validation": None, "stages": [],
            "lineage": html.lineage_section({"data": {"path": "</td><b>x</b>"}})}
    return {**base, **extra, "gallery": extra.get("gallery", {
        "n_hard": 1, "n_easy": 0, "rows": [[{**card, "kind": "positive"}, card]]})}


def test_user_data_is_escaped_and_numbers_exact():
    page = html.render(_sections(stages=[{"name": "ingest", "rows": [("note", EVIL)]}]))
    doc = _Page()
    doc.feed(page)
    assert "script" not in doc.tags and "b" in doc.tags   # only the template's own <b>
    assert page.count("&lt;script&gt;") >= 3              # title, stage report, source
    assert "&lt;/td&gt;&lt;b&gt;x&lt;/b&gt;" in page       # params in the lineage
    assert doc.cards == ["card positive", "card hard"]
    metrics = _metrics()
    assert {k: float(v) for k, v in doc.cells.items()} == {
        f"{s}.{k}": v for s in ("test", "valid") for k, v in metrics[s].items() if "@" in k}
    assert "Which sampler for which catalogue" not in page and "Data validation" not in page


def test_a_missing_field_is_an_error_not_a_blank():
    sections = _sections()
    del sections["metrics"]["ks"]
    with pytest.raises(Exception, match="ks"):
        html.render(sections)
