"""The ml100k-multimodal dirt policy on a small dirty fixture written like the real files."""

from pathlib import Path

import pytest

from esans.data import movielens
from esans.errors import EsansError

GENRE_FLAGS = {"Action": 1, "Comedy": 5, "Drama": 8}


def _uitem_row(mid: int, title: str, genres: list[str]) -> str:
    flags = ["0"] * 19
    for g in genres:
        flags[GENRE_FLAGS[g]] = "1"
    return "|".join([str(mid), title, "01-Jan-1995", "", "http://x"] + flags)


def write_fixture(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "u.data").write_text("1\t1\t4\t100\n1\t2\t3\t200\n2\t3\t5\t150\n2\t4\t1\t160\n")
    uitem = "\n".join([
        _uitem_row(1, "Amélie (2001)", ["Comedy"]),          # latin-1 é
        _uitem_row(2, "Heat (1995)", ["Action", "Drama"]),
        _uitem_row(3, "Mask, The (1994)", ["Comedy"]),
        _uitem_row(4, "Quiet One (1990)", ["Drama"]),
        _uitem_row(5, "Twin A (1997)", ["Drama"]),
        _uitem_row(6, "Twin A (1997)", ["Drama"]),
    ]) + "\n"
    (root / "u.item").write_bytes(uitem.encode("latin-1"))
    header = "movie_id,title,overview\n"
    rows = [
        '1,Amélie (2001),"A shy waitress, in Montmartre, helps others."',
        '2,Heat (1995),"A thief and a detective."',
        '2,Heat (1995),"A thief and a detective."',          # duplicate row -> collapsed
        '3,"Mask, The (1994)","A thief and a detective."',   # Heat's overview: foreign join
        '4,Quiet One (1990),',                               # missing overview
        '5,Twin A (1997),"Same film listed twice."',
        '6,Twin A (1997),"Same film listed twice."',         # same title: legitimately shared
    ]
    (root / "items_tmdb.csv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    posters = root / "posters"
    posters.mkdir()
    for mid in (1, 2, 3, 5, 6):                                # 4 has no poster
        (posters / f"{mid}.jpg").write_bytes(b"\xff\xd8fake")
    return root


def test_dirt_policy_counts_and_results(tmp_path):
    root = write_fixture(tmp_path / "ml")
    items, inter, report = movielens.load(root, project_root=tmp_path)
    assert report["duplicate_tmdb_rows"] == 1
    assert report["foreign_overview_ids"] == 2                # ids 2 and 3 lose it
    assert report["shared_overview_same_title_ids"] == 2      # ids 5 and 6 keep it
    assert report["missing_overview"] == 3                    # 2, 3 (dropped) and 4
    assert report["missing_poster"] == 1
    assert report["interactions"] == 4
    by_id = {r["item_id"]: r for r in items.iter_rows(named=True)}
    assert by_id["1"]["title"] == "Amélie (2001)"             # decoded as latin-1
    assert "Montmartre" in by_id["1"]["text"] and "Comedy" in by_id["1"]["text"]
    assert "thief" not in by_id["3"]["text"] and "thief" not in by_id["2"]["text"]
    assert by_id["3"]["text"] == "Mask, The (1994). Genres: Comedy."
    assert "listed twice" in by_id["5"]["text"] and "listed twice" in by_id["6"]["text"]
    assert by_id["4"]["image_path"] is None
    assert by_id["1"]["image_path"] == "ml/posters/1.jpg"
    assert by_id["2"]["label"] == "Action"


def test_utf8_file_with_latin1_bytes_is_a_clear_error(tmp_path):
    root = write_fixture(tmp_path / "ml")
    (root / "items_tmdb.csv").write_bytes("movie_id,title,overview\n1,Am\xe9lie,x\n"
                                          .encode("latin-1"))
    with pytest.raises(EsansError, match=r"items_tmdb.csv row 2 \[encoding\]"):
        movielens.load(root)


def test_missing_folder_names_it(tmp_path):
    with pytest.raises(EsansError, match="nowhere"):
        movielens.load(tmp_path / "nowhere")
