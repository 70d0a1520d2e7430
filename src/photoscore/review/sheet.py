"""The review's contact sheet: each listing's photos in the order to show them, with room, verdicts and
reasons, the listing's missing rooms and duplicates; one self-contained HTML file like ``rank --html``."""

from __future__ import annotations

from html import escape
from pathlib import Path

from photoscore.review.presets import Preset
from photoscore.review.results import ListingReview, PhotoReview
from photoscore.scoring.contact_sheet import ContactSheet, picture_html

_REVIEW_STYLE = """
figure.failing{border:3px solid #d33}figure.duplicate{opacity:.6}
.room{font-weight:bold}.reasons{margin:4px 0 0;padding-left:16px;color:#b22;word-break:normal;overflow-wrap:break-word}
.listing-facts{margin:0 0 8px;color:#444}.listing-facts .fail{color:#b22;font-weight:bold}
.tag.tied{background:#888}.tag.duplicate{background:#a60}
"""


class ReviewSheet(ContactSheet):
    """Writes ``path`` as listings are added: ``with ReviewSheet(path, preset) as sheet: sheet.add(listing)``."""

    style = ContactSheet.style + _REVIEW_STYLE

    def __init__(self, path: str | Path, preset: Preset):
        about = (
            f"Preset {preset.name}{': ' + preset.title if preset.title else ''}. Photos in the order to show "
            "them; a red frame fails a check (the reasons say what to do), a faded one is a duplicate."
        )
        super().__init__(path, title="photoscore listing review", about=about)

    def add(self, listing: ListingReview) -> None:  # type: ignore[override]
        """Write one listing: facts, then its photos in order with rooms and reasons."""
        assert self._stream is not None, "use ReviewSheet as a context manager"
        verdicts = listing.verdicts
        facts = [
            _fact(
                f"{listing.acceptable_photos} acceptable photos of at least {listing.min_photos}",
                verdicts["photo_count"],
            ),
            _fact("rooms missing: " + (", ".join(listing.missing_rooms) or "none"), verdicts["rooms"]),
            _fact(f"duplicates: {sum(len(g.others) for g in listing.duplicates)}", "pass"),
        ]
        if listing.cover_note:
            facts.append(_fact("cover: " + listing.cover_note, "fail"))
        self._stream.write(
            f'<section data-group="{escape(listing.listing or "")}">\n<h2>{escape(listing.title)}</h2>\n'
            f'<p class="listing-facts">{" · ".join(facts)}</p>\n<div class="grid">\n'
        )
        names = {p.index: Path(p.result.path).name for p in listing.photos}
        for photo in listing.photos:
            self._stream.write(_figure(photo, names))
        self._stream.write("</div>\n</section>\n")


def _fact(text: str, verdict: str) -> str:
    return f'<span class="{verdict}">{escape(text)}</span>'


def _figure(photo: PhotoReview, names: dict[int, str]) -> str:
    name = escape(Path(photo.result.path).name)
    if not photo.ok:
        return (
            f'<figure class="photo failed" data-path="{escape(photo.result.path)}"><div class="none">not '
            f"reviewed</div><figcaption>{escape(photo.result.error or '')}<br>{name}</figcaption></figure>\n"
        )
    marks = [
        m
        for m, on in (
            ("cover", photo.cover),
            ("failing", bool(photo.failed)),
            ("duplicate", photo.duplicate_of is not None),
        )
        if on
    ]
    tags = "".join(f'<span class="tag {m}">{m}</span>' for m in marks if m != "failing")
    if photo.tied_with:
        tied = ", ".join(names.get(i, str(i)) for i in photo.tied_with)
        tags += f'<span class="tag tied" title="tied with {escape(tied)}">tied</span>'
    reasons = "".join(f"<li>{escape(r)}</li>" for r in photo.reasons)
    room = escape(f"{(photo.room or '-').replace('_', ' ')} {photo.room_probability or 0:.0%}")
    caption = (
        f'<span class="rank">{photo.position}.</span><span class="room">{room}</span> '
        f'<span class="scores">{photo.score:.2f} ± {photo.result.std_score_prediction:.2f}</span>{tags}'
        f"<br>{name}" + (f'<ul class="reasons">{reasons}</ul>' if reasons else "")
    )
    return (
        f'<figure class="{" ".join(["photo", *marks])}" data-position="{photo.position}" '
        f'data-room="{escape(photo.room or "")}" data-path="{escape(photo.result.path)}">'
        f"{picture_html(photo.result.path, name)}<figcaption>{caption}</figcaption></figure>\n"
    )
