"""Similarity (Procrustes) alignment of landmark shapes, face crops and pasting crops back.

Used for the landmark retargeting of Das et al. (Sec. 3.3): the canonical-space motion is
mapped onto a person's neutral landmarks through a Procrustes (rotation, uniform scale,
translation) alignment, and for cropping faces the way the texture networks see them.

Normalised shape space (:func:`canonical_face`, :func:`mean_face`, :func:`normalize_shape`):
centroid of the 68 points at the origin, the line from the right-eye centre (mean of 36-41) to
the left-eye centre (mean of 42-47) along +x, and unit inter-ocular distance between those
eye centres; y points down as in images. A 68-point face is then about 2.3 units wide (jaw)
and 2.3 high (brows to chin).

Affine matrices are OpenCV-style (2, 3) float64 arrays mapping image points
``[x, y, 1]`` to crop points (:func:`transform_points`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import cv2
import numpy as np

from talkface.face.geometry import STABLE_POINTS

__all__ = [
    "MIRROR_68",
    "STABLE_POINTS",
    "Similarity",
    "align_to_canonical",
    "canonical_face",
    "crop_transform",
    "crop_transforms",
    "mean_face",
    "normalize_shape",
    "paste_back",
    "procrustes",
    "transform_points",
    "warp_crop",
]

#: Index permutation that maps iBUG-68 landmarks to those of the horizontally mirrored face
#: (``mirrored[:, i] = flipped[:, MIRROR_68[i]]`` after negating x).
MIRROR_68: tuple[int, ...] = (
    tuple(range(16, -1, -1))  # jaw
    + tuple(range(26, 16, -1))  # brows
    + (27, 28, 29, 30)  # nose bridge
    + (35, 34, 33, 32, 31)  # nose base
    + (45, 44, 43, 42, 47, 46)  # right eye <- left eye
    + (39, 38, 37, 36, 41, 40)  # left eye <- right eye
    + (54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55)  # outer lips
    + (64, 63, 62, 61, 60, 67, 66, 65)  # inner lips
)


@dataclass(frozen=True, eq=False)
class Similarity:
    """2-D similarity transform ``x -> scale * rotation @ x + translation``.

    Attributes:
        scale: Uniform scale factor (> 0).
        rotation: (2, 2) float64 rotation matrix (determinant +1).
        translation: (2,) float64 translation, in destination units.
    """

    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform (..., 2) points; returns float64 (..., 2)."""
        p = np.asarray(points, dtype=np.float64)
        return self.scale * p @ self.rotation.T + self.translation

    def inverse(self) -> Similarity:
        """The inverse transform (destination -> source)."""
        r_t = self.rotation.T
        return Similarity(1.0 / self.scale, r_t, -(r_t @ self.translation) / self.scale)

    def matrix(self) -> np.ndarray:
        """(2, 3) float64 affine matrix ``[s R | t]`` (usable with ``cv2.warpAffine``)."""
        return np.concatenate([self.scale * self.rotation, self.translation[:, None]], axis=1)

    def compose(self, first: Similarity) -> Similarity:
        """``self ∘ first``: apply ``first``, then ``self``."""
        return Similarity(
            self.scale * first.scale,
            self.rotation @ first.rotation,
            self.scale * self.rotation @ first.translation + self.translation,
        )

    @property
    def angle(self) -> float:
        """Rotation angle in radians (counter-clockwise in x-right/y-up axes; clockwise on screen)."""
        return float(np.arctan2(self.rotation[1, 0], self.rotation[0, 0]))

    @classmethod
    def identity(cls) -> Similarity:
        """The identity transform."""
        return cls(1.0, np.eye(2), np.zeros(2))

    @classmethod
    def from_params(cls, scale: float, angle: float, translation: Sequence[float] | np.ndarray) -> Similarity:
        """Build from scale, angle (radians) and translation (2,)."""
        c, s = np.cos(angle), np.sin(angle)
        return cls(float(scale), np.array([[c, -s], [s, c]]), np.asarray(translation, dtype=np.float64).reshape(2))


def _umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched least-squares similarity (Umeyama 1991, no reflection).

    src, dst: (B, N, 2) float64. Returns scale (B,), rotation (B, 2, 2), translation (B, 2).
    """
    mu_s = src.mean(axis=1, keepdims=True)
    mu_d = dst.mean(axis=1, keepdims=True)
    xs = src - mu_s
    xd = dst - mu_d
    var_s = (xs**2).sum(axis=(1, 2)) / src.shape[1]
    cov = np.einsum("bni,bnj->bij", xd, xs) / src.shape[1]  # (B, 2, 2) = dst^T src / N
    u, d, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    sign[sign == 0] = 1.0
    e = np.ones((src.shape[0], 2))
    e[:, 1] = sign
    rot = u @ (e[:, :, None] * vt)
    scale = (d * e).sum(axis=1) / np.maximum(var_s, 1e-300)
    trans = mu_d[:, 0] - scale[:, None] * np.einsum("bij,bj->bi", rot, mu_s[:, 0])
    return scale, rot, trans


def procrustes(src: np.ndarray, dst: np.ndarray, *, points: Sequence[int] | np.ndarray | None = None) -> Similarity:
    """Least-squares similarity transform mapping ``src`` onto ``dst`` (Umeyama's method).

    Minimises ``sum_i |s R src_i + t - dst_i|^2`` over scale s > 0, rotation R (no
    reflection) and translation t.

    Args:
        src, dst: (N, 2) corresponding points (e.g. (68, 2) landmarks, pixels or normalised units).
        points: Optional indices of the points to fit on (e.g. :data:`STABLE_POINTS`); the transform
            still applies to all points.

    Returns:
        :class:`Similarity` with ``procrustes(src, dst).apply(src) ≈ dst``.
    """
    s = np.asarray(src, dtype=np.float64)
    d = np.asarray(dst, dtype=np.float64)
    if s.shape != d.shape or s.ndim != 2 or s.shape[1] != 2:
        raise ValueError(f"src and dst must both be (N, 2), got {s.shape} and {d.shape}")
    if points is not None:
        idx = np.asarray(points, dtype=np.intp)
        s, d = s[idx], d[idx]
    scale, rot, trans = _umeyama(s[None], d[None])
    return Similarity(float(scale[0]), rot[0], trans[0])


def normalize_shape(shape: np.ndarray) -> np.ndarray:
    """Bring a (..., 68, 2) shape into the normalised space (see module doc).

    Centroid at the origin, eye-centre line along +x, unit inter-ocular distance.

    Returns:
        (..., 68, 2) float32.
    """
    p = np.asarray(shape, dtype=np.float64)
    c = p.mean(axis=-2, keepdims=True)
    p = p - c
    eye_vec = p[..., 42:48, :].mean(axis=-2) - p[..., 36:42, :].mean(axis=-2)  # (..., 2)
    iod = np.linalg.norm(eye_vec, axis=-1)
    cos = eye_vec[..., 0] / np.maximum(iod, 1e-12)
    sin = eye_vec[..., 1] / np.maximum(iod, 1e-12)
    # rotate by -angle so the eye vector lies along +x
    x = (cos[..., None] * p[..., 0] + sin[..., None] * p[..., 1]) / np.maximum(iod, 1e-12)[..., None]
    y = (-sin[..., None] * p[..., 0] + cos[..., None] * p[..., 1]) / np.maximum(iod, 1e-12)[..., None]
    return np.stack([x, y], axis=-1).astype(np.float32)


def mean_face(shapes: np.ndarray, *, max_iter: int = 100, tol: float = 1e-7) -> np.ndarray:
    """Mean shape by generalised Procrustes analysis (GPA).

    Starting from the first shape, every shape is similarity-aligned (all 68 points) to the
    current mean, the mean is recomputed and normalised (:func:`normalize_shape`, which fixes
    the mean's position, rotation and scale), until it changes less than ``tol``.

    Args:
        shapes: (N, 68, 2) landmark shapes (any scale, position and in-plane rotation).

    Returns:
        (68, 2) float32 mean shape in the normalised space.
    """
    x = np.asarray(shapes, dtype=np.float64)
    if x.ndim != 3 or x.shape[1:] != (68, 2) or x.shape[0] == 0:
        raise ValueError(f"shapes must be (N, 68, 2) with N >= 1, got {x.shape}")
    mean = normalize_shape(x[0]).astype(np.float64)
    for _ in range(max_iter):
        scale, rot, trans = _umeyama(x, np.broadcast_to(mean, x.shape))
        aligned = scale[:, None, None] * np.einsum("bij,bnj->bni", rot, x) + trans[:, None, :]
        new = normalize_shape(aligned.mean(axis=0)).astype(np.float64)
        delta = float(np.abs(new - mean).max())
        mean = new
        if delta < tol:
            break
    return mean.astype(np.float32)


@functools.lru_cache(maxsize=1)
def _canonical_face_cached() -> np.ndarray:
    ref = resources.files("talkface").joinpath("assets", "canonical_face_68.npy")
    with ref.open("rb") as fh:
        arr = np.load(fh)
    if arr.shape != (68, 2):
        raise ValueError(f"canonical_face_68.npy has shape {arr.shape}, expected (68, 2)")
    arr = arr.astype(np.float32)
    arr.setflags(write=False)
    return arr


def canonical_face() -> np.ndarray:
    """The bundled canonical neutral face (mean of real frontal faces, mouth closed, eyes open).

    Built by ``scripts/make_canonical_face.py`` (GPA mean over GRID and wild clips,
    left-right symmetrised).

    Returns:
        (68, 2) float32 in the normalised space (centroid 0, eyes horizontal, unit inter-ocular
        distance; y down). A fresh copy each call.
    """
    return _canonical_face_cached().copy()


def _batch_similarity(
    landmarks: np.ndarray, reference: np.ndarray, points: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Similarity of each (B, 68, 2) shape onto ``reference`` fitted on ``points``."""
    idx = np.asarray(points, dtype=np.intp)
    src = landmarks[:, idx]
    dst = np.broadcast_to(reference[idx], src.shape)
    return _umeyama(src, dst)


def align_to_canonical(
    landmarks: np.ndarray,
    reference: np.ndarray | None = None,
    *,
    points: Sequence[int] = STABLE_POINTS,
) -> np.ndarray:
    """Similarity-align every shape onto a reference (rigid head motion removed).

    The transform is fitted on stable points only (top of the jaw line, nose, eye corners;
    :data:`STABLE_POINTS`) so that mouth opening does not tilt or shrink the aligned face, and
    applied to all 68 points.

    Args:
        landmarks: (68, 2) or (..., 68, 2) landmarks, pixels.
        reference: (68, 2) target shape; default :func:`canonical_face` (normalised units).

    Returns:
        Same shape as ``landmarks``, float32, in the reference's units.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape[-2:] != (68, 2):
        raise ValueError(f"landmarks must be (..., 68, 2), got {lm.shape}")
    ref = canonical_face() if reference is None else np.asarray(reference, dtype=np.float64)
    flat = lm.reshape(-1, 68, 2)
    scale, rot, trans = _batch_similarity(flat, np.asarray(ref, dtype=np.float64), points)
    out = scale[:, None, None] * np.einsum("bij,bnj->bni", rot, flat) + trans[:, None, :]
    return out.reshape(lm.shape).astype(np.float32)


def transform_points(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine (or (T, 2, 3) per frame) to (..., 2) points.

    Args:
        points: (..., 2) points; with a (T, 2, 3) ``affine`` the leading axis must be T.
        affine: (2, 3) or (T, 2, 3) matrix.

    Returns:
        (..., 2) float32 transformed points.
    """
    p = np.asarray(points, dtype=np.float64)
    a = np.asarray(affine, dtype=np.float64)
    if a.ndim == 2:
        out = p @ a[:, :2].T + a[:, 2]
    else:
        if p.shape[0] != a.shape[0]:
            raise ValueError("per-frame affines need points with the same leading (T) axis")
        lin = a[:, :, :2].reshape((a.shape[0],) + (1,) * (p.ndim - 2) + (2, 2))
        off = a[:, :, 2].reshape((a.shape[0],) + (1,) * (p.ndim - 2) + (2,))
        out = np.einsum("...ij,...j->...i", lin, p) + off
    return out.astype(np.float32)


def _template(size: int, margin: float, forehead: float) -> np.ndarray:
    """Canonical face placed in a size x size crop (pixels)."""
    ref = canonical_face().astype(np.float64)
    lo = ref.min(axis=0)
    hi = ref.max(axis=0)
    top = lo[1] - forehead * (hi[1] - lo[1])  # extend upwards for the forehead
    box_w = hi[0] - lo[0]
    box_h = hi[1] - top
    extent = max(box_w, box_h)
    scale = size * (1.0 - 2.0 * margin) / extent
    center = np.array([0.5 * (lo[0] + hi[0]), 0.5 * (top + hi[1])])
    return (ref - center) * scale + 0.5 * np.array([size, size]) - 0.5  # pixel centres at integers


def crop_transform(
    landmarks: np.ndarray,
    size: int = 128,
    *,
    margin: float = 0.1,
    forehead: float = 0.25,
) -> np.ndarray:
    """Image-to-crop affine placing a face like a fixed template.

    The template is the canonical face, its landmark box extended upwards by ``forehead``
    times its height (brows to chin), centred in the crop with ``margin`` (fraction of the
    crop side) on each side of the longer dimension: the whole face, some forehead and the
    chin inside, eyes horizontal, like FFHQ / VoxCeleb face crops. The similarity is fitted
    on the stable points, so it does not change when the mouth opens.

    Args:
        landmarks: (68, 2) landmarks, image pixels.
        size: Crop side in pixels.
        margin: Space around the face box, fraction of ``size``.
        forehead: Forehead added above the brows, fraction of the landmark box height.

    Returns:
        (2, 3) float64 affine, image pixels -> crop pixels (for :func:`warp_crop`).
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks must be (68, 2), got {lm.shape}")
    return procrustes(lm, _template(size, margin, forehead), points=STABLE_POINTS).matrix()


def crop_transforms(
    landmarks: np.ndarray,
    size: int = 128,
    *,
    smooth: bool = True,
    sigma: float = 2.0,
    margin: float = 0.1,
    forehead: float = 0.25,
) -> np.ndarray:
    """Per-frame crop affines for a landmark track, smoothed over time so crops don't jitter.

    Each frame's crop is described by the image position of the crop centre, log scale and
    angle; these are smoothed with a Gaussian of ``sigma`` frames (head motion is kept,
    landmark noise is not) and turned back into affines.

    Args:
        landmarks: (T, 68, 2) landmarks, image pixels.
        size: Crop side in pixels.
        smooth: Apply temporal smoothing.
        sigma: Gaussian standard deviation in frames.
        margin, forehead: As in :func:`crop_transform`.

    Returns:
        (T, 2, 3) float64 affines, image pixels -> crop pixels.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must be (T, 68, 2), got {lm.shape}")
    tpl = _template(size, margin, forehead)
    scale, rot, trans = _batch_similarity(lm, tpl, STABLE_POINTS)
    if not smooth or lm.shape[0] < 2:
        return np.concatenate([scale[:, None, None] * rot, trans[:, :, None]], axis=2)
    angle = np.unwrap(np.arctan2(rot[:, 1, 0], rot[:, 0, 0]))
    # image position of the crop centre: inverse transform of the crop's centre pixel
    c_crop = np.full(2, 0.5 * size - 0.5)
    c_img = np.einsum("bji,bj->bi", rot, c_crop[None] - trans) / scale[:, None]
    log_s = np.log(scale)
    from scipy.ndimage import gaussian_filter1d  # here: scipy.ndimage takes ~0.3 s to import

    c_img = gaussian_filter1d(c_img, sigma, axis=0, mode="nearest")
    log_s = gaussian_filter1d(log_s, sigma, mode="nearest")
    angle = gaussian_filter1d(angle, sigma, mode="nearest")
    s = np.exp(log_s)
    cos, sin = np.cos(angle), np.sin(angle)
    r = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], axis=1)  # (T, 2, 2)
    t = c_crop[None] - s[:, None] * np.einsum("bij,bj->bi", r, c_img)
    return np.concatenate([s[:, None, None] * r, t[:, :, None]], axis=2)


def warp_crop(image: np.ndarray, affine: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Cut a face crop out of an image with an affine (bilinear, replicated border).

    Strong downscaling first halves the image with ``cv2.pyrDown`` (Gaussian pre-filter), so
    crops of large frames are not aliased.

    Args:
        image: (H, W, C) or (H, W) image, any dtype cv2 supports (uint8 RGB usually).
        affine: (2, 3) image -> crop matrix (:func:`crop_transform`).
        size: Crop side, or ``(height, width)``.

    Returns:
        (size, size, C) crop of the same dtype.
    """
    h_out, w_out = (size, size) if isinstance(size, int) else size
    a = np.asarray(affine, dtype=np.float64).copy()
    src = np.asarray(image)
    scale = float(np.sqrt(abs(np.linalg.det(a[:, :2]))))
    while scale < 0.5 and min(src.shape[:2]) >= 4:
        src = cv2.pyrDown(src)
        # pyrDown maps x_small = (x + 0.5) / 2 - 0.5; compose with the inverse
        a[:, 2] = a[:, 2] + a[:, :2] @ np.array([0.5, 0.5])
        a[:, :2] *= 2.0
        a[:, 2] = a[:, 2] - a[:, :2] @ np.array([0.5, 0.5])
        scale *= 2.0
    return cv2.warpAffine(src, a, (w_out, h_out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def paste_back(image: np.ndarray, crop: np.ndarray, affine: np.ndarray, *, feather: int = 8) -> np.ndarray:
    """Put a (generated) face crop back into the original photo.

    The crop is warped back with the inverse of ``affine`` and blended with a mask that is 1
    inside the crop and ramps linearly to 0 over ``feather`` crop pixels at its border, so no
    seam shows. Only the crop's footprint is touched.

    Args:
        image: (H, W, 3) uint8 RGB original.
        crop: (S, S, 3) uint8 RGB crop (same geometry as ``warp_crop(image, affine, S)``).
        affine: (2, 3) image -> crop matrix used to cut the crop.
        feather: Width of the blending ramp in crop pixels.

    Returns:
        (H, W, 3) uint8 RGB new image.
    """
    img = np.asarray(image)
    cr = np.asarray(crop)
    a = np.asarray(affine, dtype=np.float64)
    h, w = img.shape[:2]
    ch, cw = cr.shape[:2]
    # footprint of the crop in the image
    inv = cv2.invertAffineTransform(a)
    corners = np.array([[-0.5, -0.5], [cw - 0.5, -0.5], [-0.5, ch - 0.5], [cw - 0.5, ch - 0.5]])
    pts = corners @ inv[:, :2].T + inv[:, 2]
    x0 = max(0, int(np.floor(pts[:, 0].min())) - 1)
    y0 = max(0, int(np.floor(pts[:, 1].min())) - 1)
    x1 = min(w, int(np.ceil(pts[:, 0].max())) + 2)
    y1 = min(h, int(np.ceil(pts[:, 1].max())) + 2)
    out = img.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    # affine from ROI pixels to crop pixels
    a_roi = a.copy()
    a_roi[:, 2] = a[:, 2] + a[:, :2] @ np.array([x0, y0], dtype=np.float64)
    roi_size = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(
        cr, a_roi, roi_size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    yy = np.arange(ch, dtype=np.float32)[:, None]
    xx = np.arange(cw, dtype=np.float32)[None, :]
    dist = np.minimum(np.minimum(xx + 0.5, cw - 0.5 - xx), np.minimum(yy + 0.5, ch - 0.5 - yy))
    mask = np.clip(dist / max(feather, 1e-6), 0.0, 1.0).astype(np.float32)
    m = cv2.warpAffine(
        mask,
        a_roi,
        roi_size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    if warped.ndim == 3:
        m = m[:, :, None]
    roi = out[y0:y1, x0:x1].astype(np.float32)
    blended = m * warped.astype(np.float32) + (1.0 - m) * roi
    if np.issubdtype(out.dtype, np.integer):
        blended = np.clip(np.rint(blended), np.iinfo(out.dtype).min, np.iinfo(out.dtype).max)
    out[y0:y1, x0:x1] = blended.astype(out.dtype)
    return out
