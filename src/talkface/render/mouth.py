"""The inside of an opening mouth, painted where the warp has only stretched lip pixels.

A warp cannot make what the photo does not show: when a closed mouth opens, the pixels between the
inner lips are the photo's lip line, stretched. :func:`paint_mouth` paints, inside the requested
inner-lip polygon only and with a soft (anti-aliased, blurred) mask, a mouth interior made from the
photo's own colours (:class:`~talkface.render.mouth_light.MouthPalette`): a dark cavity (the lips' colour,
darkened, darkest in the middle and in the corners; on a large mouth dark red under the upper lip, lighter
down to the tongue, as real HD mouths, :func:`hd_cavity`), the upper teeth hanging from the upper lip as a row
of crowns on the dental arch seen from the front (narrower towards the corners, rounded incisal corners,
thin separations, a shadow under the lip), the lower teeth rising from the lower lip once the mouth
opens, a dark gap between the rows, and the tongue when the mouth opens wide. Drawn per pixel of the
photo with edges about a pixel soft, so a large (HD) mouth gets crisp teeth; on a large mouth the teeth
are lit like the photo's skin (:func:`~talkface.render.mouth_light.enamel_colour`), on a small blurred one
(GRID) they keep the dimmer levels that match its real interiors. Nothing outside the inner lips changes.
The colours and light (palette, teeth light, adaptive levels, sharpness) live in
:mod:`talkface.render.mouth_light`; its functions are re-exported here for the callers that import them
from this module.
"""

from __future__ import annotations

import cv2
import numpy as np

from talkface.io.colour import LUMA
from talkface.render.mouth_light import (
    MouthPalette,
    blur_scale,
    edge_blur,
    enamel_colour,
    eye_contrast,
    face_bright,
    hd_share,
    interior_levels,
    relit_enamel,
    smoothstep,
    teeth_light,
)

__all__ = ["MouthPalette", "blend_region", "blur_scale", "cavity_share", "edge_blur", "enamel_colour",
           "eye_contrast", "face_bright", "hd_cavity", "hd_share", "inner_gap", "inner_mask", "interior_levels",
           "paint_mouth", "relit_enamel", "smoothstep", "teeth_light", "teeth_visibility"]

UPPER_INNER = (60, 61, 62, 63, 64)
LOWER_INNER = (60, 67, 66, 65, 64)
# The painted interior's levels (module constants so benchmarks/mouth_interior_sweep.py can vary them)
#: Brightness of the cavity, a share of the lips' colour (before the darker middle).
CAVITY_LEVEL = 0.3
#: Gain on the teeth's palette colour.
TEETH_GAIN = 1.0
#: Inner mouth widths (pixels) over which the cavity turns from the dark lip colour above into the dark red,
#: lighter downwards cavity of a large mouth (:func:`hd_cavity`). Below the first, as GRID's mouths (grid7's
#: tracked inner widths: 25-39 px, medians 30-37) whose real interiors the dark cavity matches, the painting
#: is bit for bit as before. Real large open mouths (HDTF, wild) show a dark red cavity under the upper teeth
#: that gets lighter towards the tongue, not a black hole: on HDTF BobMenendez the real open interior's median
#: luminance (teeth included) is 1.09 of the lips', the dark cavity's painting 0.58, the red one 0.80
#: (``benchmarks/mouth_cavity_stats.py``, docs/render.md "A red cavity on large mouths").
CAVITY_PX = (40.0, 60.0)
#: The large mouth's cavity at the top of the opening (share of the lips' luminance), the saturation of its
#: colour over the lips' (1: the lips' hue; more: redder, as the wet, shadowed inside of the mouth), and how
#: much lighter it gets down to the lower lip (level times ``1 + CAVITY_RISE``). Measured on real HDTF open
#: mouths (``mouth_cavity_stats.py`` ``fifths``: per fifth of the opening, teeth left out): the top fifth at
#: 0.08-0.15 of the lips' luminance (Bob, EdMarkey, Radio34), the bottom at 0.9-1.3 (tongue, lower teeth); the
#: dark band redder than the lips (EdMarkey's middle fifth R, G, B at 0.33, 0.19, 0.13 of the lips').
CAVITY_HD, CAVITY_SAT, CAVITY_RISE = 0.1, 1.6, 4.0
#: The tongue on a large mouth: its level (share of the lips' colour, saturated as the cavity) and the share
#: of the opening, from the top, below which it shows (fully at the lower lip); the openings (share of the
#: inner width) between which the rise and the tongue come in: lips barely apart keep a dark slit (the real
#: frames measured were open by >= 0.2; tests/test_render.py's slit on a 90-px mouth at 0.05 stays dark).
TONGUE_HD, TONGUE_TOP = 0.8, 0.55
TONGUE_FROM = (0.1, 0.25)
#: Opening (share of the mouth width) from which the lower teeth show, and their brightness vs the upper.
LOWER_TEETH_FROM = 0.1
LOWER_TEETH_LIGHT = 0.9
#: Upper teeth: the share of the opening they fill and their longest visible crown (share of the inner
#: mouth width); the same for the lower teeth. A dark gap (at least 15 % of the opening) stays between.
UPPER_SHARE, UPPER_MAX = 0.55, 0.12
LOWER_SHARE, LOWER_MAX = 0.3, 0.08
#: The teeth's share of the opening at most (small mouth, large mouth): the rest is the dark gap between
#: the rows (dlib, like a viewer, reads the opening from it; a small blurred mouth needs more of it).
TEETH_ROOM = (0.65, 0.85)
#: Opening (share of the inner mouth width) from which the teeth show and where they show fully: lips
#: barely apart leave a dark slit (the teeth lie in the lips' shadow). Without it the teeth filled a 2-4 px
#: gap edge to edge and read as a white thread between the lips (docs/render.md, "A barely open mouth").
TEETH_SHOW = (0.045, 0.13)
#: ... on mouths this wide (inner width, pixels) and more, fully from the second: on a small mouth (GRID's
#: 30-35 px) a slit of a pixel or two and the teeth mix in the blur, no thread shows, and the sync model
#: scored its teeth there (LSE-C 0.199 -> 0.190 on grid7 with the fade on every mouth).
TEETH_SHOW_PX = (35.0, 50.0)
#: On a small mouth the lower teeth show later (opening + this), shorter (by this share), dimmer (by this).
LOWER_TEETH_LATER, LOWER_TEETH_SHORTER, LOWER_TEETH_DIMMER = 0.08, 0.4, 0.2
#: How far the upper teeth show towards the corners (share of the half width; the cheeks' shadow beyond) and
#: a factor on the separations' darkness.
TEETH_SPAN = 0.75
SEAMS = 1.0
#: The inner-lip mask's blur (pixels: constant + share of the inner width; at most 2 % of the width).
MASK_SOFT = (0.5, 0.006)
#: Softness of every painted edge, pixels of the photo (about the width of a real edge in a sharp photo).
SOFT_PX = 0.9
#: The inner-lip rim: where the lips meet the teeth a real mouth shows a dark wet line / shadow, so the
#: lip's edge (not the teeth's) reads as the inner-lip contour. Darkness at the lip and width (pixels:
#: at least ``SOFT_PX``, else this share of the opening).
RIM_DARK, RIM_SHARE = 0.6, 0.06
#: The dental arch seen from the front (mm): the inner mouth's half width shows ``ARCH_HALF_MM`` of a
#: circle of ``ARCH_RADIUS_MM``; the teeth as (distal edges along the arch, crown lengths over the
#: central incisor's, separation darkness at the midline and at each edge).
ARCH_HALF_MM = 22.0
ARCH_RADIUS_MM = 25.0
LOWER_ARCH_RADIUS_MM = 21.0
UPPER_TEETH = ((8.5, 15.0, 22.5, 29.5, 36.5), (1.0, 0.86, 0.94, 0.8, 0.74), (0.26, 0.17, 0.14, 0.1, 0.08))
LOWER_TEETH = ((5.2, 10.8, 17.5, 24.5, 31.5), (1.0, 1.0, 0.95, 0.85, 0.8), (0.18, 0.14, 0.12, 0.08, 0.06))

def inner_gap(landmarks: np.ndarray) -> float:
    """Mean inner-lip gap (pairs 61-67, 62-66, 63-65), landmark units."""
    lm = np.asarray(landmarks, np.float64)
    return float(np.linalg.norm(lm[[61, 62, 63]] - lm[[67, 66, 65]], axis=1).mean())

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
    lm: np.ndarray, shape: tuple[int, ...], pad: int = 3, blur: float | None = None
) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The soft inner-lip mask of (68, 2) landmarks ``lm`` (image pixels) in an image of ``shape``.

    The smoothed inner-lip outline, filled anti-aliased at sub-pixel vertices and softened by a small
    blur (sigma 2 % of the inner mouth width, or ``blur`` pixels): where :func:`paint_mouth` paints.

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
    sigma = max(0.6, 0.02 * width) if blur is None else blur
    return (y0, y1, x0, x1), np.asarray(cv2.GaussianBlur(m, (0, 0), sigma), np.float32)


def blend_region(image: np.ndarray, box: tuple[int, int, int, int], values: np.ndarray, alpha: np.ndarray) -> None:
    """``image[box] = image[box] * (1 - alpha) + values * alpha`` in place (rounded for integer images)."""
    y0, y1, x0, x1 = box
    a = np.asarray(alpha, np.float32)[:, :, None]
    region = image[y0:y1, x0:x1].astype(np.float32)
    _store(image, box, region * (1.0 - a) + np.asarray(values, np.float32) * a)


def teeth_visibility(rel: float, width: float) -> float:
    """How much the teeth show (0..1) for an opening ``rel`` (inner-lip gap over inner mouth width).

    On a mouth at least ``TEETH_SHOW_PX[1]`` pixels wide (``width``): 0 up to ``TEETH_SHOW[0]`` (lips barely
    apart: a dark slit), 1 from ``TEETH_SHOW[1]`` on, smooth between; always 1 on a mouth up to
    ``TEETH_SHOW_PX[0]`` pixels wide, blended between.
    """
    large = float(smoothstep((width - TEETH_SHOW_PX[0]) / (TEETH_SHOW_PX[1] - TEETH_SHOW_PX[0])))
    return 1.0 - large * (1.0 - float(smoothstep((rel - TEETH_SHOW[0]) / (TEETH_SHOW[1] - TEETH_SHOW[0]))))


def _arch_positions(dx: np.ndarray, half_width: float, radius: float) -> np.ndarray:
    """Arch length (mm from the midline, signed) of the tooth surface seen at ``dx`` pixels from the mouth's centre.

    The dental arch seen from the front: a circle of ``radius`` mm whose front shows across the inner
    mouth's ``half_width`` pixels (``ARCH_HALF_MM`` of it); a point at arch length ``a`` is seen at
    ``radius * sin(a / radius)``, so the teeth get narrower towards the corners as the arch turns away.
    """
    scale = half_width / ARCH_HALF_MM  # pixels per mm at the front
    return np.asarray(radius * np.arcsin(np.clip(dx / max(scale * radius, 1e-6), -1.0, 1.0)))


def _row_of_teeth(
    arch: np.ndarray, bounds: tuple[float, ...], lengths: tuple[float, ...], seams: tuple[float, ...],
    tooth_px: float, px: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: the visible length factor of its tooth, the separation's darkness, the crown's rounding.

    Args:
        arch: (W,) arch length (mm, signed) of each column.
        bounds: the teeth's distal edges along the arch (mm from the midline), central incisor first.
        lengths: each tooth's crown length over the central incisor's.
        seams: darkness of the separation at the midline, then at each bound but the last.
        tooth_px: the central tooth's width in pixels (separations fade out from 14 px down to 5 px).
        px: photo pixels per sharp pixel (:attr:`MouthPalette.px`): the fade and the lines' width follow it.

    Returns:
        ``(length, seam, round_)``: (W,) each; ``length`` includes the small notch (embrasure) between
        two rounded incisal corners, ``seam`` the darkness (0..1) of a crisp separation line,
        ``round_`` 0 in the middle of a crown and 1 at its sides (a convex surface: darker sides).
    """
    a = np.abs(arch)
    edges = np.concatenate([[0.0], np.asarray(bounds, np.float64)])
    k = np.clip(np.searchsorted(edges, a, side="right") - 1, 0, len(bounds) - 1)
    lo, hi = edges[k], edges[k + 1]
    frac = np.clip((a - lo) / np.maximum(hi - lo, 1e-6), 0.0, 1.0)
    length = np.asarray(lengths, np.float64)[k]
    # distance (mm) to the nearest separation; the midline's is at a = 0 on both sides
    dist = np.minimum(a - lo, hi - a)
    near_lo = (a - lo) <= (hi - a)
    depth = np.where(near_lo, np.asarray(seams, np.float64)[k], np.asarray(seams + (0.0,), np.float64)[k + 1])
    mm_px = tooth_px / max(bounds[0], 1e-6)  # pixels per mm (front)
    visible = float(smoothstep((tooth_px / px - 5.0) / 9.0))  # separations fade out on small (blurred) mouths
    width_mm = max(0.45, 0.5 * SOFT_PX) * px / max(mm_px, 1e-6)  # a line about a pixel wide, whatever the size
    seam = SEAMS * visible * depth * np.exp(-((dist / width_mm) ** 2))
    # rounded incisal corners: a small notch (embrasure) between neighbouring crowns
    notch = 0.12 * np.exp(-((dist / 0.9) ** 2)) * visible
    return length * (1.0 - notch), seam, (2.0 * frac - 1.0) ** 2


def _corner_shade(s: np.ndarray) -> np.ndarray:
    """1 in the middle of the mouth falling to 0.65 at the corners (the cheeks' shadow beside the teeth);
    ``s``: -1 .. 1 across the mouth."""
    return np.asarray(1.0 - 0.35 * smoothstep((np.abs(s) - 0.55) / 0.4))


def cavity_share(width: float) -> float:
    """0 for an inner mouth up to ``CAVITY_PX[0]`` pixels wide (the dark cavity), 1 from ``CAVITY_PX[1]`` (the
    red one of :func:`hd_cavity`), smooth between."""
    return float(smoothstep((width - CAVITY_PX[0]) / (CAVITY_PX[1] - CAVITY_PX[0])))


def hd_cavity(lip: np.ndarray, u: np.ndarray, s: np.ndarray, rel: float) -> np.ndarray:
    """The cavity of a large open mouth: dark red under the upper lip, lighter down to the tongue.

    Args:
        lip: (3,) the lips' colour (:attr:`MouthPalette.lip`).
        u: (H, W) 0 at the upper inner lip, 1 at the lower, per pixel.
        s: (1, W) -1 .. 1 across the mouth.
        rel: the opening over the inner mouth width.

    Returns:
        (H, W, 3) float colours: the lips' colour ``CAVITY_SAT`` times as saturated, at ``CAVITY_HD`` of its
        level under the upper lip rising by ``CAVITY_RISE`` to the lower lip, darker in the corners (the
        cheeks' shadow); the tongue (``TONGUE_HD``) over the lower part; rise and tongue come in as the mouth
        opens from ``TONGUE_FROM[0]`` to ``TONGUE_FROM[1]`` of its width (a barely open mouth: a dark slit).
    """
    lip = np.asarray(lip, np.float64)
    y = float(lip @ LUMA)
    red = np.clip(y + CAVITY_SAT * (lip - y), 0.0, 255.0)
    opened = float(smoothstep((rel - TONGUE_FROM[0]) / (TONGUE_FROM[1] - TONGUE_FROM[0])))
    down = smoothstep(u) * opened
    corners = _corner_shade(s)
    level = CAVITY_HD * (1.0 + CAVITY_RISE * down) * corners
    tongue = smoothstep((u - TONGUE_TOP) / (1.0 - TONGUE_TOP)) * (1.0 - s**4) * opened
    level = level * (1.0 - tongue) + TONGUE_HD * tongue
    return np.asarray(red[None, None, :] * level[:, :, None])


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

    Everything is drawn per pixel of ``image`` (the photo's own resolution): edges are about a pixel
    soft on any mouth size (``SOFT_PX``), so a 1080p mouth gets crisp teeth, not a blurred small
    painting; sizes (teeth, bands) scale with the mouth.

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
    width = float(np.linalg.norm(lm[64] - lm[60]))
    # a soft photo's pixel is smaller than its detail: sizes in sharp pixels; a small mouth is treated as
    # blurred already (hd_share), so the extra softness applies as far as the mouth is large in pixels
    px = 1.0 + (palette.px - 1.0) * hd_share(width)
    mask_blur = min(0.02 * width, (MASK_SOFT[0] + MASK_SOFT[1] * width) * px)
    found = inner_mask(lm, image.shape[:2], blur=max(0.6, mask_blur))
    if found is None:
        return image
    (y0, y1, x0, x1), m = found
    hd = hd_share(width / palette.px)
    soft = SOFT_PX * (1.6 - 0.6 * hd) * px  # a small mouth's photo is blurred: softer edges
    # geometry: upper/lower inner-lip curves per column, horizontal position in the mouth
    xs = np.arange(x0, x1, dtype=np.float64)
    ys = np.arange(y0, y1, dtype=np.float64)
    up = _spline(lm[list(UPPER_INNER)], xs)
    low = _spline(lm[list(LOWER_INNER)], xs)
    open_ = np.maximum(low - up, 1e-3)
    centre_x = 0.5 * (lm[60, 0] + lm[64, 0])
    half = max(0.5 * width, 1e-3)
    s = np.clip((xs - centre_x) / half, -1.0, 1.0)  # -1 .. 1 across the mouth
    depth = ys[:, None] - up[None, :]  # pixels below the upper lip
    below = low[None, :] - ys[:, None]  # pixels above the lower lip
    u = depth / open_[None, :]  # 0 at the upper lip, 1 at the lower
    # cavity: the lips' colour much darker, darkest in the middle of the opening and in the corners
    # (the cheeks' shadow beside the teeth)
    centre_dark = 1.0 - 0.45 * np.exp(-((u - 0.55) ** 2) / 0.08) * (1.0 - s[None, :] ** 2)
    centre_dark = centre_dark * _corner_shade(s[None, :])
    cavity_level = CAVITY_LEVEL if palette.cavity_level is None else palette.cavity_level
    interior = palette.lip[None, None, :] * (cavity_level * centre_dark)[:, :, None]
    rel = gap / max(width, 1e-3)  # opening relative to mouth width
    if rel > 0.22:  # wide open: the tongue shows at the bottom
        tongue = smoothstep((u - 0.62) / 0.3) * min(1.0, (rel - 0.22) / 0.15) * (1.0 - s[None, :] ** 4)
        tongue_rgb = palette.lip * 0.55
        interior = interior * (1 - tongue[:, :, None]) + tongue_rgb[None, None] * tongue[:, :, None]
    big = cavity_share(width)
    if big > 0.0:  # a large mouth: a dark red cavity, lighter towards the tongue (a small one: as before)
        interior = interior * (1.0 - big) + hd_cavity(palette.lip, u, s[None, :], rel) * big
    if teeth:
        gain = TEETH_GAIN if palette.teeth_gain is None else palette.teeth_gain
        colour = palette.teeth if palette.enamel is None or palette.teeth_gain is not None else palette.enamel
        enamel = gain * np.asarray(colour, np.float64)
        tooth_px = UPPER_TEETH[0][0] * half / ARCH_HALF_MM
        # how much of each row shows: the upper teeth hang from the upper lip, the lower teeth rise from
        # the lower lip once the mouth opens enough; a dark gap always stays between them
        up_len = min(UPPER_SHARE * gap, UPPER_MAX * width)
        low_on = float(smoothstep((rel - LOWER_TEETH_FROM - (1.0 - hd) * LOWER_TEETH_LATER) / 0.08))
        low_len = min(LOWER_SHARE * gap, LOWER_MAX * width) * low_on * (1.0 - (1.0 - hd) * LOWER_TEETH_SHORTER)
        room = (TEETH_ROOM[0] + hd * (TEETH_ROOM[1] - TEETH_ROOM[0])) * gap
        if up_len + low_len > room:
            f = room / (up_len + low_len)
            up_len, low_len = up_len * f, low_len * f
        # upper teeth: per tooth a crown length (rounded corners, crisp incisal edge), a shadow under the
        # upper lip, convex crowns (darker sides), translucent tips, crisp thin separations; lit like the
        # photo (brightest in the middle, a little brighter on the lit side), receding into the corners
        arch = _arch_positions(xs - centre_x, half, ARCH_RADIUS_MM)
        length, seam, round_ = _row_of_teeth(arch, *UPPER_TEETH, tooth_px=tooth_px, px=palette.px)
        band = up_len * length[None, :] + 0.5
        fade = smoothstep((TEETH_SPAN - np.abs(s[None, :])) / 0.22)
        t_alpha = smoothstep((band - depth) / soft + 0.5) * fade
        across = (1.0 - 0.45 * np.abs(s[None, :]) ** 1.5) * (1.0 + palette.tilt * s[None, :])
        lip_shadow = 0.55 + 0.45 * smoothstep((depth - 0.3 * soft) / max(soft, 0.22 * up_len))
        tips = 1.0 - 0.12 * smoothstep((depth - 0.72 * band) / np.maximum(0.28 * band, soft))
        rim_px = max(SOFT_PX * px, RIM_SHARE * gap)
        rim_dark = RIM_DARK * hd  # a small mouth's photo is blurred: no crisp rim there
        rim = 1.0 - rim_dark * (1.0 - smoothstep(depth / rim_px))
        shade = across * lip_shadow * rim * tips * (1.0 - 0.1 * round_[None, :]) * (1.0 - seam[None, :])
        teeth_rgb = enamel[None, None, :] * shade[:, :, None]
        show = teeth_visibility(rel, width)
        t_alpha = t_alpha * show
        interior = interior * (1 - t_alpha[:, :, None]) + teeth_rgb * t_alpha[:, :, None]
        if low_len > 0.5:  # lower teeth: narrower, in the upper teeth's shadow, behind the lower lip at the sides
            arch_l = _arch_positions(xs - centre_x, half, LOWER_ARCH_RADIUS_MM)
            length_l, seam_l, round_l = _row_of_teeth(arch_l, *LOWER_TEETH, tooth_px=tooth_px * 0.6, px=palette.px)
            lband = low_len * length_l[None, :] * (1.0 - 0.6 * s[None, :] ** 2) + 0.5
            l_alpha = smoothstep((lband - below) / soft + 0.5) * smoothstep((0.7 - np.abs(s[None, :])) / 0.25) * show
            l_shade = (1.0 - 0.5 * np.abs(s[None, :]) ** 1.5) * (1.0 + palette.tilt * s[None, :])
            l_shade = l_shade * (0.8 + 0.2 * smoothstep((below - 0.25 * lband) / np.maximum(0.5 * lband, soft)))
            l_shade = l_shade * (1.0 - 0.1 * round_l[None, :]) * (1.0 - seam_l[None, :])
            l_shade = l_shade * (1.0 - rim_dark * (1.0 - smoothstep(below / rim_px)))
            light = LOWER_TEETH_LIGHT * (1.0 - (1.0 - hd) * LOWER_TEETH_DIMMER)
            low_rgb = light * enamel[None, None, :] * l_shade[:, :, None]
            interior = interior * (1 - l_alpha[:, :, None]) + low_rgb * l_alpha[:, :, None]
    blend_region(image, (y0, y1, x0, x1), interior, strength * m)
    return image
