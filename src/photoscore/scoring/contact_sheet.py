"""A contact sheet: one self-contained HTML file showing each listing's photos in rank order.

Thumbnails are embedded as base64 JPEG data URIs and the style sheet is inline, so the file opens in a
browser from disk, without a server, and can be mailed or attached as it is. Listings are written as
they come, so memory holds one thumbnail at a time.
"""

from __future__ import annotations

import base64
import io
from contextlib import AbstractContextManager
from html import escape
from pathlib import Path
from types import TracebackType
from typing import IO

from photoscore.atomic import atomic_open
from photoscore.images import ImageError, load_image
from photoscore.scoring.listing import Ranking
from photoscore.scoring.results import ScoreResult

THUMBNAIL_PX = 320
JPEG_QUALITY = 82

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}p.about{color:#666;margin:0 0 24px}
section{margin:0 0 32px}h2{font-size:16px;margin:0 0 8px}h2 small{font-weight:normal;color:#666}
.grid{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;width:240px;background:#fff;border:1px solid #ddd;border-radius:6px;overflow:hidden}
figure img{display:block;width:240px;height:180px;object-fit:cover;background:#eee}
figure .none{height:180px;display:flex;align-items:center;justify-content:center;color:#999;background:#eee}
figcaption{padding:6px 8px;word-break:break-all}
figcaption .rank{font-weight:bold;margin-right:6px}figcaption .scores{color:#555}
figure.cover{border:3px solid #2a7}figure.flagged{border:3px solid #d33}figure.failed{opacity:.7}
.tag{display:inline-block;padding:0 6px;margin-left:4px;border-radius:3px;color:#fff;font-size:12px}
.tag.cover{background:#2a7}.tag.flagged{background:#d33}
"""


class ContactSheet:
    """Writes ``path`` as listings are added: ``with ContactSheet(path) as sheet: sheet.add(ranking)``.

    The sheet is written beside ``path`` and renamed onto it when the block ends without error, so a
    run that is killed or fails leaves the previous sheet as it was.

    ``flag_below`` marks scored photos whose mean score (1..10) is below it.
    """

    style = _STYLE

    def __init__(
        self,
        path: str | Path,
        title: str = "photoscore contact sheet",
        about: str = "",
        flag_below: float | None = None,
    ):
        self.path = Path(path)
        self.title = title
        self.about = about
        self.flag_below = flag_below
        self._file: AbstractContextManager[IO[str]] | None = None
        self._stream: IO[str] | None = None

    def __enter__(self) -> ContactSheet:
        self._file = atomic_open(self.path)
        self._stream = self._file.__enter__()
        self._stream.write(
            f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(self.title)}'
            f"</title>\n<style>{self.style}</style>\n</head>\n<body>\n<h1>{escape(self.title)}</h1>\n"
            f'<p class="about">{escape(self.about)}</p>\n'
        )
        return self

    def add(self, ranking: Ranking) -> None:
        """Write one listing: its photos in rank order, the cover and flagged photos marked."""
        assert self._stream is not None, "use ContactSheet as a context manager"
        cover = ranking.cover
        flagged = {id(r) for r in ranking.flagged(self.flag_below)} if self.flag_below is not None else set()
        summary = f"cover {Path(cover.path).name}" if cover else "no photo could be scored"
        self._stream.write(
            f'<section data-group="{escape(ranking.group or "")}">\n'
            f'<h2>{escape(ranking.title)} <small>{escape(summary)}</small></h2>\n<div class="grid">\n'
        )
        for result in ranking.results:
            self._stream.write(_figure(result, result is cover, id(result) in flagged))
        self._stream.write("</div>\n</section>\n")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._stream is not None and self._file is not None
        if exc_type is None:
            self._stream.write("</body>\n</html>\n")
        self._stream = None
        self._file.__exit__(exc_type, exc, tb)  # the sheet replaces ``path`` only when it is whole


def thumbnail_data_uri(path: str | Path, size: int = THUMBNAIL_PX) -> str:
    """A photo as a ``data:image/jpeg;base64,...`` URI at most ``size`` pixels on its longer side."""
    image = load_image(path, min_size=(size, size))
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(result: ScoreResult, cover: bool, flagged: bool) -> str:
    name = escape(Path(result.path).name)
    marks = [m for m, on in (("cover", cover), ("flagged", flagged), ("failed", not result.ok)) if on]
    if result.ok:
        picture = picture_html(result.path, name)
        caption = (
            f'<span class="rank">#{result.rank}</span>{result.normalized_score:.2f} '
            f'<span class="scores">({result.mean_score_prediction:.2f} ± {result.std_score_prediction:.2f})</span>'
        )
    else:
        picture = '<div class="none">not scored</div>'
        caption = f'<span class="rank">-</span><span class="scores">{escape(result.error or "")}</span>'
    tags = "".join(f'<span class="tag {m}">{m}</span>' for m in marks if m != "failed")
    return (
        f'<figure class="{" ".join(["photo", *marks])}" data-rank="{result.rank or ""}" data-path="{escape(result.path)}">'
        f"{picture}<figcaption>{caption}{tags}<br>{name}</figcaption></figure>\n"
    )


def picture_html(path: str, alt: str) -> str:
    """An <img> of the photo as a data URI, or why it cannot be shown."""
    try:
        return f'<img src="{thumbnail_data_uri(path)}" alt="{alt}">'
    except ImageError as exc:  # the file changed or vanished since it was scored
        return f'<div class="none">{escape(exc.reason)}</div>'
