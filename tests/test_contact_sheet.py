"""The contact sheet: every photo, in rank order, with embedded thumbnails and nothing to fetch."""

from __future__ import annotations

import base64
import io
import shutil
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

from photoscore.scoring.contact_sheet import THUMBNAIL_PX, ContactSheet
from photoscore.scoring.engine import Scorer


class SheetParser(HTMLParser):
    """Collects sections (listing groups) and, inside each, the figures with their attributes and images."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[dict] = []
        self.sources: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "section":
            self.sections.append({"group": attributes["data-group"], "figures": []})
        elif tag == "figure":
            self.sections[-1]["figures"].append({**attributes, "images": []})
        elif tag == "img":
            self.sections[-1]["figures"][-1]["images"].append(attributes["src"])
        self.sources += [v for k, v in attrs if k in ("src", "href") and v]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_sheet_lists_every_photo_in_rank_order(tmp_path, photo_dir, colour_model):
    listings = {"L1": ["chelsea", "coffee", "rocket"], "L2 & <co>": ["astronaut"]}
    paths = []
    for listing, names in listings.items():
        (tmp_path / listing).mkdir()
        paths += [Path(shutil.copy(photo_dir / f"{n}.jpg", tmp_path / listing / f"{n}.jpg")) for n in names]
    broken = tmp_path / "L1" / 'bro"ken <1>.jpg'
    broken.write_bytes(b"\xff\xd8 not really a JPEG")
    paths.insert(1, broken)
    rankings = Scorer([colour_model()]).rank(paths)
    flag_below = sorted(r.mean_score_prediction for r in rankings[0].results if r.ok)[1]  # flags the worst

    out = tmp_path / "sheet" / "sheet.html"
    with ContactSheet(out, title="Listings <test>", flag_below=flag_below) as sheet:
        for ranking in rankings:
            sheet.add(ranking)

    parser = SheetParser()
    parser.feed(out.read_text(encoding="utf-8"))
    assert [s["group"] for s in parser.sections] == ["L1", "L2 & <co>"]
    for section, ranking in zip(parser.sections, rankings, strict=True):
        figures = section["figures"]
        assert [f["data-path"] for f in figures] == [r.path for r in ranking.results]
        ranks = [int(f["data-rank"]) for f in figures if f["data-rank"]]
        assert ranks == sorted(ranks) and ranks[0] == 1
        assert "cover" in figures[0]["class"].split()
    first = parser.sections[0]["figures"]
    assert first[-1]["data-path"] == str(broken) and "failed" in first[-1]["class"].split()
    assert first[-1]["images"] == []  # a photo that could not be scored has no thumbnail
    assert "flagged" in first[-2]["class"].split() and "flagged" not in first[0]["class"].split()
    for figure in (f for s in parser.sections for f in s["figures"] if f["images"]):
        (source,) = figure["images"]
        assert source.startswith("data:image/jpeg;base64,")
        thumbnail = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
        assert thumbnail.format == "JPEG" and max(thumbnail.size) <= THUMBNAIL_PX
    assert all(s.startswith("data:") for s in parser.sources)  # opens without a server or network
    assert "Listings <test>" in parser.text
    assert any("truncated" in t or "not an image" in t or "corrupt" in t for t in parser.text)
