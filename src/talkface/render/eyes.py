"""Closing eyelids: a lid of the photo's own skin drawn over the open eye.

A warp cannot close an eye well: lowering the upper lid with a smooth spline stretches the lid skin
*and the lashes* down over the eye, which reads as dark vertical streaks, and leaves a slit of eye
where the lids should meet. So while a requested eye is closing the renderer keeps the photo's open
eye in the warp (moved rigidly with the face, :class:`talkface.render.compose.NativeRenderer`) and
:func:`paint_lids` draws the upper lid over it:

* the **lid** covers the area the upper lid sweeps: from a little above the open lid line (where the
  photo's lashes are, so they disappear with the lid) down to the requested lid edge; at a blink's
  apex the lids meet low, near the open eye's lower lid (as a real closed eye's do), so the eye is
  fully covered;
* its **skin** is the photo's own lid skin: the shading of the skin just above the lid continued down
  it (lashes and other hues - hair, a glasses frame - left out; a shadowed socket keeps its shade), the
  fine grain of that skin mirrored downwards across the top of the lid (finer than the crease, whose
  lines came back as arcs), and a little shading towards the lid's margin; as the lid closes, the open
  lid's dark outline and crease just above it fade (``OWN_LID``; before, one smooth colour of the skin
  around the eye, paler than a shadowed socket);
* the **lashes** are a dark curve along the lid edge, in the colour of the photo's lash line,
  thickest in the middle and outer part and thinning towards the corners, on large eyes no thicker than
  the photo's blur allows (a fixed share of the eye's width drew a dark bar on HD faces); where the lids meet they
  hang just below the edge, over the lower lid's margin, so a closed eye shows lid skin where the
  photo's dark iris was (the detector-free closure measure read the lash line over the iris as eye
  still showing: 0.31 of the open eye at the apex, real closed eyes 0.22; now 0.22, held-out GRID);
* where the lids meet, a soft **margin band** darkens the skin around the closure line: a real closed
  eye is a dark slit, and dlib reads it as closed only then (a thin line on bright skin read 0.66 of
  open at the apex, this 0.47, real closed eyes 0.47; ``docs/render.md``, "Blink depth").

Nothing outside the swept area (plus a soft top edge a few percent of the eye's width tall) changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from talkface.face.eyes import eye_aspect_ratio
from talkface.face.geometry import EYES
from talkface.io.colour import LUMA
from talkface.render.mouth import _store, edge_blur, smoothstep

__all__ = ["LidPalette", "closing", "paint_lids"]

#: brow points above each eye of EYES
_BROWS = ((17, 18, 19, 20, 21), (22, 23, 24, 25, 26))
#: inner eye corners (iBUG 68)
_INNER = (39, 42)

#: a requested eye aspect ratio below this fraction of the open eye's makes the eye a painted lid
START = 0.98
#: ... fully opaque from this fraction on (the ramp in between fades the lid in over a frame or two)
FULL = 0.9
#: the lid edge reaches the open eye's lower lid when the requested ratio falls to CLOSED (and moves
#: towards it from SNAP on): a blink's apex (the blink stage asks for ~0.10) is a closed eye
SNAP = 0.4
CLOSED = 0.15
#: how far above the open upper-lid line the lid starts (the photo's lashes), fraction of the eye width
LASHES = 0.2
#: the lid reaches this far past dlib's outer / inner eye corner, fraction of the eye width
EXTEND_OUTER = 0.3
EXTEND_INNER = 0.08
#: ... and below the open lower-lid line (the lower lashes), covered when the lower lid rises
LOWER_LASHES = 0.1
#: how far below that the lower lid's skin is mirrored from, fraction of the eye width
LOWER_REACH = 0.25
#: closed eyes meet this far up from the open lower lid (fraction of the open eye's gap): a real closed
#: eye's lid margin lies low, near the open lower lid (0.35 before: the lash line lay over the photo's
#: dark iris, which the detector-free closure measure counted as eye still showing)
MEET = 0.15
#: the mirrored skin's fine texture is kept up to this many levels (0-255) either way
TEXTURE = 6.0
#: lash line thickness at its thickest, fraction of the eye width
LASH_WIDTH = 0.16
#: a closed eye's margin shadow: darkening at the closure line (fraction) and its half-height (fraction of the width)
SHADOW = 0.4
SHADOW_SIGMA = 0.1
#: opacity of the lash line at its centre
LASH_ALPHA = 0.8
#: the lid's soft outer edge is half opaque this many soft-edge widths beyond the lid's outer line (so
#: the photo's own upper-lid line just above it is mostly covered, less of a faint arc over the closed lid)
COVER_UP = 0.5
#: centre of the lash line above the lid edge, fraction of its thickness, while the lid comes down
#: (open) and where the lids meet (closed: the lashes hang down over the lower lid's margin)
LASH_OFFSET_OPEN = 0.2
LASH_OFFSET_CLOSED = -0.2
#: exponent of the lash line's profile across it (2: Gaussian; larger: flatter, with crisper edges)
LASH_PROFILE = 3.0
#: the luma weights in float32 (the lid fill works in float32)
_LUMA32 = LUMA.astype(np.float32)
#: pixels darker than this fraction of the lid colour's luma (lashes, brows) are left out of the skin fill
DARK = 0.75
#: the lid as the photo's own lid skin (docs/render.md, "Closed lids that look like the person's own"):
#: its shading is the upper-lid skin's just above it, continued down each column (smoothed at LOCAL of the
#: eye width, lash line and crease left out), its texture only the photo's fine grain (finer than
#: TEXTURE_SCALE px + half the photo's edge blur, so the crease and the open lid's outline do not come back
#: as arcs), and on large eyes the lash line and the margin shadow are as thin as the photo's: LASH_FINE of
#: the width + LASH_PX + the edge blur at most (GRID-sized eyes keep about LASH_WIDTH). False: the lids
#: before (one smooth skin colour, LASH_WIDTH always).
OWN_LID = True
LOCAL = 0.15
LOCAL_ACROSS = 0.04
TEXTURE_SCALE = 0.8
LASH_FINE = 0.04
LASH_PX = 2.0
#: own lid: the fine texture is kept up to this many levels either way (lines of the crease and the lid's
#: outline in the mirrored skin came back as faint arcs inside the lid at TEXTURE), and above the lid, up to
#: CREASE of the width over its top edge, anything darker than the skin there (the open eye's lid outline,
#: its crease) fades with the closure
TEXTURE_OWN = 2.0
CREASE = 0.25
#: ... by all but this many levels (the skin's own soft shading there stays)
CREASE_KEEP = 6.0
#: own lid: mirrored pixels whose chromaticity (r, g, b over their sum) differs from the lid skin's by more
#: than this (summed absolute difference) are not skin
HUE = 0.06
#: own lid: its shading is the skin up to this far above the lid (fraction of the eye width; further up, the
#: brow's shadow)
OWN_REACH = 0.12


def _frame(lm: np.ndarray, eye: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Eye frame: origin (the first corner), unit axis along the eye, unit up (on screen), width."""
    a, b = lm[eye[0]], lm[eye[3]]
    axis = b - a
    width = float(np.linalg.norm(axis))
    x = axis / max(width, 1e-6)
    up = np.array([x[1], -x[0]])
    if up[1] > 0:  # eye[0] may be the outer or the inner corner: "up" points up on screen
        up = -up
    return a, x, up, width


def _local(points: np.ndarray, a: np.ndarray, x: np.ndarray, up: np.ndarray, width: float) -> np.ndarray:
    """(N, 2) points as (s, h): position along the eye (0..1 corner to corner) and height above it (px)."""
    d = np.asarray(points, np.float64) - a
    return np.stack([d @ x / max(width, 1e-6), d @ up], axis=1)


_TABLE = np.linspace(0.0, 1.0, 65)


def _curve(points: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Height h(s) of a lid through (s, h) points (corners included): smooth (monotone cubic) interpolation,
    tabulated on 65 positions along the eye and read off linearly."""
    p = points[np.argsort(points[:, 0])]
    xs, ys = p[:, 0], p[:, 1]
    keep = np.concatenate([[True], np.diff(xs) > 1e-6])
    xs, ys = xs[keep], ys[keep]
    if len(xs) < 3:
        return np.interp(s, xs, ys).astype(np.float32)
    from scipy.interpolate import PchipInterpolator

    table = PchipInterpolator(xs, ys, extrapolate=True)(np.clip(_TABLE, xs[0], xs[-1]))
    return np.interp(s, _TABLE, table).astype(np.float32)


@dataclass(frozen=True)
class LidPalette:
    """Lid colours of each eye of a photo and the open eyes' aspect ratios.

    Attributes:
        lid: (2, 3) RGB lid skin just above the lashes (median).
        ear: (2,) the open eyes' aspect ratios closure is measured against.
        lash: (2, 3) RGB of the photo's lash line (the darkest pixels along the upper lid).
        blur: the photo's edge width (pixels, :func:`talkface.render.mouth.edge_blur`): how soft its lash
            line is.
    """

    lid: np.ndarray
    ear: np.ndarray
    lash: np.ndarray
    blur: float = 0.0

    @classmethod
    def from_photo(cls, photo: np.ndarray, landmarks: np.ndarray, open_ear: np.ndarray | None = None) -> LidPalette:
        """Measure the lid skin (a band 0.12-0.3 of the eye's width above each upper lid) and the lash line.

        Args:
            photo: (H, W, 3) uint8 RGB.
            landmarks: (68, 2) its landmarks.
            open_ear: (2,) the open-eye aspect ratios closure is measured against (default: the
                photo's); the renderer passes the median over the requested track, so that a track whose
                open eyes are narrower than the photo's does not count as closing.
        """
        lm = np.asarray(landmarks, np.float64)
        lids, lashes = [], []
        for eye in EYES:
            a, x, up, width = _frame(lm, eye)
            upper = lm[[eye[0], eye[1], eye[2], eye[3]]]
            band = np.concatenate([upper + 0.12 * width * up, (upper + 0.3 * width * up)[::-1]])
            line = np.concatenate([upper - 0.03 * width * up, (upper + 0.06 * width * up)[::-1]])
            colours = []
            for poly in (band, line):
                mask = np.zeros(photo.shape[:2], np.uint8)
                cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
                colours.append(photo[mask > 0].astype(np.float64).reshape(-1, 3))
            skin, edge = colours
            lid = np.median(skin, axis=0) if len(skin) else np.array([180.0, 140.0, 120.0])
            if len(edge):
                luma = edge @ LUMA
                lash = edge[luma <= np.percentile(luma, 15)].mean(axis=0)
            else:
                lash = 0.3 * lid
            lids.append(lid)
            lashes.append(np.minimum(0.7 * lash + 0.3 * 0.45 * lid, 0.6 * lid))  # softer than the darkest pixels
        ear = eye_aspect_ratio(lm, per_eye=True) if open_ear is None else open_ear
        return cls(np.asarray(lids), np.asarray(ear, np.float64), np.asarray(lashes), edge_blur(photo, lm))


def closing(target: np.ndarray, palette: LidPalette) -> np.ndarray:
    """(2,) per eye: the requested eye aspect ratio over the open eye's (1: open, ~0.1 at a blink's apex)."""
    ears = eye_aspect_ratio(np.asarray(target, np.float64), per_eye=True)
    return np.asarray(ears, np.float64) / np.maximum(palette.ear, 1e-6)


def _mirrored(image: np.ndarray, a: np.ndarray, x: np.ndarray, up: np.ndarray, width: float, s: np.ndarray,
              src_h: np.ndarray) -> np.ndarray:
    """``image`` sampled at eye coordinates (s, src_h): float32 (h, w, 3)."""
    sw = s * np.float32(width)
    map_x = np.float32(a[0]) + sw * np.float32(x[0]) + src_h * np.float32(up[0])
    map_y = np.float32(a[1]) + sw * np.float32(x[1]) + src_h * np.float32(up[1])
    return cv2.remap(np.ascontiguousarray(image), map_x.astype(np.float32), map_y.astype(np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101).astype(np.float32)


def _fill(region: np.ndarray, usable: np.ndarray, sigma: float, lid: np.ndarray) -> np.ndarray:
    """Normalised convolution: ``region``'s colours where ``usable``, spread smoothly over the rest (the
    lid's colour where nothing usable is near); computed at a reduced size (the result is smooth)."""
    h, w = usable.shape
    f = max(1.0, sigma / 3.0)
    size = (max(2, round(w / f)), max(2, round(h / f)))
    small = cv2.resize(region * usable[..., None], size, interpolation=cv2.INTER_AREA)
    weight = cv2.resize(usable, size, interpolation=cv2.INTER_AREA)
    num = cv2.GaussianBlur(small, (0, 0), max(0.5, sigma / f))
    den = cv2.GaussianBlur(weight, (0, 0), max(0.5, sigma / f))[..., None]
    known = np.clip(den / 0.05, 0.0, 1.0)
    out = num / np.maximum(den, 1e-3) * known + lid[None, None] * (1.0 - known)
    return np.asarray(cv2.resize(out.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR))


def _smooth_own(near: np.ndarray, cover: np.ndarray, lid: np.ndarray, along: float, across: float,
                fill: np.ndarray) -> np.ndarray:
    """The lid's own skin colour: a normalised convolution of ``near`` (the skin above the lid continued down
    it, sampled on a coarser grid than ``fill``'s) over its skin pixels under the lid (``cover``, on
    ``near``'s grid), ``along`` px of that grid wide along the image rows and ``across`` px across them (a
    glasses frame or a lash crossing that skin would otherwise run down the lid as a streak), ``fill`` where
    none is near; computed at a reduced size (the result is smooth) and returned at ``fill``'s size.

    Skin pixels: as bright as ``DARK`` of the lid colour's luma or brighter (lashes left out; a shadowed
    socket stays in) and of its hue (chromaticity within ``HUE``: hair, a tinted frame left out)."""
    h, w = fill.shape[:2]
    f = max(1.0, min(along, across) / 1.5)
    size = (max(2, round(cover.shape[1] / f)), max(2, round(cover.shape[0] / f)))
    small = cv2.resize(near, size, interpolation=cv2.INTER_AREA)
    tint = small / np.maximum(small.sum(axis=-1, keepdims=True), 1.0)
    hue = np.abs(tint - (lid / max(float(lid.sum()), 1.0))[None, None]).sum(axis=-1)
    weight = ((small @ _LUMA32 >= DARK * float(lid @ _LUMA32)) & (hue < HUE)
              & (cv2.resize(cover, size, interpolation=cv2.INTER_AREA) > 0.02)).astype(np.float32)
    sx, sy = max(0.5, along / f), max(0.5, across / f)
    num = cv2.GaussianBlur(small * weight[..., None], (0, 0), sigmaX=sx, sigmaY=sy)
    den = cv2.GaussianBlur(weight, (0, 0), sigmaX=sx, sigmaY=sy)
    value = cv2.resize((num / np.maximum(den, 1e-3)[..., None]).astype(np.float32), (w, h),
                       interpolation=cv2.INTER_LINEAR)
    known = np.clip(cv2.resize(den.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) / 0.3, 0.0, 1.0)
    return np.asarray(value * known[..., None] + fill * (1.0 - known[..., None]), np.float32)


def paint_lids(
    image: np.ndarray,
    target: np.ndarray,
    open_eyes: np.ndarray,
    palette: LidPalette,
    *,
    origin: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """Draw the upper lid of each closing eye of ``target`` over the open eye; ``image`` (uint8 or float32) in place.

    Args:
        image: the frame (or a region of it starting at ``origin``) showing the photo's *open* eyes at
            ``open_eyes``.
        target: (68, 2) the requested landmarks, frame pixels.
        open_eyes: (68, 2) the photo's landmarks moved with the face (its open eyes where ``image``
            shows them), frame pixels.
        palette: the photo's lid colours (:meth:`LidPalette.from_photo`).
        origin: (x, y) of ``image``'s top-left pixel in the frame.
    """
    o = np.asarray(origin, np.float64)
    tgt = np.asarray(target, np.float64) - o
    opn = np.asarray(open_eyes, np.float64) - o
    ratios = closing(target, palette)
    for k, eye in enumerate(EYES):
        ratio = float(ratios[k])
        opacity = float(np.clip((START - ratio) / (START - FULL), 0.0, 1.0))
        if opacity <= 0:
            continue
        a, x, up, width = _frame(opn, eye)
        if width < 4:
            continue
        corners = _local(opn[[eye[0], eye[3]]], a, x, up, width)
        upper_open = _local(opn[[eye[0], eye[1], eye[2], eye[3]]], a, x, up, width)
        lower_open = _local(opn[[eye[0], eye[5], eye[4], eye[3]]], a, x, up, width)
        upper_tgt = np.concatenate([corners, _local(tgt[[eye[1], eye[2]]], a, x, up, width)])
        brow = _local(opn[list(_BROWS[k])], a, x, up, width)
        # the box the lid may touch: the eye plus the band above it the skin is mirrored from
        lo = min(float(lower_open[:, 1].min()), float(upper_tgt[:, 1].min())) - 2.0
        lid_top = float(upper_open[:, 1].max())
        reach = float(np.clip(0.7 * (np.median(brow[:, 1]) - lid_top), 0.12 * width, 0.45 * width))
        corner_pts = np.concatenate([a[None], opn[[eye[3]]]])
        box_pts = np.concatenate([corner_pts + lo * up, corner_pts + (lid_top + reach) * up])
        pad = (EXTEND_OUTER + 0.06 + 0.12 * COVER_UP) * width + 2  # + the soft edge moved out
        x0 = max(0, int(np.floor(box_pts[:, 0].min() - pad)))
        x1 = min(image.shape[1], int(np.ceil(box_pts[:, 0].max() + pad)) + 1)
        y0 = max(0, int(np.floor(box_pts[:, 1].min() - pad)))
        y1 = min(image.shape[0], int(np.ceil(box_pts[:, 1].max() + pad)) + 1)
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dx, dy = xx - np.float32(a[0]), yy - np.float32(a[1])
        s = (dx * np.float32(x[0]) + dy * np.float32(x[1])) / np.float32(width)
        h = dx * np.float32(up[0]) + dy * np.float32(up[1])
        s_in = np.clip(s, 0.0, 1.0)
        # dlib's eye corners sit inside the visible eye (lashes reach past them, most at the outer
        # corner): the lid reaches past the corners too
        inner_first = eye[0] in _INNER
        lo_s, hi_s = (-EXTEND_INNER, 1.0 + EXTEND_OUTER) if inner_first else (-EXTEND_OUTER, 1.0 + EXTEND_INNER)
        s_ext = np.clip((s - lo_s) / (hi_s - lo_s), 0.0, 1.0)
        bump = np.sqrt(np.clip(np.sin(np.pi * s_ext), 0.0, None))  # 0 at the (extended) corners, 1 in the middle
        # the open upper lid's curve once (SciPy's PCHIP constructor and table: ~2.8 ms a call on the loaded 2-core VM)
        upper_curve = _curve(upper_open, s_in)
        top = upper_curve + LASHES * width * bump  # above the photo's lashes
        lower = _curve(lower_open, s_in)
        bottom = lower - LOWER_LASHES * width * bump  # below the photo's lower lashes
        # the lid edge: the requested upper lid; from SNAP on it goes on down to the closure line a
        # little above the open lower lid, and the lower lid rises to meet it there
        snap = float(np.clip((SNAP - ratio) / (SNAP - CLOSED), 0.0, 1.0))
        closure = lower + MEET * (upper_curve - lower)
        edge_up = np.minimum(_curve(upper_tgt, s_in), top - 0.5)
        edge = edge_up + snap * (np.minimum(closure, edge_up) - edge_up)
        rise = bottom + snap * (closure - bottom)
        soft = max(1.0, 0.12 * width)
        gap = 0.03 * width
        fade = smoothstep(np.minimum(s_ext, 1.0 - s_ext) / 0.04)
        lid = palette.lid[k].astype(np.float32)
        region = image[y0:y1, x0:x1].astype(np.float32)
        layers = [(1.0, top, edge, reach, opacity)]
        if snap > 0:
            layers.append((-1.0, -bottom, -rise, LOWER_REACH * width, opacity * snap))
        covers, details, owns = [], [], []
        step = max(1, int(LOCAL_ACROSS * width / 1.5))  # the own skin is smooth: sampled every step pixels
        for sign, outer_b, inner_b, room_h, alpha in layers:
            g = sign * h  # height into the layer's skin side (up for the upper lid, down for the lower)
            span = np.maximum(outer_b - inner_b, 1e-3)
            depth = np.clip(outer_b - g, 0.0, None)
            room = np.maximum(room_h - gap, 1.0)
            src_h = sign * (outer_b + gap + depth * np.minimum(1.0, room / span))
            details.append(_mirrored(image, a, x, up, width, s_in, src_h))
            if OWN_LID:  # the skin just above the lid (up to OWN_REACH), each column's continued down it
                own_h = sign * (outer_b + gap + np.minimum(depth, OWN_REACH * width))
                owns.append(_mirrored(image, a, x, up, width, s_in[::step, ::step], own_h[::step, ::step]))
            v = np.clip(depth / span, 0.0, 1.0)
            cover = (np.clip((outer_b + (1.0 + COVER_UP) * soft - g) / (2.0 * soft), 0.0, 1.0)
                     * np.clip(g - inner_b + 0.5, 0.0, 1.0) * fade)
            # the lid's margin is a little darker (it curves away from the light)
            covers.append((alpha * cover, 1.0 - 0.1 * smoothstep((v - 0.55) / 0.45)))
        # skin colour: the surrounding skin's, filled in smoothly (normalised convolution over the box,
        # the lids and anything dark around them - lashes, brows - left out), plus the mirrored skin's
        # fine texture, clipped so that nothing dark can come back as streaks
        union = np.maximum.reduce([c for c, _ in covers])
        weights = _LUMA32
        luma = region @ weights
        usable = ((union < 0.02) & (luma >= DARK * float(lid @ weights))).astype(np.float32)
        fill = _fill(region, usable, 0.2 * width, lid)
        blur = float(np.clip(palette.blur, 0.0, 3.0))
        if OWN_LID and CREASE > 0:
            # the open lid's dark outline, crease and lashes under and just above the lid's soft top edge fade
            # as it closes (in a real closed eye the skin above is stretched smooth): lightened towards the
            # smooth skin, never darkened
            above = (np.clip((h - top + 2.0 * soft) / soft, 0.0, 1.0)
                     * np.clip((top + CREASE * width - h) / soft, 0.0, 1.0))
            a_w = (opacity * smoothstep((FULL - ratio) / (FULL - SNAP)) * above * fade)[..., None]
            region = region + a_w * np.maximum(fill - region - CREASE_KEEP, 0.0)
        out = region
        for i, ((cover, shade), detail) in enumerate(zip(covers, details, strict=True)):
            if OWN_LID:
                # the lid's own skin, smoothed: its shading (a shadowed socket stays shadowed), dark
                # lashes and other hues left out (where there is none the surrounding skin's fill)
                base = _smooth_own(owns[i], cover[::step, ::step], lid, LOCAL * width / step,
                                   LOCAL_ACROSS * width / step, fill)
                grain = TEXTURE_SCALE + 0.5 * blur
                texture = detail - cv2.GaussianBlur(detail, (0, 0), grain)
            else:
                base = fill
                texture = detail - cv2.GaussianBlur(detail, (0, 0), max(0.8, 0.08 * width))
            grain_max = TEXTURE_OWN if OWN_LID else TEXTURE
            skin = (base + np.clip(texture, -grain_max, grain_max)) * shade[..., None]
            c = cover[..., None]
            out = out * (1.0 - c) + skin * c
        # the lash line at its thickest: LASH_WIDTH of the eye's width, on large eyes no thicker than the photo's
        thickest = LASH_WIDTH * width
        if OWN_LID:
            thickest = min(thickest, LASH_FINE * width + LASH_PX + blur)
        if SHADOW > 0 and snap > 0:
            # a closed eye reads as a soft dark band along the closed lids' margin (lashes, the shadow
            # between the lids), fading out towards the corners and away from the margin
            along = np.clip(np.sin(np.pi * s_ext), 0.0, 1.0) ** 0.7
            band = np.exp(-(((h - edge) / (SHADOW_SIGMA / LASH_WIDTH * thickest)) ** 2)) * along
            out = out * (1.0 - (SHADOW * opacity * snap) * (band * union))[..., None]
        # lashes: a dark curve along the edge, thickest in the middle and outer part
        outer = s_ext if inner_first else 1.0 - s_ext  # 1 at the outer corner
        thick = np.maximum(0.9, thickest * (0.45 + 0.55 * bump) * (0.85 + 0.3 * outer))
        # centre of the line just above the edge; where the lids meet, just below it
        offset = LASH_OFFSET_OPEN + snap * (LASH_OFFSET_CLOSED - LASH_OFFSET_OPEN)
        dist = h - (edge + offset * thick)
        lash = np.exp(-(np.abs(dist / (0.5 * thick + 0.3)) ** LASH_PROFILE)) * LASH_ALPHA
        lash *= smoothstep(np.minimum(s_ext, 1.0 - s_ext) / 0.15)
        la = (opacity * lash)[..., None]
        out = out * (1.0 - la) + palette.lash[k].astype(np.float32)[None, None] * la
        _store(image, (y0, y1, x0, x1), out)
    return image
