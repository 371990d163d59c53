"""The inside of an opening mouth, painted where the warp has only stretched lip pixels.

A warp cannot make what the photo does not show: when a closed mouth opens, the pixels between the
inner lips are the photo's lip line, stretched. :func:`paint_mouth` paints, inside the requested
inner-lip polygon only and with a soft (anti-aliased, blurred) mask, a mouth interior made from the
photo's own colours (:class:`MouthPalette`): a dark cavity (the lips' colour, darkened, darkest in
the middle and in the corners), the upper teeth hanging from the upper lip as a row of crowns on the
dental arch seen from the front (narrower towards the corners, rounded incisal corners, thin
separations, a shadow under the lip), the lower teeth rising from the lower lip once the mouth opens,
a dark gap between the rows, and the tongue when the mouth opens wide. Drawn per pixel of the photo
with edges about a pixel soft, so a large (HD) mouth gets crisp teeth; on a large mouth the teeth are
lit like the photo's skin (:func:`enamel_colour`), on a small blurred one (GRID) they keep the dimmer
levels that match its real interiors. Nothing outside the inner lips changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from talkface.io.colour import LUMA

__all__ = ["MouthPalette", "blend_region", "blur_scale", "edge_blur", "enamel_colour", "eye_contrast", "face_bright",
           "hd_share", "inner_gap", "inner_mask", "interior_levels", "paint_mouth", "relit_enamel", "smoothstep",
           "teeth_light", "teeth_visibility"]

UPPER_INNER = (60, 61, 62, 63, 64)
LOWER_INNER = (60, 67, 66, 65, 64)
# The painted interior's levels (module constants so benchmarks/mouth_interior_sweep.py can vary them)
#: Brightness of the cavity, a share of the lips' colour (before the darker middle).
CAVITY_LEVEL = 0.3
#: Gain on the teeth's palette colour.
TEETH_GAIN = 1.0
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
#: The painted teeth's brightness: over the palette's skin-lit ``teeth`` on a small mouth, over the skin's on a
#: large one (:func:`enamel_colour`).
TEETH_SMALL, TEETH_OVER_SKIN = 0.9, 1.3
#: Inner mouth widths (pixels) between which a mouth goes from small (blurred interior) to large (crisp).
HD_FROM_PX, HD_FULL_PX = 35.0, 80.0
#: How far the upper teeth show towards the corners (share of the half width; the cheeks' shadow beyond) and
#: a factor on the separations' darkness.
TEETH_SPAN = 0.75
SEAMS = 1.0
#: The inner-lip mask's blur (pixels: constant + share of the inner width; at most 2 % of the width).
MASK_SOFT = (0.5, 0.006)
#: Softness of every painted edge, pixels of the photo (about the width of a real edge in a sharp photo).
SOFT_PX = 0.9
#: The photo's own sharpness around the mouth (:func:`edge_blur`, pixels): up to ``SHARP_BLUR_PX`` a photo
#: counts as sharp (the painting per pixel as above; sharp HD photos measure 0.6-1.03); beyond it every
#: ``BLUR_UNIT_PX`` more (a sharp edge's own width, the example face at 360x288) makes a "sharp pixel"
#: one photo pixel larger (:func:`blur_scale`: an upscaled or soft photo gets teeth as soft as its lips).
SHARP_BLUR_PX, BLUR_UNIT_PX = 1.1, 0.56
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
#: Adaptive levels at the training corpus's contrast (GRID s1 train split: the painted interior's grey
#: statistics match the real interiors', ``benchmarks/mouth_interior_rule.py``).
REF_CAVITY_LEVEL = 0.7
REF_TEETH_GAIN = 0.75
#: The training corpus's eye contrast (median :func:`eye_contrast` of GRID s1 train photos).
REF_EYE_CONTRAST = 0.867
#: Bounds of the contrast exponent (a photo's eye contrast over the reference).
CONTRAST_RANGE = (0.75, 2.0)
#: The teeth's light from the eye whites (:func:`teeth_light`): the sclera's brightness (90th percentile of the
#: eye polygons' luminance) over the cheeks' up to which the skin-lit rule is kept (above GRID s1's photos,
#: 0.72-0.80 but for a rare one, and grid7's 0.66-0.81: they render as before), the exponent on the photo's
#: ratio over it (fitted on wild + GRID s1: log real teeth ~ 0.77 log(sclera / skin)) and the factor's bounds
#: on that ratio (raise only: a sclera dim over the skin, a squint or shadowed eyes keep the rule). Fallback 1
#: (the skin-lit rule) where the eyes are nearly closed (contour area under ``SCLERA_OPEN`` of the squared eye
#: width), cover fewer than ``SCLERA_MIN_PX`` pixels or are saturated.
SCLERA_REF, SCLERA_EXP, SCLERA_RANGE = 0.82, 0.8, (1.0, 1.5)
SCLERA_OPEN, SCLERA_MIN_PX = 0.1, 100
#: Whether the palette's enamel follows :func:`teeth_light` (False: the skin-lit rule alone, as before).
SCLERA_LIGHT = True
#: The raised teeth stay below this percentile of the face's luminance (the brightest non-specular face pixels).
FACE_BRIGHT_PCT = 99.0


def _eye_luma(photo: np.ndarray, landmarks: np.ndarray, open_share: float, min_px: int) -> np.ndarray | None:
    """Luminance of the photo's pixels inside both eye contours (36-41, 42-47); None when an eye is (nearly)
    closed (contour area under ``open_share`` of the squared eye width) or they cover fewer than ``min_px``."""
    lm = np.asarray(landmarks, np.float64)
    h, w = photo.shape[:2]
    for a in (36, 42):
        pts = lm[a : a + 6].astype(np.float32)
        if cv2.contourArea(pts) < open_share * float(np.sum((pts[3] - pts[0]) ** 2)):
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
    if int(eyes.sum()) < min_px:
        return None
    return np.asarray(photo[y0:y1, x0:x1][eyes > 0].astype(np.float64) @ LUMA)


def eye_contrast(photo: np.ndarray, landmarks: np.ndarray) -> float | None:
    """Log ratio of the bright to the dark end (90th / 10th percentile luminance) inside both eye contours.

    The eye is the face's own reference for the mouth interior: a white, recessed tissue (the sclera,
    like the teeth) beside a dark opening (pupil, lash line, like the cavity), seen under the same
    light, lens blur, tone curve and compression as the mouth. A washed-out or blurred photo (GRID's
    MPEG, 20-px eyes) has a small log range, a crisp high-contrast one a large one. None when the eyes
    are (nearly) closed (contour area under 5 % of the squared eye width), cover fewer than 12 pixels,
    or are black.
    """
    luma = _eye_luma(photo, landmarks, 0.05, 12)
    if luma is None:
        return None
    dark, bright = np.percentile(luma, [10, 90])
    if bright < 8.0:
        return None
    return float(np.log(bright / max(dark, 2.0)))


def teeth_light(photo: np.ndarray, landmarks: np.ndarray, skin_luma: float) -> float:
    """Factor on the skin-lit teeth from the photo's eye whites: 1 where the sclera is no brighter over the skin
    than on (nearly every) GRID s1 photo.

    The teeth are about equally bright for every skin tone under the same light, but the palette lights them
    like the cheeks, so a dark skin reads as a dim photo and gets dark teeth. The sclera, like the teeth a
    white tissue under the same light, is near the teeth's brightness whatever the skin: a sclera bright
    over the skin (a dark skin) raises the teeth by ``(ratio / SCLERA_REF) ** SCLERA_EXP``, the ratio's
    share within ``SCLERA_RANGE`` (at most 1.5 ** 0.8 = 1.38). 1 (no information) when the eyes are
    nearly closed, cover fewer than ``SCLERA_MIN_PX`` pixels, or their bright end is saturated (glare on
    glasses).

    Args:
        photo: (H, W, 3) RGB uint8.
        landmarks: (68, 2) the photo's landmarks.
        skin_luma: the cheeks' median luminance.
    """
    luma = _eye_luma(photo, landmarks, SCLERA_OPEN, SCLERA_MIN_PX) if skin_luma >= 8.0 else None
    if luma is None:
        return 1.0
    sclera = float(np.percentile(luma, 90))
    if sclera >= 250.0:
        return 1.0
    ratio = float(np.clip(sclera / skin_luma / SCLERA_REF, *SCLERA_RANGE))
    return ratio**SCLERA_EXP


def face_bright(photo: np.ndarray, landmarks: np.ndarray) -> float:
    """The face's brightest non-specular luminance: ``FACE_BRIGHT_PCT`` of the luminance inside the hull of the
    jaw and brows, the inner mouth left out."""
    lm = np.asarray(landmarks, np.float64)
    face = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(face, [cv2.convexHull(np.round(lm[:27]).astype(np.int32))], 1)
    cv2.fillPoly(face, [np.round(lm[60:68]).astype(np.int32)], 0)
    if not face.any():
        return 255.0
    return float(np.percentile(photo[face > 0].astype(np.float64) @ LUMA, FACE_BRIGHT_PCT))


def relit_enamel(enamel: np.ndarray, factor: float, ceiling: float) -> np.ndarray:
    """``enamel`` times the :func:`teeth_light` ``factor``; raised, no brighter than ``ceiling`` (the face's
    :func:`face_bright`) unless it already was."""
    enamel = np.asarray(enamel, np.float64)
    level = float(enamel @ LUMA)
    target = level * factor
    if factor > 1.0:
        target = min(target, max(level, ceiling))
    return np.asarray(np.clip(enamel * (target / max(level, 1e-6)), 0.0, 255.0), np.float64)


def edge_blur(photo: np.ndarray, landmarks: np.ndarray, sigma: float = 3.0) -> float:
    """Width (pixels, a Gaussian's sigma) of the photo's edges around the mouth: how soft the photo is there.

    The gradient energy of the mouth's box (outer lips plus a quarter of their width around: lip contour,
    skin, philtrum) is compared with the same box blurred by ``sigma``: a step edge of blur ``b`` has a
    gradient energy proportional to ``1 / b``, so the ratio is ``r = b / sqrt(b^2 + sigma^2)`` and
    ``b = sigma r / sqrt(1 - r^2)``. A large ``sigma`` (3 px) leaves noise and fine texture out of the
    ratio (they vanish in the blurred box and only lower ``r`` a little). Measured once per photo
    (about a millisecond). Sharp HD frames measure 0.6-1.03, GRID's 360x288 frames 0.25-0.8, the
    example face 0.56 and, upscaled, 1.24 (x2) and 2.46 (x4).

    Args:
        photo: (H, W, 3) RGB uint8.
        landmarks: (68, 2) the photo's landmarks.
        sigma: the comparison blur, pixels.

    Returns:
        The blur width in pixels; 0 when the box is too small or flat.
    """
    lm = np.asarray(landmarks, np.float64)
    pad = 0.25 * float(np.linalg.norm(lm[54] - lm[48]))
    h, w = photo.shape[:2]
    x0, x1 = max(0, int(lm[48:68, 0].min() - pad)), min(w, int(lm[48:68, 0].max() + pad) + 1)
    y0, y1 = max(0, int(lm[48:68, 1].min() - pad)), min(h, int(lm[48:68, 1].max() + pad) + 1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return 0.0
    grey = np.ascontiguousarray(photo[y0:y1, x0:x1], np.float32) @ np.asarray(LUMA, np.float32)

    def energy(img: np.ndarray) -> float:
        gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
        return float((gx * gx + gy * gy)[2:-2, 2:-2].mean())

    e0 = energy(grey)
    if e0 < 1e-6:
        return 0.0
    r = min(energy(cv2.GaussianBlur(grey, (0, 0), sigma)) / e0, 0.999)
    return float(sigma * r / np.sqrt(1.0 - r * r))


def blur_scale(blur_px: float) -> float:
    """Photo pixels per "sharp pixel" for an :func:`edge_blur` width: 1 up to ``SHARP_BLUR_PX``, then one more
    per ``BLUR_UNIT_PX`` (the example face x4: about 3.5)."""
    return 1.0 + max(0.0, float(blur_px) - SHARP_BLUR_PX) / BLUR_UNIT_PX


def hd_share(mouth_px: float) -> float:
    """0 for a small mouth (inner width <= ``HD_FROM_PX`` px), 1 for a large one (>= ``HD_FULL_PX``), smooth between.

    How much of its real contrast a photo's mouth interior shows: on a small mouth (GRID's 30-px
    mouths, MPEG) blur and compression mix the teeth with the dark gaps (the real interiors' brightest
    5 % reach 0.57-0.96 of the cheeks' luminance), on a large one (HDTF's 85 px) the teeth are
    bright (1.23-1.27 of the cheeks) over a dark cavity.
    """
    return float(smoothstep((mouth_px - HD_FROM_PX) / (HD_FULL_PX - HD_FROM_PX)))


def enamel_colour(skin: np.ndarray, teeth: np.ndarray, mouth_px: float) -> np.ndarray:
    """The painted teeth's colour for a photo: ``teeth`` on a small mouth, brighter and whiter on a large one.

    Luminance ``TEETH_SMALL`` of ``teeth``'s on a small mouth (the level the painting always had), up to
    ``TEETH_OVER_SKIN`` of the cheeks' on a large one (:func:`hd_share`; the real HD interiors' brightest
    5 %: 1.23-1.27 of the cheeks on three HDTF clips, whatever the skin's tone), at most 245; the tint
    goes from 45 % to 20 % skin, the rest ivory.
    """
    hd = hd_share(mouth_px)
    small = TEETH_SMALL * float(teeth @ LUMA)
    level = small + hd * (TEETH_OVER_SKIN * float(np.asarray(skin, np.float64) @ LUMA) - small)
    ivory = np.array([1.05, 1.0, 0.86])
    skin_tint = np.asarray(skin, np.float64) / max(float(np.asarray(skin, np.float64) @ LUMA), 1.0)
    tint = (0.55 + 0.25 * hd) * ivory + (0.45 - 0.25 * hd) * skin_tint
    tint = tint / float(tint @ LUMA)
    return np.asarray(np.clip(min(level, 245.0) * tint, 0.0, 255.0), np.float64)


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
        enamel: the painted teeth's colour (:func:`enamel_colour`: ``teeth``, brighter and whiter on a
            large mouth); None: ``teeth``. The adaptive levels keep ``teeth`` (they were fitted on it).
        px: photo pixels per sharp pixel around the mouth (:func:`blur_scale` of :func:`edge_blur`; 1: a
            sharp photo): the teeth's edge softness and the HD extras (brightness, separations, rim) follow
            the mouth's size in sharp pixels, so a soft or upscaled photo gets teeth as soft as its lips.
    """

    lip: np.ndarray
    skin: np.ndarray
    teeth: np.ndarray
    tilt: float = 0.0
    cavity_level: float | None = None
    teeth_gain: float | None = None
    enamel: np.ndarray | None = None
    px: float = 1.0

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
        px = blur_scale(edge_blur(photo, lm))
        enamel = enamel_colour(skin, teeth, float(np.linalg.norm(lm[64] - lm[60])) / px)
        if SCLERA_LIGHT:  # the teeth's light from the eye whites, not the skin's tone
            enamel = relit_enamel(enamel, teeth_light(photo, lm, float(np.dot(skin, LUMA))), face_bright(photo, lm))
        return cls(np.asarray(lip, np.float64), np.asarray(skin, np.float64), teeth, tilt, *levels,
                   enamel=enamel, px=px)


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


def smoothstep(x: np.ndarray | float) -> np.ndarray:
    """``3x^2 - 2x^3`` of ``x`` clipped to [0, 1]: 0 below 0, 1 above 1, smooth in between."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


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
    centre_dark = centre_dark * (1.0 - 0.35 * smoothstep((np.abs(s[None, :]) - 0.55) / 0.4))
    cavity_level = CAVITY_LEVEL if palette.cavity_level is None else palette.cavity_level
    interior = palette.lip[None, None, :] * (cavity_level * centre_dark)[:, :, None]
    rel = gap / max(width, 1e-3)  # opening relative to mouth width
    if rel > 0.22:  # wide open: the tongue shows at the bottom
        tongue = smoothstep((u - 0.62) / 0.3) * min(1.0, (rel - 0.22) / 0.15) * (1.0 - s[None, :] ** 4)
        tongue_rgb = palette.lip * 0.55
        interior = interior * (1 - tongue[:, :, None]) + tongue_rgb[None, None] * tongue[:, :, None]
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
