"""The texture stage's networks (plain ``nn.Module``s, no training code): t-GAN of Das et al. 2020.

The generator G_T (:class:`TextureGenerator`), its encoders and blocks, the discriminator D_T
(:class:`TextureDiscriminator`), their configuration :class:`TextureConfig` and the image <-> tensor
helpers. The architecture is described in :mod:`talkface.texture.tgan`, which holds the
LightningModule :class:`~talkface.texture.tgan.TextureGAN` that trains them; the attention variant's
networks are in :mod:`talkface.texture.attention`. Kept apart so that inference and the attention
variant can import the networks without the training code (and without an import circle).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from talkface.texture.losses import AttentionLossConfig, TextureLossConfig

__all__ = [
    "VARIANTS",
    "DECODER_NORMS",
    "TextureConfig",
    "GeneratorOutput",
    "adain",
    "SelfAttention",
    "ResBlockDown",
    "ResBlockUp",
    "AdaINResBlock",
    "ConvEncoder",
    "TextureEncoder",
    "TextureGenerator",
    "TextureDiscriminator",
    "images_to_tensor",
    "tensor_to_images",
    "warp_inputs",
]


VARIANTS = ("adain", "attention")
DECODER_NORMS = ("none", "adain", "instance")


@dataclass
class TextureConfig:
    """Architecture and loss of a texture generator (t-GAN or its attention variant).

    Attributes:
        variant: ``"adain"``: t-GAN of Das et al. (E_I + E_L with AdaIN); ``"attention"``: attention
            and colour maps of Sinha et al. (:mod:`talkface.texture.attention`).
        image_size: side S of the face crops, pixels (128 default, 256 supported).
        base_channels: channels of the first (full-resolution) layer; doubled at every level down to
            ``max_channels``. 8-16 for CPU models, 32-64 on a GPU.
        max_channels: channel cap.
        bottleneck_size: side of E_L's bottleneck; ``log2(image_size / bottleneck_size)`` down/up
            levels (Sec. 4.3: six down-sampling layers at 256², i.e. 4×4).
        bottleneck_blocks: residual blocks at the bottleneck (AdaIN ones for ``"adain"``).
        decoder_norm: normalisation of E_L's up blocks: ``"none"``, ``"adain"`` or ``"instance"``.
        attention_size: feature-map side of the SAGAN self-attention layers (32, Sec. 4.3); 0: none.
        spectral_norm: spectral normalisation of G_T and D_T (Sec. 4.3).
        adversarial: train with D_T; False gives the regression-only G_T of Fig. 7 / Table 3.
        discriminator_landmarks: also condition D_T on the target landmark image.
        landmark_channels: feature channels of the attention variant's landmark encoder.
        warp_identity: attention variant only: warp I_id onto the target landmarks with a thin-plate
            spline (:mod:`talkface.texture.warp`) before composing (eq. 6), so the maps only paint what
            a warp cannot (mouth interior, teeth, eyelids). Not in the paper; the default model uses it.
        map_size: attention variant only: side at which the network runs and predicts the attention and
            colour maps (upsampled to ``image_size`` and composed with the full-resolution identity
            image); 0 = ``image_size``. Half the side is ~4x cheaper; the default model uses 64 at 128.
        map_region: attention variant only: ``"all"`` (the maps act anywhere, as in the paper) or
            ``"parts"``: only around the mouth and the eyes (:func:`talkface.texture.attention.part_mask`),
            the identity image is kept exactly elsewhere; needs ``warp_identity`` (target points).
        adam_betas: Adam (β1, β2) of the G and D optimisers (Sinha et al.: 0.5, 0.999).
        loss: loss weights of the ``"adain"`` variant (eqs. 8-11).
        attention_loss: loss weights of the ``"attention"`` variant (Sinha et al. eqs. 7-14).
    """

    variant: str = "adain"
    image_size: int = 128
    base_channels: int = 32
    max_channels: int = 512
    bottleneck_size: int = 4
    bottleneck_blocks: int = 2
    decoder_norm: str = "none"
    attention_size: int = 32
    spectral_norm: bool = True
    adversarial: bool = True
    discriminator_landmarks: bool = True
    landmark_channels: int = 16
    warp_identity: bool = False
    map_size: int = 0
    map_region: str = "all"
    adam_betas: tuple[float, float] = (0.5, 0.999)
    loss: TextureLossConfig = field(default_factory=TextureLossConfig)
    attention_loss: AttentionLossConfig = field(default_factory=AttentionLossConfig)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.decoder_norm not in DECODER_NORMS:
            raise ValueError(f"decoder_norm must be one of {DECODER_NORMS}, got {self.decoder_norm!r}")
        if self.map_region not in ("all", "parts"):
            raise ValueError(f"map_region must be 'all' or 'parts', got {self.map_region!r}")
        if self.map_size and (self.map_size > self.image_size or self.map_size % self.bottleneck_size):
            raise ValueError(f"map_size must be <= image_size and a multiple of bottleneck_size, got {self.map_size}")
        levels = math.log2(self.image_size / self.bottleneck_size)
        if self.image_size % self.bottleneck_size or levels != int(levels) or levels < 1:
            raise ValueError(
                "image_size / bottleneck_size must be a power of two >= 2, "
                f"got {self.image_size}/{self.bottleneck_size}"
            )

    @property
    def num_levels(self) -> int:
        """Number of down (and up) levels of E_L, E_I and D_T."""
        return int(round(math.log2(self.image_size / self.bottleneck_size)))

    def channels(self, level: int) -> int:
        """Channels at ``level`` (0 = full resolution, ``num_levels`` = bottleneck)."""
        return int(min(self.base_channels * 2**level, self.max_channels))

    @property
    def active_loss(self) -> TextureLossConfig:
        """The loss config of the selected variant."""
        return self.attention_loss if self.variant == "attention" else self.loss


#: The generators ``talkface train texture --variant`` names: a :data:`VARIANTS` entry, or ``"warp"`` (the attention
#: variant with ``warp_identity``, the shipped model's).
GENERATORS = ("warp", "attention", "adain")


def generator_config(generator: str, **fields: Any) -> TextureConfig:
    """The :class:`TextureConfig` of a named generator (:data:`GENERATORS`) with some fields given.

    The attention variants run their maps at ``map_size`` (``0``: ``image_size``) and derive their bottleneck (1/8
    of it) and self-attention side (1/4) from it; only ``"warp"`` keeps ``map_region`` (it needs the warp's target
    points), ``"attention"`` acts anywhere (``"all"``); ``"adain"`` has no maps (``map_size``/``map_region`` unused).

    Args:
        generator: ``"warp"``, ``"attention"`` or ``"adain"``.
        fields: other :class:`TextureConfig` fields (``image_size``, ``base_channels``, ``map_size``, ...).

    Raises:
        ValueError: an unknown generator or an unusable field.
    """
    if generator not in GENERATORS:
        raise ValueError(f"generator must be one of {GENERATORS}, got {generator!r}")
    if generator == "adain":
        return TextureConfig(**{k: v for k, v in fields.items() if k not in ("map_size", "map_region")})
    size = fields.get("map_size") or fields.get("image_size", TextureConfig.image_size)
    return TextureConfig(**{**fields, "variant": "attention", "bottleneck_size": size // 8, "map_size": size,
                            "attention_size": size // 4, "warp_identity": generator == "warp",
                            "map_region": fields.get("map_region", "all") if generator == "warp" else "all"})


@dataclass
class GeneratorOutput:
    """What a texture generator returns.

    Attributes:
        image: (B, 3, S, S) generated frames in [-1, 1].
        attention: (B, 1, S, S) attention map in [0, 1] (attention variant only, eq. 6).
        colour: (B, 3, S, S) colour map in [-1, 1] (attention variant only, eq. 6).
    """

    image: torch.Tensor
    attention: torch.Tensor | None = None
    colour: torch.Tensor | None = None


# ----------------------------------------------------------------------------------------- blocks


def _sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Spectrally normalise ``module``'s weight if ``enabled``."""
    return spectral_norm(module) if enabled else module


def adain(content: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Adaptive instance normalisation (Huang & Belongie 2017).

    ``AdaIN(x, μ_s, σ_s) = σ_s · (x - μ(x)) / σ(x) + μ_s`` with μ, σ over each channel's H×W, so each
    output channel has mean ``mean`` and standard deviation ``|std|`` (up to ``eps``).

    Args:
        content: (B, C, H, W) features.
        mean: (B, C) style means.
        std: (B, C) style standard deviations.
        eps: added to the content variance.

    Returns:
        (B, C, H, W) re-normalised features.
    """
    mu = content.mean(dim=(2, 3), keepdim=True)
    var = content.var(dim=(2, 3), keepdim=True, unbiased=False)
    normalised = (content - mu) * torch.rsqrt(var + eps)
    return normalised * std[:, :, None, None] + mean[:, :, None, None]


class SelfAttention(nn.Module):
    """SAGAN self-attention layer (Zhang et al. 2019) with BigGAN's pooled keys and values.

    ``y = x + γ · o``, ``o = W_o (softmax(Q^T K) V)``; γ starts at 0 so the layer starts as identity.

    Args:
        channels: C of the (B, C, H, W) input.
        sn: spectral normalisation of the 1×1 convolutions.
    """

    def __init__(self, channels: int, sn: bool = True) -> None:
        super().__init__()
        inner = max(channels // 8, 1)
        value = max(channels // 2, 1)
        self.query = _sn(nn.Conv2d(channels, inner, 1, bias=False), sn)
        self.key = _sn(nn.Conv2d(channels, inner, 1, bias=False), sn)
        self.value = _sn(nn.Conv2d(channels, value, 1, bias=False), sn)
        self.out = _sn(nn.Conv2d(value, channels, 1, bias=False), sn)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        b, c, h, w = x.shape
        q = self.query(x).flatten(2)  # (B, c', HW)
        pool = 2 if h >= 2 and w >= 2 else 1
        k = F.max_pool2d(self.key(x), pool).flatten(2)  # (B, c', HW/4)
        v = F.max_pool2d(self.value(x), pool).flatten(2)  # (B, c'', HW/4)
        attn = torch.softmax(torch.bmm(q.transpose(1, 2), k), dim=-1)  # (B, HW, HW/4)
        o = torch.bmm(v, attn.transpose(1, 2)).view(b, -1, h, w)
        return x + self.gamma * self.out(o)


class _Norm(nn.Module):
    """Instance norm, AdaIN (parameters given at call time) or nothing."""

    def __init__(self, kind: str, channels: int) -> None:
        super().__init__()
        self.kind = kind
        self.channels = channels
        self.norm = nn.InstanceNorm2d(channels, affine=True) if kind == "instance" else None

    def forward(self, x: torch.Tensor, style: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        if self.kind == "adain":
            if style is None:
                raise ValueError("AdaIN layer called without style parameters")
            return adain(x, style[0], style[1])
        return x if self.norm is None else self.norm(x)


class ResBlockDown(nn.Module):
    """Pre-activation residual block that halves the resolution (BigGAN discriminator block).

    ``h = conv2(act(norm2(pool(conv1(act(norm1(x)))))))``, ``skip = pool(conv1x1(x))``.

    Args:
        cin, cout: channels in and out.
        norm: ``"instance"`` or ``"none"``.
        sn: spectral normalisation.
        leaky: LeakyReLU(0.2) instead of ReLU.
    """

    def __init__(self, cin: int, cout: int, norm: str = "none", sn: bool = True, leaky: bool = False) -> None:
        super().__init__()
        self.norm1 = _Norm(norm, cin)
        self.conv1 = _sn(nn.Conv2d(cin, cout, 3, padding=1), sn)
        self.norm2 = _Norm(norm, cout)
        self.conv2 = _sn(nn.Conv2d(cout, cout, 3, padding=1), sn)
        self.skip = _sn(nn.Conv2d(cin, cout, 1), sn)
        self.leaky = leaky

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, 0.2) if self.leaky else F.relu(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, cin, H, W) -> (B, cout, H/2, W/2)."""
        h = self.conv1(self._act(self.norm1(x)))
        h = F.avg_pool2d(h, 2)
        h = self.conv2(self._act(self.norm2(h)))
        return h + F.avg_pool2d(self.skip(x), 2)


class ResBlockUp(nn.Module):
    """Pre-activation residual block that doubles the resolution (BigGAN generator block).

    ``h = conv2(relu(norm2(conv1(up(relu(norm1(x)))))))``, ``skip = conv1x1(up(x))``; nearest
    up-sampling. With ``norm="adain"`` both norms take (mean, std) style parameters.

    Args:
        cin, cout: channels in and out.
        norm: ``"instance"``, ``"adain"`` or ``"none"``.
        sn: spectral normalisation.
    """

    def __init__(self, cin: int, cout: int, norm: str = "none", sn: bool = True) -> None:
        super().__init__()
        self.norm1 = _Norm(norm, cin)
        self.conv1 = _sn(nn.Conv2d(cin, cout, 3, padding=1), sn)
        self.norm2 = _Norm(norm, cout)
        self.conv2 = _sn(nn.Conv2d(cout, cout, 3, padding=1), sn)
        self.skip = _sn(nn.Conv2d(cin, cout, 1), sn)

    def adain_channels(self) -> list[int]:
        """Channels of the AdaIN layers (empty unless ``norm="adain"``)."""
        return [self.norm1.channels, self.norm2.channels] if self.norm1.kind == "adain" else []

    def forward(
        self, x: torch.Tensor, styles: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None
    ) -> torch.Tensor:
        """(B, cin, H, W) -> (B, cout, 2H, 2W)."""
        s1, s2 = (styles[0], styles[1]) if styles else (None, None)
        h = F.interpolate(F.relu(self.norm1(x, s1)), scale_factor=2.0, mode="nearest")
        h = self.conv1(h)
        h = self.conv2(F.relu(self.norm2(h, s2)))
        return h + self.skip(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class AdaINResBlock(nn.Module):
    """Residual block with two AdaIN layers (E_L's bottleneck): ``x + conv2(relu(AdaIN(conv1(relu(AdaIN(x))))))``.

    Args:
        channels: C of the (B, C, H, W) features.
        norm: ``"adain"`` (style-driven) or ``"instance"`` (the attention variant's plain blocks).
        sn: spectral normalisation.
    """

    def __init__(self, channels: int, norm: str = "adain", sn: bool = True) -> None:
        super().__init__()
        self.norm1 = _Norm(norm, channels)
        self.conv1 = _sn(nn.Conv2d(channels, channels, 3, padding=1), sn)
        self.norm2 = _Norm(norm, channels)
        self.conv2 = _sn(nn.Conv2d(channels, channels, 3, padding=1), sn)

    def adain_channels(self) -> list[int]:
        """Channels of the AdaIN layers (empty unless ``norm="adain"``)."""
        return [self.norm1.channels, self.norm2.channels] if self.norm1.kind == "adain" else []

    def forward(
        self, x: torch.Tensor, styles: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None
    ) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        s1, s2 = (styles[0], styles[1]) if styles else (None, None)
        h = self.conv1(F.relu(self.norm1(x, s1)))
        return x + self.conv2(F.relu(self.norm2(h, s2)))


# ------------------------------------------------------------------------------------------- nets


class ConvEncoder(nn.Module):
    """``from_rgb`` conv + residual down blocks (+ self-attention at ``attention_size``).

    Args:
        in_channels: input channels.
        config: sizes (image_size, channels, levels, attention_size, spectral_norm).
        norm: normalisation of the blocks (``"instance"`` or ``"none"``).
        leaky: LeakyReLU activations (discriminators).
        levels: number of down blocks (default ``config.num_levels``).

    ``forward(x)`` returns the list of block outputs, from the first block to the deepest.
    """

    def __init__(
        self, in_channels: int, config: TextureConfig, norm: str, leaky: bool = False, levels: int | None = None
    ) -> None:
        super().__init__()
        sn = config.spectral_norm
        self.from_rgb = _sn(nn.Conv2d(in_channels, config.channels(0), 3, padding=1), sn)
        self.blocks = nn.ModuleList()
        self.attention = nn.ModuleDict()
        size = config.image_size
        n_levels = levels if levels is not None else config.num_levels
        self.out_channels = config.channels(n_levels)
        for level in range(n_levels):
            self.blocks.append(ResBlockDown(config.channels(level), config.channels(level + 1), norm, sn, leaky))
            size //= 2
            if config.attention_size and size == config.attention_size:
                self.attention[str(level)] = SelfAttention(config.channels(level + 1), sn)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C_in, S, S) -> block outputs [(B, C_1, S/2, S/2), ..., (B, C_L, S/2^L, S/2^L)]."""
        h = self.from_rgb(x)
        outs = []
        for i, block in enumerate(self.blocks):
            h = block(h)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
            outs.append(h)
        return outs


class TextureEncoder(nn.Module):
    """E_I: N reference images + their landmark images -> one style vector e (averaged over N).

    Args:
        config: the texture config.
    """

    def __init__(self, config: TextureConfig) -> None:
        super().__init__()
        self.encoder = ConvEncoder(6, config, norm="none")
        self.style_dim = self.encoder.out_channels

    def forward(self, reference_images: torch.Tensor, reference_landmark_images: torch.Tensor) -> torch.Tensor:
        """(B, N, 3, S, S) images and (B, N, 3, S, S) landmark images -> (B, style_dim) style e."""
        b, n = reference_images.shape[:2]
        x = torch.cat([reference_images, reference_landmark_images], dim=2).flatten(0, 1)
        e = F.relu(self.encoder(x)[-1]).mean(dim=(2, 3))
        return e.view(b, n, -1).mean(dim=1)


class TextureGenerator(nn.Module):
    """G_T of the t-GAN: E_I (texture encoder) and E_L (landmark encoder-decoder with AdaIN).

    Args:
        config: the texture config (``variant="adain"``).
    """

    def __init__(self, config: TextureConfig) -> None:
        super().__init__()
        sn = config.spectral_norm
        self.config = config
        self.texture_encoder = TextureEncoder(config)
        self.landmark_encoder = ConvEncoder(3, config, norm="instance")
        c = config.channels(config.num_levels)
        bottleneck = [AdaINResBlock(c, "adain", sn) for _ in range(config.bottleneck_blocks)]
        up = [
            ResBlockUp(config.channels(level), config.channels(level - 1), config.decoder_norm, sn)
            for level in range(config.num_levels, 0, -1)
        ]
        #: channels of every AdaIN layer, in call order (bottleneck, then up blocks)
        self.adain_sizes = [ch for blk in bottleneck for ch in blk.adain_channels()]
        self.adain_sizes += [ch for blk in up for ch in blk.adain_channels()]
        self.adain_per_up = [len(blk.adain_channels()) for blk in up]
        self.bottleneck = nn.ModuleList(bottleneck)
        self.up = nn.ModuleList()
        self.up_attention = nn.ModuleDict()
        size = config.bottleneck_size
        for j, block in enumerate(up):
            self.up.append(block)
            size *= 2
            if config.attention_size and size == config.attention_size:
                self.up_attention[str(len(self.up) - 1)] = SelfAttention(config.channels(config.num_levels - j - 1), sn)
        self.out_norm = (
            nn.InstanceNorm2d(config.channels(0), affine=True) if config.decoder_norm == "instance" else None
        )
        self.to_rgb = _sn(nn.Conv2d(config.channels(0), 3, 3, padding=1), sn)
        self.style_to_adain = _sn(nn.Linear(self.texture_encoder.style_dim, 2 * sum(self.adain_sizes)), sn)
        with torch.no_grad():  # start as "std 1, mean 0" around the projection
            bias = cast(torch.Tensor, self.style_to_adain.bias)
            offset = 0
            for ch in self.adain_sizes:
                bias[offset : offset + ch].zero_()
                bias[offset + ch : offset + 2 * ch].fill_(1.0)
                offset += 2 * ch

    def style(self, reference_images: torch.Tensor, reference_landmark_images: torch.Tensor) -> torch.Tensor:
        """Style vector e = E_I(I^n): (B, N, 3, S, S) x2 -> (B, style_dim)."""
        return self.texture_encoder(reference_images, reference_landmark_images)

    def adain_parameters(self, style: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(mean, std) pairs, each (B, C_k), of every AdaIN layer, projected from the (B, style_dim) style."""
        params = self.style_to_adain(style)
        out = []
        offset = 0
        for ch in self.adain_sizes:
            out.append((params[:, offset : offset + ch], params[:, offset + ch : offset + 2 * ch]))
            offset += 2 * ch
        return out

    def decode(self, landmark_image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """E_L: (B, 3, S, S) target landmark image + (B or 1, style_dim) style -> (B, 3, S, S) image."""
        if style.shape[0] == 1 and landmark_image.shape[0] > 1:
            style = style.expand(landmark_image.shape[0], -1)
        params = self.adain_parameters(style)
        h = self.landmark_encoder(landmark_image)[-1]
        k = 0
        for block in self.bottleneck:
            h = block(h, params[k : k + 2])
            k += 2
        for i, up in enumerate(self.up):
            n = self.adain_per_up[i]
            h = up(h, params[k : k + n] if n else None)
            k += n
            if str(i) in self.up_attention:
                h = self.up_attention[str(i)](h)
        h = F.relu(self.out_norm(h) if self.out_norm is not None else h)
        return torch.tanh(self.to_rgb(h))

    def forward(
        self,
        landmark_image: torch.Tensor,
        reference_images: torch.Tensor,
        reference_landmark_images: torch.Tensor,
    ) -> GeneratorOutput:
        """Generate the frame of ``landmark_image`` with the texture of the references.

        Args:
            landmark_image: (B, 3, S, S) target landmark images.
            reference_images: (B, N, 3, S, S) reference frames (or (1, N, ...) shared by the batch).
            reference_landmark_images: their landmark images, same shape.

        Returns:
            :class:`GeneratorOutput` with ``image`` (B, 3, S, S) in [-1, 1].
        """
        return GeneratorOutput(self.decode(landmark_image, self.style(reference_images, reference_landmark_images)))


class TextureDiscriminator(nn.Module):
    """D_T: residual discriminator conditioned on the reference image (and target landmark image).

    Args:
        config: the texture config.
    """

    def __init__(self, config: TextureConfig) -> None:
        super().__init__()
        self.with_landmarks = config.discriminator_landmarks
        self.encoder = ConvEncoder(9 if self.with_landmarks else 6, config, norm="none", leaky=True)
        self.fc = _sn(nn.Linear(self.encoder.out_channels, 1), config.spectral_norm)

    def forward(
        self, image: torch.Tensor, reference_image: torch.Tensor, landmark_image: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Score real/fake.

        Args:
            image: (B, 3, S, S) real or generated frame.
            reference_image: (B, 3, S, S) reference frame I^1.
            landmark_image: (B, 3, S, S) target landmark image (ignored if not conditioned on it).

        Returns:
            (B,) logits and the list of block feature maps (for feature matching).
        """
        parts = [image, reference_image] + ([landmark_image] if self.with_landmarks else [])
        feats = self.encoder(torch.cat(parts, dim=1))
        h = F.leaky_relu(feats[-1], 0.2).amax(dim=(2, 3))
        return self.fc(h).squeeze(1), feats


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """(..., H, W, 3) uint8 RGB -> (..., 3, H, W) float32 in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(images)).float()
    return (t / 127.5 - 1.0).movedim(-1, -3).contiguous()


def tensor_to_images(images: torch.Tensor) -> np.ndarray:
    """(..., 3, H, W) float in [-1, 1] -> (..., H, W, 3) uint8 RGB (rounded, clipped)."""
    t = ((images.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return t.movedim(-3, -1).cpu().numpy()


def warp_inputs(config: TextureConfig, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The generator's keyword inputs for ``config.warp_identity`` (target and reference points), else ``{}``."""
    if not (config.variant == "attention" and config.warp_identity):
        return {}
    if "reference_points" not in batch:
        raise ValueError("warp_identity needs 'points' and 'reference_points' in the batch")
    return {"points": batch["points"], "reference_points": batch["reference_points"]}
