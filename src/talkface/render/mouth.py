"""The inside of an opening mouth, painted where the warp has only stretched lip pixels.

A warp cannot make what the photo does not show: when a closed mouth opens, the pixels between the
inner lips are the photo's lip line, stretched. :func:`paint_mouth` paints, inside the requested
inner-lip polygon only and with a soft (anti-aliased, blurred) mask, a mouth interior made from the
photo's own colours (:class:`MouthPalette`): a dark cavity (the lips' colour, darkened, darkest in
the middle and at the back), the upper teeth as a band under the upper lip (brighter in the middle,
receding towards the corners, shadowed by the lip), the lower teeth and the tongue when the mouth
opens wide. Nothing outside the inner lips changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from talkface.io.colour import LUMA

__all__ = ["MouthPalette", "blend_region", "eye_contrast", "inner_gap", "inner_mask", "interior_levels", "paint_mouth",
           "smoothstep"]

UPPER_INNER = (60, 61, 62, 63, 64)
LOWER_INNER = (60, 67, 66, 65, 64)
# The painted interior's levels (module constants so benchmarks/mouth_interior_sweep.py can vary them)
#: Brightness of the cavity, a share of the lips' colour (before the darker middle).
CAVITY_LEVEL = 0.3
#: Gain on the teeth's palette colour.
TEETH_GAIN = 1.0
#: Opening (share of the mouth width) from which the lower teeth show, and their brightness vs the upper.
LOWER_TEETH_FROM = 0.2
LOWER_TEETH_LIGHT = 0.55
#: Adaptive levels at the training corpus's contrast (GRID s1 train split: the painted interior's grey
#: statistics match the real interiors', ``benchmarks/mouth_interior_rule.py``).
REF_CAVITY_LEVEL = 0.7
REF_TEETH_GAIN = 0.75
#: The training corpus's eye contrast (median :func:`eye_contrast` of GRID s1 train photos).
REF_EYE_CONTRAST = 0.867
#: Bounds of the contrast exponent (a photo's eye contrast over the reference).
CONTRAST_RANGE = (0.75, 2.0)


def eye_contrast(photo: np.ndarray, landmarks: np.ndarray) -> float | None:
    """Log ratio of the bright to the dark end (90th / 10th percentile luminance) inside both eye contours.

    The eye is the face's own reference for the mouth interior: a white, recessed tissue (the sclera,
    like the teeth) beside a dark opening (pupil, lash line, like the cavity), seen under the same
    light, lens blur, tone curve and compression as the mouth. A washed-out or blurred photo (GRID's
    MPEG, 20-px eyes) has a small log range, a crisp high-contrast one a large one. None when the eyes
    are (nearly) closed (contour area under 5 % of the squared eye width), cover fewer than 12 pixels,
    or are black.
    """
    lm = np.asarray(landmarks, np.float64)
    h, w = photo.shape[:2]
    for a in (36, 42):
        pts = lm[a : a + 6].astype(np.float32)
        if cv2.contourArea(pts) < 0.05 * float(np.sum((pts[3] - pts[0]) ** 2)):
            return None
    x0 = max(0, int(np.floor(lm[36:48, 0].min())) - 1)
    x1 = min(w, int(np.ceil(lm[36:48, 0].max())) + 2)
    y0 = max(0, int(np.floor(lm[36:48, 1].min())) - 1)
    y1 = min(h, int(np.ceil(lm[36:48, 1].max())) + 2)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    eyes = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for a in (36, 42):
        cv2.fillPoly(eyes, [np.round(lm[a : a + 6] - [x0, y0]).astype(np.int32)], 1)
    if int(eyes.sum()) < 12:
        return None
    luma = photo[y0:y1, x0:x1][eyes > 0].astype(np.float64) @ LUMA
    dark, bright = np.percentile(luma, [10, 90])
    if bright < 8.0:
        return None
    return float(np.log(bright / max(dark, 2.0)))


def interior_levels(contrast: float | None, teeth_over_lip: float) -> tuple[float, float]:
    """Cavity level and teeth gain of the painted interior for a photo's eye contrast.

    A tone curve (gamma, contrast, the blur of small structures) multiplies log luminance ratios by a
    factor. The photo's factor relative to the training corpus's is ``k = contrast / REF_EYE_CONTRAST``
    (bounded by ``CONTRAST_RANGE``), and the interior's luminance ratios to the lips are the reference
    ones raised to ``k``: the cavity ``REF_CAVITY_LEVEL ** k`` of the lips' colour, the teeth
    ``REF_TEETH_GAIN * (teeth / lip) ** k`` of the lips' luminance. At the corpus's contrast (k = 1)
    these are the reference levels; a washed-out photo gets a lighter cavity and dimmer teeth, a
    high-contrast one a darker cavity and brighter teeth.

    Args:
        contrast: :func:`eye_contrast` of the photo; None: the reference (k = 1).
        teeth_over_lip: luminance of the palette's teeth colour over the lips'.

    Returns:
        ``(cavity_level, teeth_gain)``: the cavity's share of the lip colour and the gain on the
        palette's teeth colour (``REF_TEETH_GAIN * (teeth / lip) ** (k - 1)``).
    """
    k = 1.0 if contrast is None else float(np.clip(contrast / REF_EYE_CONTRAST, *CONTRAST_RANGE))
    ratio = max(float(teeth_over_lip), 1e-3)
    return REF_CAVITY_LEVEL**k, REF_TEETH_GAIN * ratio ** (k - 1.0)


def inner_gap(landmarks: np.ndarray) -> float:
    """Mean inner-lip gap (pairs 61-67, 62-66, 63-65), landmark units."""
    lm = np.asarray(landmarks, np.float64)
    return float(np.linalg.norm(lm[[61, 62, 63]] - lm[[67, 66, 65]], axis=1).mean())


@dataclass(frozen=True)
class MouthPalette:
    """Colours of one photo the interior is painted with (RGB, 0-255 floats).

    Attributes:
        lip: median colour of the lips (between the outer and inner lip contours).
        skin: median colour of the cheeks below the eyes.
        teeth: the teeth's colour under this photo's light.
        tilt: side lighting, -0.15 .. 0.15: (right - left) / (right + left) cheek brightness in the
            image (the painted teeth are brighter on the lit side).
        cavity_level: the cavity's share of the lip colour; None: the module's ``CAVITY_LEVEL``.
        teeth_gain: gain on ``teeth``; None: the module's ``TEETH_GAIN``.
    """

    lip: np.ndarray
    skin: np.ndarray
    teeth: np.ndarray
    tilt: float = 0.0
    cavity_level: float | None = None
    teeth_gain: float | None = None

    @classmethod
    def from_photo(cls, photo: np.ndarray, landmarks: np.ndarray, adaptive: bool = False) -> MouthPalette:
        """Measure the palette on a photo with its (68, 2) landmarks.

        Args:
            photo: (H, W, 3) RGB uint8.
            landmarks: (68, 2) the photo's landmarks.
            adaptive: set the interior's levels from the photo's eye contrast (:func:`interior_levels`;
                ``RenderConfig.adaptive_mouth``). Off, the palette leaves them to the module's fixed
                ``CAVITY_LEVEL`` / ``TEETH_GAIN``.
        """
        lm = np.asarray(landmarks, np.float64)
        h, w = photo.shape[:2]
        lips = np.zeros((h, w), np.uint8)
        cv2.fillPoly(lips, [np.round(lm[48:60]).astype(np.int32)], 1)
        cv2.fillPoly(lips, [np.round(lm[60:68]).astype(np.int32)], 0)
        lip = np.median(photo[lips > 0], axis=0) if lips.any() else np.array([150.0, 90.0, 90.0])
        cheeks = np.zeros((h, w), np.uint8)
        sides = []
        for a, b in ((1, 31), (15, 35)):  # jaw side to nose wing, below the eye
            centre = 0.5 * (lm[a] + lm[b])
            radius = max(1, int(0.25 * np.linalg.norm(lm[a] - lm[b])))
            side = np.zeros((h, w), np.uint8)
            cv2.circle(side, (int(round(centre[0])), int(round(centre[1]))), radius, 1, -1)
            cheeks |= side
            luma = photo[side > 0].astype(np.float64) @ LUMA if side.any() else None
            sides.append(float(np.median(luma)) if luma is not None and luma.size else 0.0)
        skin = np.median(photo[cheeks > 0], axis=0) if cheeks.any() else lip
        left, right = sides[::-1] if lm[1, 0] > lm[15, 0] else sides  # image left / right
        tilt = float(np.clip((right - left) / max(right + left, 1e-6), -0.15, 0.15)) if min(sides) > 0 else 0.0
        # teeth: off-white, lit like the skin (a dark photo gets darker teeth), a little of the skin's tint
        light = float(np.clip(np.dot(skin, LUMA) / 170.0, 0.45, 1.15))
        teeth = np.clip(light * (0.55 * np.array([214.0, 204.0, 180.0]) + 0.45 * skin), 0, 235)
        levels: tuple[float | None, float | None] = (None, None)
        if adaptive:
            levels = interior_levels(eye_contrast(photo, lm), float(teeth @ LUMA) / max(float(lip @ LUMA), 1.0))
        return cls(np.asarray(lip, np.float64), np.asarray(skin, np.float64), teeth, tilt, *levels)


def _store(image: np.ndarray, box: tuple[int, int, int, int], values: np.ndarray) -> None:
    """Write float ``values`` into ``image[y0:y1, x0:x1]``, rounded and clipped for an integer image."""
    y0, y1, x0, x1 = box
    if np.issubdtype(image.dtype, np.integer):
        image[y0:y1, x0:x1] = np.clip(values + 0.5, 0, 255).astype(image.dtype)
    else:
        image[y0:y1, x0:x1] = values


def _spline(points: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """A smooth curve y(x) through lip points (quadratic fit, so the corners are round, not pointed)."""
    order = np.argsort(points[:, 0])
    px, py = points[order, 0], points[order, 1]
    if np.ptp(px) < 1e-6:
        return np.full_like(xs, py.mean())
    coeffs = np.polyfit(px, py, 2, w=np.array([2.0, 1.0, 1.0, 1.0, 2.0]))
    return np.asarray(np.polyval(coeffs, np.clip(xs, px[0], px[-1])))


def _smooth_outline(lm: np.ndarray, samples: int = 24) -> np.ndarray:
    """The inner-lip outline as a closed polygon of smooth upper and lower curves."""
    left, right = lm[60, 0], lm[64, 0]
    xs = np.linspace(min(left, right), max(left, right), samples)
    up = _spline(lm[list(UPPER_INNER)], xs)
    low = np.maximum(_spline(lm[list(LOWER_INNER)], xs), up)
    return np.concatenate([np.stack([xs, up], 1), np.stack([xs[::-1], low[::-1]], 1)])


def inner_mask(
    lm: np.ndarray, shape: tuple[int, ...], pad: int = 3
) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The soft inner-lip mask of (68, 2) landmarks ``lm`` (image pixels) in an image of ``shape``.

    The smoothed inner-lip outline, filled anti-aliased at sub-pixel vertices and softened by a small
    blur (sigma 2 % of the inner mouth width): where :func:`paint_mouth` paints.

    Returns:
        ``((y0, y1, x0, x1), mask)``: the box around the inner lips (``pad`` pixels grown, clipped to
        the image) and the (y1 - y0, x1 - x0) float32 mask in 0..1; None when the box is empty.
    """
    inner = lm[60:68]
    width = float(np.linalg.norm(lm[64] - lm[60]))
    x0 = max(0, int(np.floor(inner[:, 0].min())) - pad)
    x1 = min(shape[1], int(np.ceil(inner[:, 0].max())) + pad + 1)
    y0 = max(0, int(np.floor(inner[:, 1].min())) - pad)
    y1 = min(shape[0], int(np.ceil(inner[:, 1].max())) + pad + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    shift = 4
    poly = np.round((_smooth_outline(lm) - [x0, y0]) * (1 << shift)).astype(np.int32)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [poly], 255, lineType=cv2.LINE_AA, shift=shift)
    m = mask.astype(np.float32) / 255.0
    return (y0, y1, x0, x1), np.asarray(cv2.GaussianBlur(m, (0, 0), max(0.6, 0.02 * width)), np.float32)


def blend_region(image: np.ndarray, box: tuple[int, int, int, int], values: np.ndarray, alpha: np.ndarray) -> None:
    """``image[box] = image[box] * (1 - alpha) + values * alpha`` in place (rounded for integer images)."""
    y0, y1, x0, x1 = box
    a = np.asarray(alpha, np.float32)[:, :, None]
    region = image[y0:y1, x0:x1].astype(np.float32)
    _store(image, box, region * (1.0 - a) + np.asarray(values, np.float32) * a)


def smoothstep(x: np.ndarray | float) -> np.ndarray:
    """``3x^2 - 2x^3`` of ``x`` clipped to [0, 1]: 0 below 0, 1 above 1, smooth in between."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def paint_mouth(
    image: np.ndarray,
    landmarks: np.ndarray,
    palette: MouthPalette,
    *,
    origin: tuple[int, int] = (0, 0),
    strength: float = 1.0,
    teeth: bool = True,
) -> np.ndarray:
    """Paint the mouth interior inside the inner-lip polygon of ``landmarks``, in place.

    Args:
        image: (H, W, 3) RGB image, uint8 or float32 (e.g. a warped face region), modified in place.
        landmarks: (68, 2) the frame's landmarks, in the coordinates of the whole photo.
        palette: the photo's colours.
        origin: (x, y) of ``image``'s top-left pixel in the photo (a region of it).
        strength: opacity of the painting (0: nothing; 1: fully inside the lips).
        teeth: paint teeth (False: a dark cavity only).

    Returns:
        ``image``.
    """
    lm = np.asarray(landmarks, np.float64) - np.asarray(origin, np.float64)
    gap = inner_gap(lm)
    if gap < 0.75 or strength <= 0:
        return image
    found = inner_mask(lm, image.shape[:2])
    if found is None:
        return image
    (y0, y1, x0, x1), m = found
    width = float(np.linalg.norm(lm[64] - lm[60]))
    # geometry: upper/lower inner-lip curves per column, horizontal position in the mouth
    xs = np.arange(x0, x1, dtype=np.float64)
    ys = np.arange(y0, y1, dtype=np.float64)
    up = _spline(lm[list(UPPER_INNER)], xs)
    low = _spline(lm[list(LOWER_INNER)], xs)
    open_ = np.maximum(low - up, 1e-3)
    centre_x = 0.5 * (lm[60, 0] + lm[64, 0])
    s = np.clip((xs - centre_x) / max(0.5 * width, 1e-3), -1.0, 1.0)  # -1 .. 1 across the mouth
    depth = ys[:, None] - up[None, :]  # pixels below the upper lip
    u = depth / open_[None, :]  # 0 at the upper lip, 1 at the lower
    # cavity: the lips' colour much darker, darkest in the middle of the opening
    centre_dark = 1.0 - 0.45 * np.exp(-((u - 0.55) ** 2) / 0.08) * (1.0 - s[None, :] ** 2)
    cavity_level = CAVITY_LEVEL if palette.cavity_level is None else palette.cavity_level
    cavity = palette.lip[None, None, :] * (cavity_level * centre_dark)[:, :, None]
    interior = cavity
    rel = gap / max(width, 1e-3)  # opening relative to mouth width
    if rel > 0.22:  # wide open: the tongue shows at the bottom
        tongue = smoothstep((u - 0.62) / 0.3) * min(1.0, (rel - 0.22) / 0.15) * (1.0 - s[None, :] ** 4)
        tongue_rgb = palette.lip * 0.55
        interior = interior * (1 - tongue[:, :, None]) + tongue_rgb[None, None] * tongue[:, :, None]
    if teeth:
        # upper teeth: a band under the upper lip, as tall as a share of the opening (capped), its
        # lower edge soft (tooth tips are translucent)
        band = min(0.5 * gap, 0.11 * width) + 0.5
        edge = max(1.2, 0.25 * band)
        t_alpha = smoothstep((band - depth) / edge + 0.5) * smoothstep((0.78 - np.abs(s[None, :])) / 0.3)
        # lit like the photo: brightest in the middle, receding to the corners, a little brighter on the
        # photo's lit side; a shadow under the upper lip, the tips slightly darker
        across = (1.0 - 0.6 * np.abs(s[None, :]) ** 1.5) * (1.0 + palette.tilt * s[None, :])
        shade = across * (0.45 + 0.45 * smoothstep(depth / max(1.2, 0.35 * band)))
        shade = shade * (1.0 - 0.2 * smoothstep((depth - 0.55 * band) / max(1.0, 0.4 * band)))
        # a few soft seams, not a zipper: the central pair, fainter ones at the lateral incisors and
        # the canines (irregular widths, fading as the arch turns away); none below a 1-px tooth
        tooth = 0.14 * width
        arch = np.sin(np.clip(s, -1, 1) * np.pi / 2) * 0.5 * width / max(tooth, 1e-3)
        seams = np.zeros_like(s)
        if tooth >= 2.0:
            sigma_seam = max(0.6, 0.12 * tooth) / tooth  # in tooth units, at least ~0.6 px
            for pos, depth_ in ((0.0, 0.22), (-1.0, 0.09), (1.08, 0.08), (-1.85, 0.04), (1.95, 0.04)):
                seams += depth_ * np.exp(-(((arch - pos) / sigma_seam) ** 2))
        shade = shade * (1.0 - seams)[None, :]
        gain = TEETH_GAIN if palette.teeth_gain is None else palette.teeth_gain
        teeth_rgb = gain * palette.teeth[None, None, :] * shade[:, :, None]
        interior = interior * (1 - t_alpha[:, :, None]) + teeth_rgb * t_alpha[:, :, None]
        if rel > LOWER_TEETH_FROM:  # the lower teeth mostly hidden: a dim sliver above the lower lip
            below = low[None, :] - ys[:, None]
            lband = min(0.15 * gap, 0.045 * width)
            l_alpha = (smoothstep((lband - below) / 1.2 + 0.5) * smoothstep((0.45 - np.abs(s[None, :])) / 0.25)
                       * 0.7 * min(1.0, (rel - LOWER_TEETH_FROM) / 0.1))
            interior = interior * (1 - l_alpha[:, :, None]) + LOWER_TEETH_LIGHT * teeth_rgb * l_alpha[:, :, None]
    blend_region(image, (y0, y1, x0, x1), interior, strength * m)
    return image
