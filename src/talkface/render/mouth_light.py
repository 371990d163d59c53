"""The light and colours the mouth interior is painted in: one photo's :class:`MouthPalette`.

:func:`talkface.render.mouth.paint_mouth` draws shapes (cavity, crowns, rows, rim); this module says how
bright and what colour they are for a photo, measured once per photo: the lips' and cheeks' colours and
side light (:meth:`MouthPalette.from_photo`), the teeth's colour, brighter and whiter on a large (HD)
mouth (:func:`hd_share`, :func:`enamel_colour`) and lit from the eye whites rather than the skin's tone
(:func:`teeth_light`, bounded by :func:`face_bright`), the optional contrast-adaptive levels from the
eyes' range (:func:`eye_contrast`, :func:`interior_levels`) and the photo's sharpness around the mouth
(:func:`edge_blur`, :func:`blur_scale`), which sets how large a "sharp pixel" is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from talkface.io.colour import LUMA

__all__ = ["MouthPalette", "blur_scale", "edge_blur", "enamel_colour", "eye_contrast", "face_bright", "hd_share",
           "interior_levels", "relit_enamel", "smoothstep", "teeth_light"]

#: The painted teeth's brightness: over the palette's skin-lit ``teeth`` on a small mouth, over the skin's on a
#: large one (:func:`enamel_colour`).
TEETH_SMALL, TEETH_OVER_SKIN = 0.9, 1.3
#: Inner mouth widths (pixels) between which a mouth goes from small (blurred interior) to large (crisp).
HD_FROM_PX, HD_FULL_PX = 35.0, 80.0
#: The photo's own sharpness around the mouth (:func:`edge_blur`, pixels): up to ``SHARP_BLUR_PX`` a photo
#: counts as sharp (the painting per pixel as above; sharp HD photos measure 0.6-1.03); beyond it every
#: ``BLUR_UNIT_PX`` more (a sharp edge's own width, the example face at 360x288) makes a "sharp pixel"
#: one photo pixel larger (:func:`blur_scale`: an upscaled or soft photo gets teeth as soft as its lips).
SHARP_BLUR_PX, BLUR_UNIT_PX = 1.1, 0.56
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


def smoothstep(x: np.ndarray | float) -> np.ndarray:
    """``3x^2 - 2x^3`` of ``x`` clipped to [0, 1]: 0 below 0, 1 above 1, smooth in between."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)




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


