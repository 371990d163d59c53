"""Frame-quality metrics of the papers' tables: PSNR, SSIM, CPBD, FDBM and LPIPS.

Every function takes numpy RGB frames, either one image (H, W, 3) uint8 or a video
(T, H, W, 3) uint8, and returns one float: for a video, the mean of the per-frame values (as
the papers average over frames and then over clips). Full-reference metrics (PSNR, SSIM,
LPIPS) compare a generated video with the ground truth frame by frame, so both must have the
same shape; no-reference sharpness metrics (CPBD, FDBM) look at one video.

* PSNR, dB, higher is better: ``10 log10(255^2 / MSE)``; identical frames have an infinite
  PSNR, capped here at :data:`PSNR_CAP` = 100 dB so that averages stay finite.
* SSIM (Wang et al. 2004), 0..1, higher is better: :func:`skimage.metrics.structural_similarity`
  on the RGB frames (7x7 uniform window, data range 255, mean over channels).
* CPBD (Narvekar & Karam 2009/2011), 0..1, higher is sharper: the cumulative probability of
  blur detection over the edges of 64x64 blocks. A vectorised port of the ``cpbd`` PyPI
  package (1.0.7, the Python port of the authors' MATLAB code), which no longer imports with
  SciPy >= 1.2 (``scipy.ndimage.imread``) and loops per pixel in Python; it reproduces that
  package's numbers (checked to < 1e-12 on test images). Frames are converted to 8-bit luma
  like the reference's ``imread(mode="L")``. Only whole 64x64 blocks are used, so frames must
  be at least 64x64 and the value depends on the frame size (compare like with like).
* FDBM (De & Masilamani 2013, "Image sharpness measure for blurred images in frequency
  domain"), higher is sharper: the fraction of Fourier coefficients whose magnitude exceeds
  1/1000 of the largest one.
* LPIPS (Zhang et al. 2018), >= 0, lower is better: VGG16 LPIPS v0.1 (:class:`talkface.nets.LPIPS`).

The CPBD code follows software copyright (c) 2009-2010 Arizona Board of Regents (Lina Karam,
Niranjan Narvekar, IVU Lab, http://ivulab.asu.edu), redistributed with modification under its
terms, which ask that publications using it acknowledge the IVU Lab and cite: N. D. Narvekar
and L. J. Karam, "A No-Reference Image Blur Metric Based on the Cumulative Probability of Blur
Detection (CPBD)", IEEE Transactions on Image Processing 20(9), 2011.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
from scipy.ndimage import convolve
from skimage.feature import canny
from skimage.metrics import structural_similarity

if TYPE_CHECKING:
    from talkface.nets.vgg import LPIPS

__all__ = ["PSNR_CAP", "cpbd", "fdbm", "lpips", "psnr", "ssim"]

#: PSNR reported for identical frames (and the ceiling of every frame's PSNR), dB.
PSNR_CAP = 100.0

# CPBD constants of the reference implementation.
_CPBD_EDGE_BLOCK_FRACTION = 0.002  # a block with more Canny edge pixels than this fraction is an edge block
_CPBD_BETA = 3.6  # slope of the psychometric function
_CPBD_BLOCK = 64  # block side, pixels
_CPBD_MAX_MARGIN = 100  # edge widths are measured up to 101 pixels on each side
#: Just-noticeable blur width for a block of contrast c (index c = max - min grey level).
_CPBD_WIDTH_JNB = np.concatenate([5.0 * np.ones(51), 3.0 * np.ones(205)])


def _as_video(frames: np.ndarray, name: str = "frames") -> np.ndarray:
    """(H, W, 3) or (T, H, W, 3) uint8 -> (T, H, W, 3) uint8 (a view)."""
    a = np.asarray(frames)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3 or a.shape[0] == 0:
        raise ValueError(f"{name} must be (H, W, 3) or (T, H, W, 3) RGB, got shape {a.shape}")
    if a.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 (0..255), got {a.dtype}")
    return a


def _pair(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref, tst = _as_video(reference, "reference"), _as_video(test, "test")
    if ref.shape != tst.shape:
        raise ValueError(f"reference and test differ in shape: {ref.shape} vs {tst.shape}")
    return ref, tst


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio, mean over frames.

    Args:
        reference, test: (H, W, 3) or (T, H, W, 3) uint8 RGB of the same shape.

    Returns:
        Mean over frames of ``10 log10(255^2 / MSE_t)`` in dB (MSE over pixels and channels); a
        frame identical to its reference scores :data:`PSNR_CAP` (100 dB) instead of infinity.
    """
    ref, tst = _pair(reference, test)
    diff = ref.astype(np.float64) - tst.astype(np.float64)
    mse = (diff**2).reshape(diff.shape[0], -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(255.0**2 / mse)
    return float(np.minimum(values, PSNR_CAP).mean())


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Structural similarity, mean over frames.

    Args:
        reference, test: (H, W, 3) or (T, H, W, 3) uint8 RGB of the same shape, each side >= 7 pixels.

    Returns:
        Mean SSIM over frames (1.0 for identical frames), computed on RGB with a 7x7 window and
        data range 255 (:func:`skimage.metrics.structural_similarity`, channel mean).
    """
    ref, tst = _pair(reference, test)
    values = [
        structural_similarity(r, t, data_range=255, channel_axis=-1) for r, t in zip(ref, tst, strict=True)
    ]
    return float(np.mean(values))


def _luma(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float64 8-bit luma (ITU-R 601, rounded, like PIL's "L")."""
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY).astype(np.float64)


def _cpbd_sobel_edges(image: np.ndarray) -> np.ndarray:
    """Thinned vertical Sobel edges as in the reference (Octave ``edge(..., "sobel")`` style)."""
    h1 = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]) / 8.0
    strength2 = np.square(convolve(image, h1.T))
    thresh2 = 2.0 * np.sqrt(np.mean(strength2))
    strength2[strength2 <= thresh2] = 0.0
    pad_c = np.zeros((strength2.shape[0], 1))
    pad_r = np.zeros((1, strength2.shape[1]))
    x = (strength2 > np.c_[pad_c, strength2[:, :-1]]) & (strength2 > np.c_[strength2[:, 1:], pad_c])
    y = (strength2 > np.r_[pad_r, strength2[:-1, :]]) & (strength2 > np.r_[strength2[1:, :], pad_r])
    return x | y


def _walk_widths(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, step: int, rising: bool) -> np.ndarray:
    """Pixels walked from each edge pixel along its row while the intensity keeps its trend.

    From column ``c``, pairs (inner, outer) = (c + step (1 + m), c + step (2 + m)) for
    m = 0..100 are visited; the walk stops at the first pair where ``image[outer] - image[inner]``
    is not strictly positive (``rising``) / not strictly negative, or where outer leaves the
    image. Returns m_stop + 1 (101 when it never stops), as the reference's loops do.
    """
    width = image.shape[1]
    result = np.full(rows.shape[0], _CPBD_MAX_MARGIN + 1, dtype=np.int64)
    alive = np.ones(rows.shape[0], dtype=bool)
    for m in range(_CPBD_MAX_MARGIN + 1):
        if not alive.any():
            break
        inner = cols + step * (1 + m)
        outer = cols + step * (2 + m)
        outside = (outer < 0) | (outer >= width)
        safe_outer = np.clip(outer, 0, width - 1)
        safe_inner = np.clip(inner, 0, width - 1)
        diff = image[rows, safe_outer] - image[rows, safe_inner]
        stop = alive & (outside | ((diff <= 0) if rising else (diff >= 0)))
        result[stop] = m + 1
        alive &= ~stop
    return result


def _marziliano_widths(sobel_edges: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Edge widths (Marziliano et al. 2002) at the Sobel edge pixels, 0 elsewhere: (H, W) float64."""
    widths = np.zeros(image.shape)
    gradient_y, gradient_x = np.gradient(image)
    angles = np.where(gradient_x != 0, np.degrees(np.arctan2(gradient_y, gradient_x)), 0.0)
    if not np.any(angles):
        return widths
    quantized = 45.0 * np.round(angles / 45.0)
    inside = np.zeros(image.shape, dtype=bool)
    inside[1:-1, 1:-1] = True
    edges = sobel_edges & inside
    # Gradient pointing left (+-180 deg): intensity falls left->right across the edge.
    r, c = np.nonzero(edges & (np.abs(quantized) == 180.0))
    if r.size:
        widths[r, c] = _walk_widths(image, r, c, -1, rising=True) + _walk_widths(image, r, c, +1, rising=False)
    # Gradient pointing right (0 deg): intensity rises left->right.
    r, c = np.nonzero(edges & (quantized == 0.0))
    if r.size:
        widths[r, c] = _walk_widths(image, r, c, -1, rising=False) + _walk_widths(image, r, c, +1, rising=True)
    return widths


def _cpbd_gray(image: np.ndarray) -> float:
    """CPBD of one (H, W) float64 grey image with levels 0..255."""
    canny_edges = canny(image)
    widths = _marziliano_widths(_cpbd_sobel_edges(image), image)
    hist = np.zeros(101)
    total = 0
    n_rows, n_cols = image.shape[0] // _CPBD_BLOCK, image.shape[1] // _CPBD_BLOCK
    for i in range(n_rows):
        for j in range(n_cols):
            rs = slice(_CPBD_BLOCK * i, _CPBD_BLOCK * (i + 1))
            cs = slice(_CPBD_BLOCK * j, _CPBD_BLOCK * (j + 1))
            if np.count_nonzero(canny_edges[rs, cs]) <= _CPBD_BLOCK * _CPBD_BLOCK * _CPBD_EDGE_BLOCK_FRACTION:
                continue
            block_widths = widths[rs, cs]
            block_widths = block_widths[block_widths != 0]
            block = image[rs, cs]
            jnb = _CPBD_WIDTH_JNB[int(np.max(block) - np.min(block))]
            p_blur = 1.0 - np.exp(-np.abs(block_widths / jnb) ** _CPBD_BETA)
            buckets = np.round(p_blur * 100.0).astype(np.int64)
            hist += np.bincount(buckets, minlength=101)[:101]
            total += buckets.size
    if total > 0:
        hist = hist / total
    return float(np.sum(hist[:64]))


def cpbd(frames: np.ndarray) -> float:
    """Cumulative probability of blur detection (sharpness), mean over frames.

    Args:
        frames: (H, W, 3) or (T, H, W, 3) uint8 RGB, H and W >= 64 (only whole 64x64 blocks count).

    Returns:
        Mean CPBD in [0, 1], higher is sharper; a frame without edge blocks scores 0. About
        0.2-0.3 on GRID frames (the papers' ground truth: 0.28), lower when blurred.
    """
    video = _as_video(frames)
    if min(video.shape[1:3]) < _CPBD_BLOCK:
        raise ValueError(f"CPBD needs frames of at least {_CPBD_BLOCK}x{_CPBD_BLOCK}, got {video.shape[1:3]}")
    return float(np.mean([_cpbd_gray(_luma(f)) for f in video]))


def fdbm(frames: np.ndarray) -> float:
    """Frequency-domain blur measure (De & Masilamani 2013), mean over frames.

    For an M x N grey image with Fourier magnitude |F|, ``FM = #{|F| > max|F| / 1000} / (M N)``.

    Args:
        frames: (H, W, 3) or (T, H, W, 3) uint8 RGB (converted to 8-bit luma).

    Returns:
        Mean FM in [0, 1], higher is sharper (the temporal-GAN paper's GRID ground truth: 0.121).
    """
    video = _as_video(frames)
    values = []
    for f in video:
        magnitude = np.abs(np.fft.fft2(_luma(f)))  # fftshift does not change the count
        values.append(np.count_nonzero(magnitude > magnitude.max() / 1000.0) / magnitude.size)
    return float(np.mean(values))


def lpips(
    reference: np.ndarray,
    test: np.ndarray,
    *,
    model: LPIPS | None = None,
    stride: int = 1,
    batch_size: int = 8,
) -> float:
    """LPIPS (VGG16, v0.1) distance, mean over frames.

    Args:
        reference, test: (H, W, 3) or (T, H, W, 3) uint8 RGB of the same shape, sides >= 16.
        model: A :class:`talkface.nets.LPIPS` to reuse (its weights load once); a new one if None.
        stride: Use every ``stride``-th frame only (LPIPS costs ~5 GFLOP per 128x128 frame pair: about
            0.5 s per pair on 2 CPU cores).
        batch_size: Frame pairs per forward pass.

    Returns:
        Mean LPIPS distance, >= 0 (0 for identical frames), lower is more similar.
    """
    import torch

    from talkface.nets.vgg import LPIPS  # lazy: loads torch

    ref, tst = _pair(reference, test)
    ref, tst = ref[:: max(1, stride)], tst[:: max(1, stride)]
    net = model if isinstance(model, LPIPS) else LPIPS()
    device = next(iter(net.buffers())).device
    values: list[np.ndarray] = []
    with torch.no_grad():
        for i in range(0, ref.shape[0], batch_size):
            a = torch.from_numpy(ref[i : i + batch_size]).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
            b = torch.from_numpy(tst[i : i + batch_size]).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
            values.append(net(a, b).cpu().numpy())
    return float(np.concatenate(values).mean())
