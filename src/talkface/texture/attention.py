"""Identity-preserving texture generation with attention and colour maps (Sinha et al., Sec. III-C, IV).

Instead of regressing the whole face, the generator predicts a grey-scale attention map ``att_t``
and an RGB colour map ``C_t`` and composes the frame with the identity image ``I_id`` (eq. 6)::

    I_t = (1 - att_t) * C_t + att_t * I_id

so regions that do not move keep the identity image's texture exactly. Architecture (Fig. 6, after
GANimation, Pumarola et al. 2018): the target landmark image ``L_t`` and the identity landmark image
``L_id`` are encoded by one shared landmark encoder; the difference of the two encodings is
concatenated with ``I_id`` and fed to an encoder-decoder (residual blocks, instance normalisation,
SAGAN self-attention at 32×32, spectral norm) whose two heads give ``att_t`` (sigmoid) and ``C_t``
(tanh). ``I_id`` and ``L_id`` are the *first* reference image and its landmark image.

Losses (in :class:`talkface.texture.losses.AttentionLossConfig`): the L1 pixel loss weighted by a fixed
spatial mask α that is stronger around the mouth and the eyes (eq. 7, :func:`region_weights`), LSGAN
(eqs. 8-10) with a PatchGAN discriminator with instance normalisation (:class:`PatchDiscriminator`),
and the regularisation ``L_reg = L_att + L_temp`` (eqs. 11-13, :func:`attention_regularisation`).
Norms of eqs. 11-12 are taken as means of squares (per element), like the other losses here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from talkface.face.geometry import LEFT_EYE, MOUTH, RIGHT_EYE
from talkface.texture.losses import AttentionLossConfig
from talkface.texture.networks import (
    AdaINResBlock,
    ConvEncoder,
    GeneratorOutput,
    ResBlockUp,
    SelfAttention,
    TextureConfig,
    _sn,
)
from talkface.texture.warp import warp_image

__all__ = [
    "compose",
    "part_mask",
    "region_weights",
    "attention_regularisation",
    "AttentionGenerator",
    "PatchDiscriminator",
]



def compose(attention: torch.Tensor, colour: torch.Tensor, identity_image: torch.Tensor) -> torch.Tensor:
    """Eq. 6: ``I_t = (1 - att_t) * C_t + att_t * I_id``.

    Args:
        attention: (B, 1, S, S) attention map in [0, 1].
        colour: (B, 3, S, S) colour map in [-1, 1].
        identity_image: (B, 3, S, S) identity image in [-1, 1].

    Returns:
        (B, 3, S, S) frame; exactly ``identity_image`` where ``attention`` is 1.
    """
    return (1.0 - attention) * colour + attention * identity_image


def _gaussian_region(points: torch.Tensor, grid_x: torch.Tensor, grid_y: torch.Tensor, scale: float) -> torch.Tensor:
    """(B, P, 2) points of one face part -> (B, S, S) Gaussian bump covering them."""
    centre = points.mean(dim=1)  # (B, 2)
    spread = points.std(dim=1)  # (B, 2)
    floor = 0.5 * spread.amax(dim=1, keepdim=True)
    sigma = scale * torch.maximum(spread, floor).clamp_min(1.0)
    dx = (grid_x[None] - centre[:, 0, None, None]) / sigma[:, 0, None, None]
    dy = (grid_y[None] - centre[:, 1, None, None]) / sigma[:, 1, None, None]
    return torch.exp(-0.5 * (dx * dx + dy * dy))


def part_mask(points: torch.Tensor, size: int, scale: float = 2.0) -> torch.Tensor:
    """(B, 1, S, S) soft mask in [0, 1] over the mouth and the eyes (max of Gaussian bumps, peak 1).

    The ``map_region="parts"`` option of the attention generator lets the colour map act only
    under this mask (``att' = 1 - (1 - att) · mask``), so the identity image is kept exactly
    everywhere else — on unseen faces the colour map of a briefly trained generator otherwise
    shifts skin and background colours.

    Args:
        points: (B, 68, 2) target landmarks, pixels.
        size: side S, pixels.
        scale: each bump's standard deviation in units of the part's landmark spread.
    """
    pts = points.float()
    coords = torch.arange(size, device=pts.device, dtype=torch.float32)
    grid_y, grid_x = torch.meshgrid(coords, coords, indexing="ij")
    bumps = [_gaussian_region(pts[:, list(part)], grid_x, grid_y, scale) for part in (MOUTH, RIGHT_EYE, LEFT_EYE)]
    return torch.stack(bumps, 0).amax(0).unsqueeze(1)


def region_weights(points: torch.Tensor, size: int, config: AttentionLossConfig | None = None) -> torch.Tensor:
    """Fixed spatial pixel-weight mask α of eq. 7: 1 everywhere, more on the mouth and the eyes.

    ``α = 1 + w_mouth · g_mouth + w_eye · (g_right_eye + g_left_eye)`` where each ``g`` is a Gaussian
    centred on the part's landmarks with per-axis standard deviation ``region_scale`` times their
    spread. α depends only on the ground-truth landmarks (not on the attention map, which Sinha et
    al. found less stable).

    Args:
        points: (B, 68, 2) float landmarks of the target frames, crop pixels (x, y).
        size: side S of the images, pixels.
        config: weights (default :class:`AttentionLossConfig`).

    Returns:
        (B, 1, S, S) float32 weights >= 1.
    """
    cfg = config or AttentionLossConfig()
    pts = points.float()
    coords = torch.arange(size, device=pts.device, dtype=torch.float32)
    grid_y, grid_x = torch.meshgrid(coords, coords, indexing="ij")
    mouth = _gaussian_region(pts[:, list(MOUTH)], grid_x, grid_y, cfg.region_scale)
    eyes = _gaussian_region(pts[:, list(RIGHT_EYE)], grid_x, grid_y, cfg.region_scale) + _gaussian_region(
        pts[:, list(LEFT_EYE)], grid_x, grid_y, cfg.region_scale
    )
    return (1.0 + cfg.mouth_weight * mouth + cfg.eye_weight * eyes).unsqueeze(1)


def attention_regularisation(
    attention: torch.Tensor, colour: torch.Tensor, temporal: bool, lambda_temp: float = 1.0
) -> dict[str, torch.Tensor]:
    """Regularisation of the attention and colour maps (eqs. 11-13).

    ``L_att = mean (1 - att_t)²`` (eq. 11) keeps the attention from collapsing to 0 (which would blur
    the static texture); ``L_temp = mean (att_t - att_{t-1})² + mean (C_t - C_{t-1})²`` (eq. 12)
    keeps consecutive frames consistent; ``L_reg = L_att + λ_temp L_temp`` (eq. 13, λ_temp = 1).

    Args:
        attention: (B, 1, S, S) maps; with ``temporal`` the batch is frames t stacked on frames t-1
            ((2B', 1, S, S), t first, as :meth:`TextureGAN.flatten_temporal` builds it).
        colour: (B, 3, S, S) colour maps, stacked the same way.
        temporal: whether the batch holds (t, t-1) pairs.
        lambda_temp: weight of L_temp.

    Returns:
        ``{"att": L_att, "temp": L_temp (if temporal), "reg": L_reg}`` scalars.
    """
    out = {"att": (1.0 - attention).pow(2).mean()}
    reg = out["att"]
    if temporal:
        att_t, att_prev = attention.chunk(2, dim=0)
        col_t, col_prev = colour.chunk(2, dim=0)
        out["temp"] = (att_t - att_prev).pow(2).mean() + (col_t - col_prev).pow(2).mean()
        reg = reg + lambda_temp * out["temp"]
    out["reg"] = reg
    return out


class AttentionGenerator(nn.Module):
    """Generator of Sinha et al. (Fig. 6): landmark-difference encoding + I_id -> attention and colour maps.

    Args:
        config: the texture config (``variant="attention"``); ``landmark_channels`` sets the landmark
            encoder's width.
    """

    def __init__(self, config: TextureConfig) -> None:
        super().__init__()
        sn = config.spectral_norm
        lc = config.landmark_channels
        self.config = config
        self.map_size = config.map_size or config.image_size
        #: replaces :meth:`maps` at inference when set (e.g. :class:`talkface.texture.onnx.OnnxMaps`)
        self.maps_backend: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = None
        config = dataclasses.replace(config, image_size=self.map_size)  # the network's own resolution
        self.landmark_encoder = nn.Sequential(
            _sn(nn.Conv2d(3, lc, 3, padding=1), sn),
            nn.InstanceNorm2d(lc, affine=True),
            nn.ReLU(),
            _sn(nn.Conv2d(lc, lc, 3, padding=1), sn),
            nn.InstanceNorm2d(lc, affine=True),
            nn.ReLU(),
        )
        self.encoder = ConvEncoder(3 + lc, config, norm="instance")
        c = config.channels(config.num_levels)
        self.bottleneck = nn.ModuleList([AdaINResBlock(c, "instance", sn) for _ in range(config.bottleneck_blocks)])
        self.up = nn.ModuleList()
        self.up_attention = nn.ModuleDict()
        size = config.bottleneck_size
        for level in range(config.num_levels, 0, -1):
            self.up.append(ResBlockUp(config.channels(level), config.channels(level - 1), "instance", sn))
            size *= 2
            if config.attention_size and size == config.attention_size:
                self.up_attention[str(len(self.up) - 1)] = SelfAttention(config.channels(level - 1), sn)
        self.out_norm = nn.InstanceNorm2d(config.channels(0), affine=True)
        self.to_colour = _sn(nn.Conv2d(config.channels(0), 3, 3, padding=1), sn)
        self.to_attention = nn.Conv2d(config.channels(0), 1, 3, padding=1)
        with torch.no_grad():  # start by mostly copying the identity image (att ≈ 0.88)
            assert self.to_attention.bias is not None
            self.to_attention.bias.fill_(2.0)

    def maps(
        self, landmark_image: torch.Tensor, identity_image: torch.Tensor, identity_landmark_image: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention (B, 1, S, S) in [0, 1] and colour (B, 3, S, S) in [-1, 1] maps."""
        both = self.landmark_encoder(torch.cat([landmark_image, identity_landmark_image], dim=0))
        target_code, identity_code = both.chunk(2, dim=0)
        h = self.encoder(torch.cat([identity_image, target_code - identity_code], dim=1))[-1]
        for block in self.bottleneck:
            h = block(h)
        for i, up in enumerate(self.up):
            h = up(h)
            if str(i) in self.up_attention:
                h = self.up_attention[str(i)](h)
        h = F.relu(self.out_norm(h))
        return torch.sigmoid(self.to_attention(h)), torch.tanh(self.to_colour(h))

    def forward(
        self,
        landmark_image: torch.Tensor,
        reference_images: torch.Tensor,
        reference_landmark_images: torch.Tensor,
        points: torch.Tensor | None = None,
        reference_points: torch.Tensor | None = None,
    ) -> GeneratorOutput:
        """Generate frames (eq. 6) from target landmark images and the first reference (I_id, L_id).

        Args:
            landmark_image: (B, 3, S, S) target landmark images L_t.
            reference_images: (B or 1, N, 3, S, S); ``[:, 0]`` is I_id.
            reference_landmark_images: (B or 1, N, 3, S, S); ``[:, 0]`` is L_id.
            points: (B, 68, 2) target landmarks, crop pixels (needed with ``warp_identity``).
            reference_points: (B or 1, N, 68, 2) the references' landmarks (needed with ``warp_identity``).

        Returns:
            :class:`GeneratorOutput` with ``image``, ``attention`` and ``colour``.
        """
        b = landmark_image.shape[0]
        identity = reference_images[:, 0].expand(b, -1, -1, -1)
        identity_lm = reference_landmark_images[:, 0].expand(b, -1, -1, -1)
        if self.config.warp_identity:
            if points is None or reference_points is None:
                raise ValueError("warp_identity needs the target points and the reference points")
            identity = warp_image(identity, reference_points[:, 0], points)
        maps = self.maps if self.maps_backend is None or torch.is_grad_enabled() else self.maps_backend
        if self.map_size == identity.shape[-1]:
            att, colour = maps(landmark_image, identity, identity_lm)
        else:  # maps at map_size, composed at full resolution
            size = (self.map_size, self.map_size)
            att, colour = maps(*(F.interpolate(t, size=size, mode="area")
                                      for t in (landmark_image, identity, identity_lm)))
            full = identity.shape[-2:]
            att = F.interpolate(att, size=full, mode="bilinear", align_corners=False)
            colour = F.interpolate(colour, size=full, mode="bilinear", align_corners=False)
        if self.config.map_region == "parts":
            if points is None:
                raise ValueError("map_region='parts' needs the target points")
            att = 1.0 - (1.0 - att) * part_mask(points, identity.shape[-1])
        return GeneratorOutput(compose(att, colour, identity), att, colour)


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator (Isola et al. 2017, 70×70) with instance normalisation (Sinha et al. Sec. IV).

    Conditioned like D_T: input is the frame, the identity image and (if configured) the target
    landmark image, channel-concatenated. Output: a map of patch logits (flattened to (B, P)).

    Args:
        config: the texture config (``base_channels``, ``spectral_norm``, ``discriminator_landmarks``).
    """

    def __init__(self, config: TextureConfig) -> None:
        super().__init__()
        sn = config.spectral_norm
        self.with_landmarks = config.discriminator_landmarks
        c = config.base_channels
        chans = [9 if self.with_landmarks else 6, c, 2 * c, 4 * c, 8 * c]
        layers: list[nn.Module] = []
        for i in range(4):
            stride = 2 if i < 3 else 1
            block: list[nn.Module] = [_sn(nn.Conv2d(chans[i], chans[i + 1], 4, stride, 1), sn)]
            if i > 0:
                block.append(nn.InstanceNorm2d(chans[i + 1], affine=True))
            block.append(nn.LeakyReLU(0.2))
            layers.append(nn.Sequential(*block))
        self.blocks = nn.ModuleList(layers)
        self.head = _sn(nn.Conv2d(chans[-1], 1, 4, 1, 1), sn)

    def forward(
        self, image: torch.Tensor, reference_image: torch.Tensor, landmark_image: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, 3, S, S) frame + identity image + landmark image -> ((B, P) patch logits, block features)."""
        parts = [image, reference_image] + ([landmark_image] if self.with_landmarks else [])
        h = torch.cat(parts, dim=1)
        feats = []
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        return self.head(h).flatten(1), feats
