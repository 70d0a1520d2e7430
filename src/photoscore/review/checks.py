"""The per-photo checks of the listing review: each a small pure function of a :class:`PhotoView` that
measures one thing and says, when the photo fails, what a host can do about it.

Size, orientation and aspect read the original's size from its header; the others look at the analysis
copy (longest side 512 px), so their values do not depend on the file's resolution. Tilt is in
:mod:`photoscore.review.tilt`. The thresholds' sources and measurements: scripts/measure_review_checks.py.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from photoscore.review.photo import CheckResult, PhotoView

Orientation = Literal["any", "landscape"]

# Size: (long edge, short edge) whichever way the photo is held. Vrbo/Expedia homes' and Airbnb's
# 1024x683 (FACTS.md §11); a preset sets its own (Expedia hotels: a 2,880 px long edge).
MIN_SIZE: tuple[int, int] | None = (1024, 683)
MIN_LONG_EDGE: int | None = None
# Aspect (width / height): wider than this is a panorama, taller than 1 / MAX_TALL a strip or a screenshot.
# Phone panoramas run from about 3:1 up; 16:9 (1.78) and 21:9 (2.33) photos pass. Phones' portrait
# photos are 3:4 or 9:16 (height 1.78 x width); a screenshot is 2.17 x.
MAX_WIDE = 2.5
MAX_TALL = 2.0
# Within this of 1:1 a photo is square (only failed when a preset forbids squares).
SQUARE_TOLERANCE = 0.05

# Exposure, on Rec. 601 luminance 0..1 except too dark (CleanVision's perceived brightness). Chosen on the
# LIVE photos by eye (scripts/measure_review_checks.py).
# Too dark: the brightest 1% of pixels below this. CleanVision's 0.32 fails 6 LIVE photos, all dark by
# eye; 0.45 fails 9, all dark by eye, and none of 16 judged well enough lit (the next, 0.48-0.50, mixes
# dusk photos with lit ones).
MIN_BRIGHTEST = 0.45
# Overexposed: this share of the photo or more near white (luminance >= WHITE_LEVEL / 255, 0.95): it
# fails the 3 worst of 6 LIVE photos judged overexposed by eye and none of 24 judged fine (the share at
# 250 and above, 0.25, failed 3 and 2: blown-out skies over well exposed scenes).
MAX_WHITE = 0.30
WHITE_LEVEL = 243
# Flat contrast: the 5th to 95th percentile of luminance spans less than this.
MIN_CONTRAST = 0.20
# Low information: entropy of the 256-level luminance histogram below this many bits (CleanVision's 3).
MIN_ENTROPY = 3.0

# Sharpness: the technical model's mean score (1..10) below MIN_TECHNICAL_SCORE fails "sharpness"; the
# focus measure (variance of the Laplacian of the grey analysis copy, 0..255 levels) below MIN_FOCUS
# fails "focus" (either failing: 88% agreement with the blur labels).
# Chosen on the 200 labelled photos of blur-detection-using-cnn (FACTS.md §12): the focus measure of the
# blurred ones is at most 127, of the sharp ones at least 153 (1.2% of Places365 room photos fall below
# 140); the score agrees with the labels at best 81% (3.75) and 73% at 4.0, where it catches 70% of the
# blurred photos; listing photos score 7.49 ± 0.63 (issue 22), so 4.0 fails almost none of them.
MIN_TECHNICAL_SCORE = 4.0
MIN_FOCUS = 140.0

# Black and white: the most colourful 1% of pixels have channels within this share of full scale. The 10
# black-and-white photos among the 600 Places365 room photos are at most 0.012 (a grey JPEG saved as RGB
# differs by a level or two); the least colourful colour photos, LIVE's and the rooms', at 0.031.
MAX_BW_CHROMA = 0.02

# Borders: a band along an edge whose rows (or columns) are each near uniform (max - min luminance within
# BORDER_SPREAD) and of one level with the edge (within BORDER_SPREAD), covering more than MAX_BORDER of
# the photo's side, ending along a straight line. On the LIVE and room photos it fails one of 1,413, a
# framed one; without the straight-line rule, 4.7% of LIVE failed (black night skies, blown-out skies).
MAX_BORDER = 0.03
BORDER_SPREAD = 0.02
# ... and where the band ends, most of the next row differs from its level by more than this.
BORDER_STEP = 0.05


def check_size(
    view: PhotoView, min_size: tuple[int, int] | None = MIN_SIZE, min_long_edge: int | None = MIN_LONG_EDGE
) -> CheckResult:
    """The original's (long, short) edges against ``min_size`` (long, short, whichever way the photo
    is held) and its long edge against ``min_long_edge``; the value is the edge that falls shortest."""
    long_edge, short_edge = max(view.width, view.height), min(view.width, view.height)
    needs = [(long_edge, need) for need in (min_size[0] if min_size else None, min_long_edge) if need]
    if min_size:
        needs.append((short_edge, min_size[1]))
    if not needs:
        return CheckResult("size", long_edge, None, "pass", unit="px")
    edge, need = min(needs, key=lambda n: n[0] / n[1])
    if edge >= need:
        return CheckResult("size", edge, need, "pass", unit="px")
    wanted = f"{min_size[0]}x{min_size[1]}" if min_size else f"a {need} px long edge"
    if min_size and min_long_edge and min_long_edge > min_size[0]:
        wanted += f" and a {min_long_edge} px long edge"
    reason = (
        f"too small: {view.width}x{view.height} px, the platform needs {wanted}: "
        "upload the original from the camera or phone, not a resized copy"
    )
    return CheckResult("size", edge, need, "fail", reason, unit="px")


def check_orientation(view: PhotoView, orientation: Orientation = "landscape") -> CheckResult:
    """Portrait (taller than wide) fails where the platform wants landscape; the value is width / height."""
    ratio = round(view.width / view.height, 3)
    if orientation == "any" or view.width >= view.height:
        return CheckResult("orientation", ratio, 1.0, "pass")
    reason = "portrait: the platform shows landscape photos: retake it holding the phone sideways"
    return CheckResult("orientation", ratio, 1.0, "fail", reason)


def check_aspect(
    view: PhotoView, max_wide: float = MAX_WIDE, max_tall: float = MAX_TALL, allow_square: bool = True
) -> CheckResult:
    """Width / height against a panorama's ``max_wide``:1 and a strip's 1:``max_tall``; squares fail only
    when ``allow_square`` is False. The threshold reported is the limit on the photo's side of 1:1."""
    ratio = view.width / view.height
    value = round(ratio, 3)
    if ratio > max_wide:
        reason = f"a panorama ({ratio:.1f}:1, wider than {max_wide:g}:1): upload ordinary photos of the room instead"
        return CheckResult("aspect", value, max_wide, "fail", reason)
    if ratio < 1 / max_tall:
        reason = f"too tall (1:{1 / ratio:.1f}, taller than 1:{max_tall:g}): upload an ordinary photo, not a strip or screenshot"
        return CheckResult("aspect", value, round(1 / max_tall, 3), "fail", reason)
    if not allow_square and abs(ratio - 1) <= SQUARE_TOLERANCE:
        reason = "square: the platform wants a rectangular photo: upload the uncropped original"
        return CheckResult("aspect", value, 1 + SQUARE_TOLERANCE, "fail", reason)
    return CheckResult("aspect", value, max_wide if ratio >= 1 else round(1 / max_tall, 3), "pass")


def _percentile(counts: np.ndarray, share: float) -> float:
    """The level (0..1) below which ``share`` of the pixels counted by ``counts`` lie."""
    cumulative = np.cumsum(counts)
    return float(np.searchsorted(cumulative, share * cumulative[-1])) / (len(counts) - 1)


# CleanVision's perceived brightness squared, per channel level: .241 R², .691 G², .068 B² (0..1).
_SQUARED_BRIGHTNESS = [(w * (np.arange(256) / 255.0) ** 2).astype(np.float32) for w in (0.241, 0.691, 0.068)]


def brightest(view: PhotoView, share: float = 0.99) -> float:
    """The perceived brightness 0..1 (CleanVision's sqrt(.241 R² + .691 G² + .068 B²)) that ``share`` of
    the pixels lie at or below, over every second pixel of the analysis copy each way (a quarter of the
    work, the same percentile)."""
    rgb = view.rgb[::2, ::2]
    red, green, blue = _SQUARED_BRIGHTNESS
    squared = (red[rgb[..., 0]] + green[rgb[..., 1]] + blue[rgb[..., 2]]).ravel()
    rank = int(share * (len(squared) - 1))
    return float(np.sqrt(np.partition(squared, rank)[rank]))


def check_dark(view: PhotoView, min_brightest: float = MIN_BRIGHTEST) -> CheckResult:
    """Too dark when the brightest 1% of pixels (99th percentile of perceived brightness) is below
    ``min_brightest``."""
    level = round(brightest(view), 3)
    if level >= min_brightest:
        return CheckResult("dark", level, min_brightest, "pass")
    reason = (
        f"too dark: the brightest 1% of pixels is at {level:.0%} brightness: "
        "turn the lights on, open the curtains and retake"
    )
    return CheckResult("dark", level, min_brightest, "fail", reason)


def check_overexposed(view: PhotoView, max_white: float = MAX_WHITE) -> CheckResult:
    """Overexposed when ``max_white`` or more of the photo is burnt out to (near) white."""
    counts = view.luma_counts
    white = round(float(counts[WHITE_LEVEL:].sum() / counts.sum()), 3)
    if white < max_white:
        return CheckResult("overexposed", white, max_white, "pass")
    reason = (
        f"overexposed: {white:.0%} of the photo is burnt out to white: "
        "tap the brightest part of the room on the screen to expose for it, or use HDR, and retake"
    )
    return CheckResult("overexposed", white, max_white, "fail", reason)


def check_contrast(view: PhotoView, min_contrast: float = MIN_CONTRAST) -> CheckResult:
    """Flat when the middle 90% of luminance (5th to 95th percentile) spans less than ``min_contrast``."""
    counts = view.luma_counts
    spread = round(_percentile(counts, 0.95) - _percentile(counts, 0.05), 3)
    if spread >= min_contrast:
        return CheckResult("contrast", spread, min_contrast, "pass")
    reason = (
        f"flat: 90% of the photo lies within {spread:.0%} of the brightness range: "
        "retake in better light or raise the contrast in an editor"
    )
    return CheckResult("contrast", spread, min_contrast, "fail", reason)


def check_low_information(view: PhotoView, min_entropy: float = MIN_ENTROPY) -> CheckResult:
    """Blank or near blank when the luminance histogram's entropy is under ``min_entropy`` bits."""
    counts = view.luma_counts
    shares = counts[counts > 0] / counts.sum()
    entropy = round(max(0.0, float(-(shares * np.log2(shares)).sum())), 3)
    if entropy >= min_entropy:
        return CheckResult("low_information", entropy, min_entropy, "pass", unit="bits")
    reason = (
        f"almost blank: its brightness histogram holds {entropy:.1f} bits where a photo of a room holds "
        f"over {min_entropy:g}: "
        "upload a photo of the place, not a blank, a plain wall or a filler image"
    )
    return CheckResult("low_information", entropy, min_entropy, "fail", reason, unit="bits")


def focus_measure(view: PhotoView) -> float:
    """Variance of the Laplacian of the grey analysis copy (512 px on its longest side, or the photo's own
    size when smaller), in 0..255 levels: low for blurry photos."""
    laplacian = cv2.Laplacian(view.grey, cv2.CV_32F, ksize=1)[1:-1, 1:-1]  # 4-neighbour, inside the frame
    return float(cv2.meanStdDev(laplacian)[1][0, 0] ** 2)


def check_focus(focus: float, min_focus: float = MIN_FOCUS) -> CheckResult:
    """Blurry when the focus measure (:func:`focus_measure`) is below ``min_focus``."""
    value = round(focus, 1)
    if focus >= min_focus:
        return CheckResult("focus", value, min_focus, "pass")
    reason = (
        f"blurry: focus measure {focus:.0f} where sharp photos of rooms show more than {min_focus:.0f}: "
        "hold the phone steady, tap to focus, and retake"
    )
    return CheckResult("focus", value, min_focus, "fail", reason)


def check_sharpness(
    focus: float,
    technical_score: float | None,
    min_score: float = MIN_TECHNICAL_SCORE,
    min_focus: float = MIN_FOCUS,
) -> CheckResult:
    """The technical model's mean score (1..10) against ``min_score``: blur, noise, shake, compression.
    The focus measure says which in the reason. No verdict without a technical model."""
    if technical_score is None:
        return CheckResult("sharpness", None, min_score, "unknown", unit="score")
    value = round(float(technical_score), 3)
    if technical_score >= min_score:
        return CheckResult("sharpness", value, min_score, "pass", unit="score")
    if focus >= min_focus:  # in focus, but noisy, compressed or shaken
        reason = (
            f"poor technical quality: scored {value:.1f} of 10 though in focus (focus measure {focus:.0f}): "
            "retake in more light holding the phone steady, and upload the original file"
        )
    else:
        reason = (
            f"poor technical quality: scored {value:.1f} of 10, and out of focus: hold the phone steady, "
            "tap to focus, and retake"
        )
    return CheckResult("sharpness", value, min_score, "fail", reason, unit="score")


def check_black_and_white(view: PhotoView, max_chroma: float = MAX_BW_CHROMA) -> CheckResult:
    """Black and white, whatever the file's mode, when the most colourful 1% of pixels have their
    channels within ``max_chroma`` of full scale of each other."""
    rgb = view.rgb[::2, ::2]  # every second pixel each way: a quarter of the work, the same percentile
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    chroma = np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)
    colour = round(_percentile(np.bincount(chroma.ravel(), minlength=256), 0.99), 3)
    if colour > max_chroma:
        return CheckResult("black_and_white", colour, max_chroma, "pass")
    reason = "black and white: the platform wants colour photos: upload the colour original"
    return CheckResult("black_and_white", colour, max_chroma, "fail", reason)


def border_share(view: PhotoView, spread: float = BORDER_SPREAD) -> float:
    """The widest uniform band along any edge (top, bottom, left, right) as a share of that side."""
    luma = view.luma
    return max(
        _band(luma, spread), _band(luma[::-1], spread), _band(luma.T, spread), _band(luma.T[::-1], spread)
    )


def _band(luma: np.ndarray, spread: float) -> float:
    """Share of rows from the top of ``luma`` that are each near uniform and of the first row's level,
    where the photo starts along a straight line: past the band, most of the row steps away from its level
    (a blown-out sky or a black night sky ends raggedly, a border or letterbox straight)."""
    level = luma[0].mean()
    rows = _uniform_rows(luma, level, spread)
    if 0 < rows < len(luma) - 2 and np.mean(np.abs(luma[rows + 1] - level) > BORDER_STEP) < 0.5:
        return 0.0
    return rows / len(luma)


def _uniform_rows(luma: np.ndarray, level: float, spread: float) -> int:
    """How many rows from the top of ``luma`` are each near uniform and of ``level``; read in growing
    chunks, since most photos stop at the first row."""
    start, chunk = 0, 8
    while start < len(luma):
        part = luma[start : start + chunk]
        uniform = (part.max(axis=1) - part.min(axis=1) <= spread) & (
            np.abs(part.mean(axis=1) - level) <= spread
        )
        if not uniform.all():
            return start + int(np.argmin(uniform))
        start, chunk = start + chunk, chunk * 2
    return len(luma)


def check_borders(view: PhotoView, max_border: float = MAX_BORDER) -> CheckResult:
    """A uniform band (border, letterbox) wider than ``max_border`` of the side along any edge fails."""
    band = round(border_share(view), 3)
    if band <= max_border:
        return CheckResult("borders", band, max_border, "pass")
    reason = f"a plain band covers {band:.0%} of the photo along an edge (a border or letterbox): crop it off"
    return CheckResult("borders", band, max_border, "fail", reason)
