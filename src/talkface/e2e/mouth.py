"""Soft mouth masks from landmarks, for the mouth-weighted L1 of the temporal GAN (``mouth_weight``).

The whole-frame L1 of the residual model is dominated by the face around the mouth, which does not
move: a half-open average mouth costs it little. :func:`mouth_masks` marks, in every frame, the outer
lips (68-point landmarks 48-59) and the skin below them half-way down to the chin (where the jaw
moves when the mouth opens), feathered with a Gaussian; :func:`weighted_l1` weights each pixel's
absolute error by ``1 + w * mask``.

Landmarks are in the pixels of the prepared crops (``crop_size``); the masks are drawn at the
model's ``image_size``. The training data (:class:`talkface.e2e.data.SequenceDataset`) draws them
before the flip and the identity augmentation and sends them through the same flip and warp as the
frames (:func:`talkface.e2e.data.augment_with_masks`).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["MOUTH_POINTS", "mouth_l1", "mouth_masks", "weighted_l1"]

#: Outer-lip points of the 68-point scheme.
OUTER_LIPS = tuple(range(48, 60))
#: (lower-lip point, jaw point) pairs; the mask reaches half-way from each lip point to its jaw point.
_LIP_TO_JAW = ((59, 6), (58, 7), (57, 8), (56, 9), (55, 10))
#: Every landmark the mask is drawn from.
MOUTH_POINTS = tuple(sorted({*OUTER_LIPS, *(j for _, j in _LIP_TO_JAW)}))


def mouth_masks(landmarks: np.ndarray, size: int, crop_size: int, feather: float = 0.04) -> np.ndarray:
    """Soft masks of the mouth and the jaw region below it, one per frame.

    The region is the convex hull of the outer lips and of the points half-way from the lower lip to
    the jaw (landmarks 6-10); it is feathered by a Gaussian of standard deviation ``feather * size``
    and doubled before clipping, so it is 1 inside the hull and falls to 0 about two standard
    deviations outside it.

    Args:
        landmarks: ``(T, 68, 2)`` (x, y) in crop pixels.
        size: side of the masks, pixels (the model's ``image_size``).
        crop_size: side of the crops the landmarks are in.
        feather: Gaussian standard deviation as a fraction of ``size``.

    Returns:
        ``(T, size, size)`` float32 in [0, 1].
    """
    import cv2

    pts = np.asarray(landmarks, np.float64)
    if pts.ndim != 3 or pts.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must be (T, 68, 2), got {pts.shape}")
    pts = pts * (size / float(crop_size))
    sigma = max(0.5, feather * size)
    out = np.zeros((pts.shape[0], size, size), np.float32)
    for t, p in enumerate(pts):
        if not np.isfinite(p[list(MOUTH_POINTS)]).all():
            continue  # no face in this frame: no mouth weight
        jaw = np.stack([(p[lip] + p[j]) / 2.0 for lip, j in _LIP_TO_JAW])
        region = np.concatenate([p[list(OUTER_LIPS)], jaw])
        hull = cv2.convexHull(np.round(region * 4.0).astype(np.int32))  # 2 bits of sub-pixel precision
        hard = np.zeros((size, size), np.float32)
        cv2.fillConvexPoly(hard, hull, 1.0, lineType=cv2.LINE_AA, shift=2)
        soft = cv2.GaussianBlur(hard, (0, 0), sigma)
        out[t] = np.clip(2.0 * soft, 0.0, 1.0)
    return out


def weighted_l1(fake: torch.Tensor, real: torch.Tensor, mask: torch.Tensor | None, weight: float) -> torch.Tensor:
    """Mean of ``|fake - real| * (1 + weight * mask)`` over every pixel and channel.

    With ``weight = 0`` or no mask it is the plain mean absolute error, so the old loss is unchanged.

    Args:
        fake, real: ``(..., C, H, W)`` frames.
        mask: ``(..., 1, H, W)`` (or broadcastable) soft mask in [0, 1], or None.
        weight: extra weight inside the mask.

    Returns:
        Scalar tensor.
    """
    err = (fake - real).abs()
    if mask is None or weight == 0:
        return err.mean()
    return (err * (1.0 + weight * mask)).mean()


def mouth_l1(fake: torch.Tensor, real: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error inside the soft mouth masks (channels averaged; a logged score, not a loss term).

    Args:
        fake, real: ``(..., C, H, W)`` frames.
        mask: ``(..., 1, H, W)`` soft mask in [0, 1].

    Returns:
        Scalar tensor: ``sum(err * mask) / sum(mask)``.
    """
    err = (fake - real).abs().mean(-3, keepdim=True)
    return (err * mask).sum() / mask.sum().clamp_min(1e-6)
