"""Tilt: how far a photo is rolled off level, in degrees, from the vertical lines it shows.

In a photo of a room or a building the verticals (wall corners, door and window frames) all point at
one vanishing point: straight down the frame when the camera is level, off to one side when it is
rolled. Near-vertical segments come from OpenCV's line segment detector (LSD) on the analysis copy; the
vanishing point that the most segment length agrees with (RANSAC over pairs, refined by least squares)
gives the roll as the direction from the photo's centre to it. Tilting the camera up or down makes the
verticals converge without moving that direction, so perspective does not read as tilt; horizontal
lines, which perspective bends every way, do not vote.
"""

from __future__ import annotations

import cv2
import numpy as np

from photoscore.review.photo import CheckResult, PhotoView

# Tilted from this many degrees either way. No sourced threshold exists (FACTS.md §11); chosen with
# scripts/measure_review_checks.py: of 600 Places365 room photos as taken, 3.8% read above 3° (5.2% above
# 2.5°, 7.2% above 2°), most of them tilted by eye; rooms turned by 4° read above it 87% of the time.
MAX_TILT = 3.0
# Lines are found on a grey copy this many pixels on its longest side: LSD's cost grows with the pixels.
# Against 256 (scripts/measure_review_checks.py --only tilt), room photos turned by known angles read with
# a mean error of 0.85° (0.83°) and get a verdict 78% of the time (80%), LIVE photos 1.82° (1.85°), at
# about 0.75 of the cost; 3.2% of the room photos as taken read as tilted (3.8%). At 192 some turned LIVE
# photos of buildings lost their verdict.
TILT_SIDE = 224
# Segments leaning more than this from vertical are not taken for verticals; a tilt beyond it is not read.
MAX_LEAN = 15.0
# Segments shorter than this share of the photo's height are ignored (texture, noise).
MIN_LENGTH = 0.08
# A segment agrees with a vanishing point when it points at it within this many degrees.
AGREE = 1.0
# Too few verticals to judge: fewer segments than this agree, or their summed length is under this many
# photo heights.
MIN_SEGMENTS = 5
MIN_SUPPORT = 1.5
# A vanishing point closer to the centre than this many photo sizes is not that of the room's verticals
# (a photo looking down at a table, a stair): no verdict.
MIN_VANISHING_DISTANCE = 2.0
# The longest segments make the RANSAC hypotheses (all their pairs).
HYPOTHESIS_SEGMENTS = 40


def vertical_segments(grey: np.ndarray) -> np.ndarray:
    """Near-vertical line segments of an 8-bit grey image, rows of (x1, y1, x2, y2) in pixels."""
    found = cv2.createLineSegmentDetector().detect(grey)[0]
    if found is None:
        return np.empty((0, 4))
    segments = found.reshape(-1, 4).astype(np.float64)
    dx, dy = segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1]
    lean = np.degrees(np.arctan2(np.abs(dx), np.abs(dy)))
    keep = (lean <= MAX_LEAN) & (np.hypot(dx, dy) >= MIN_LENGTH * grey.shape[0])
    return segments[keep]


def estimate_tilt(view: PhotoView) -> float | None:
    """The photo's roll in degrees, positive when the scene is turned counter-clockwise (rotate the
    photo clockwise by that much to level it); None when too few vertical lines agree to judge."""
    grey = _grey(view)
    height, width = grey.shape
    segments = vertical_segments(grey)
    if len(segments) < MIN_SEGMENTS:
        return None
    # Coordinates centred on the photo, in units of its longest side.
    scale = max(height, width)
    points = (segments.reshape(-1, 2, 2) - [width / 2, height / 2]) / scale
    vanishing = _vanishing_point(points, min_support=MIN_SUPPORT * height / scale)
    if vanishing is None:
        return None
    x, y, w = vanishing
    if abs(w) > 1e-12 and np.hypot(x, y) / abs(w) < MIN_VANISHING_DISTANCE:
        return None
    if y < 0:  # the direction from the centre, pointed down the frame
        x, y = -x, -y
    tilt = float(np.degrees(np.arctan2(x, y)))
    return tilt if abs(tilt) <= MAX_LEAN else None


def _grey(view: PhotoView) -> np.ndarray:
    """The analysis copy's luminance as 8-bit grey, longest side at most :data:`TILT_SIDE`."""
    grey = view.grey
    scale = TILT_SIDE / max(grey.shape)
    if scale >= 1:
        return grey
    size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


def _vanishing_point(points: np.ndarray, min_support: float) -> np.ndarray | None:
    """The homogeneous point (unit vector) that segments ``points`` (N, 2 ends, xy) point at, or None
    when fewer than :data:`MIN_SEGMENTS` or less than ``min_support`` of length agree on one."""
    ends = np.concatenate([points, np.ones((len(points), 2, 1))], axis=2)
    lines = np.cross(ends[:, 0], ends[:, 1])
    lines /= np.hypot(lines[:, 0], lines[:, 1])[:, None]
    direction = points[:, 1] - points[:, 0]
    length = np.hypot(direction[:, 0], direction[:, 1])
    direction /= length[:, None]
    middle = points.mean(axis=1)
    longest = np.argsort(-length)[:HYPOTHESIS_SEGMENTS]
    first, second = np.triu_indices(len(longest), 1)
    hypotheses = np.cross(lines[longest[first]], lines[longest[second]])
    norms = np.linalg.norm(hypotheses, axis=1)
    hypotheses = hypotheses[norms > 1e-12] / norms[norms > 1e-12, None]
    agree = _agreeing(hypotheses, middle, direction)
    best = agree[np.argmax(agree @ length)]
    if best.sum() < MIN_SEGMENTS or length[best].sum() < min_support:
        return None
    # Least squares: the point closest to every agreeing line, each weighted by its length.
    moment = (lines[best] * length[best, None]).T @ lines[best]
    return np.linalg.eigh(moment)[1][:, 0]


def _agreeing(hypotheses: np.ndarray, middle: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """(H, N) whether segment n (its middle and unit direction) points at hypothesis h within AGREE°."""
    towards = hypotheses[:, None, :2] - hypotheses[:, None, 2:] * middle[None]
    cross = towards[..., 0] * direction[None, :, 1] - towards[..., 1] * direction[None, :, 0]
    return np.abs(cross) < np.sin(np.radians(AGREE)) * (np.linalg.norm(towards, axis=2) + 1e-12)


def check_tilt(view: PhotoView, max_tilt: float = MAX_TILT) -> CheckResult:
    """Tilted more than ``max_tilt`` degrees either way fails; too few vertical lines: unknown."""
    tilt = estimate_tilt(view)
    if tilt is None:
        return CheckResult("tilt", None, max_tilt, "unknown", unit="°")
    value = round(tilt, 2)
    if abs(value) <= max_tilt:
        return CheckResult("tilt", value, max_tilt, "pass", unit="°")
    turn = "clockwise" if value > 0 else "counter-clockwise"
    reason = (
        f"tilted {abs(value):.1f}°: straighten it in an editor (turn it {abs(value):.1f}° {turn}) "
        "or retake with the phone level"
    )
    return CheckResult("tilt", value, max_tilt, "fail", reason, unit="°")
