"""Configuration of the end-to-end temporal GAN (:class:`E2EConfig`) and its ablation variants.

The networks are in :mod:`talkface.e2e.networks`, the training module in
:mod:`talkface.e2e.temporal_gan`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["ABLATIONS", "E2EConfig", "ablation_config"]


@dataclass
class E2EConfig:
    """Architecture and loss settings of the end-to-end temporal GAN.

    Attributes:
        image_size: side of the generated frames, pixels (a power of two >= 16; the paper: 128
            -> 6-layer identity encoder). Training crops are resized to it.
        crop_size: side of the aligned face crop the frames stand for (the prepared dataset's
            ``crop_size``); generated frames are resized to it before being pasted into a photo.
        sample_rate: audio sample rate, Hz.
        fps: video frame rate, frames/s (of the training data).
        window_s: audio window per video frame, seconds (paper: 0.16 s).
        audio_encoder: ``"raw"`` (1-D convolutions on the waveform, the paper) or ``"mfcc"``.
        base_channels: feature maps of the first identity-encoder layer (doubled at each layer; the
            paper: 64). The width knob: small values give CPU-sized models.
        audio_base_channels: feature maps of the first audio-encoder layer (paper: 16).
        audio_code_size: per-frame audio encoding size (paper: 256).
        context_size: hidden size of the context GRU = size of ``z_c`` (paper: 256).
        context_layers: layers of the context GRU (paper: 2).
        identity_size: size of ``z_id`` (paper: 50).
        noise_size: size of ``z_n`` (paper: 10).
        noise_std: standard deviation of the Gaussian noise fed to the noise GRU (paper: variance 0.6).
        disc_base_channels: first-layer feature maps of the discriminators' image CNNs (None: as
            ``base_channels``).
        disc_frame_code_size: per-frame image encoding of the sequence discriminators.
        disc_audio_code_size: per-frame audio encoding of the sequence discriminators.
        disc_rnn_size: hidden size of the sequence discriminators' 2-layer GRU.
        spp_levels: bins of each level of the 1-D spatial pyramid (SPP sequence discriminator).
        use_frame_discriminator: train with the frame discriminator D_img (ablation flag).
        use_sequence_discriminator: train with a sequence discriminator D_seq (ablation flag).
        sequence_discriminator: ``"gru"`` (last GRU step, the temporal-GAN paper) or ``"spp"``
            (spatial pyramid pooling over all steps, the multi-discriminator paper).
        l1_weight: λ of eq. 3 (paper: 400). The L1 term is the *mean* absolute error over the
            region's pixels (values in [-1, 1]).
        l1_region: ``"lower"`` (the lower half of the frame, eq. 2) or ``"full"`` (the whole frame:
            the paper's L1-only ablation, Fig. 4a, where no adversarial loss shapes the upper half).
        frame_samples: frames sampled uniformly per video for D_img (the sampling function S(x)).
        lr_frame_discriminator: Adam learning rate of D_img (paper: 1e-3). The generator uses
            :attr:`talkface.train.core.TrainConfig.lr` (paper: 2e-4).
        lr_sequence_discriminator: fixed Adam learning rate of D_seq (paper: 5e-5).
        lr_decay_start_epoch: the generator's and D_img's learning rates decay after this epoch.
        lr_decay: fraction by which they decay each epoch after that (paper: 10 %).
        adam_betas: Adam's betas for every network.
        output_mode: ``"direct"`` (the decoder's tanh output is the frame, the paper) or ``"residual"``
            (the decoder's last layer gives a residual ``delta`` (tanh) and a mask ``m`` (sigmoid);
            the frame is ``clamp(still + m * delta)``, so the still's pixels are kept wherever the
            speech does not change them). Checkpoints without this field are ``"direct"``.
        mask_weight: weight of the mask sparsity penalty (mean of ``m``) in the generator loss
            (``"residual"`` only; 0 = none).
        mouth_weight: extra weight of the L1 term inside each real frame's soft mouth mask
            (:func:`talkface.e2e.mouth.mouth_masks`: the outer lips and the jaw below them, from the
            frame's landmarks): every pixel's absolute error counts ``1 + mouth_weight * mask`` times.
            0 (checkpoints without this field) = the plain L1.
    """

    image_size: int = 128
    crop_size: int = 128
    sample_rate: int = 16000
    fps: float = 25.0
    window_s: float = 0.16
    audio_encoder: str = "raw"
    base_channels: int = 64
    audio_base_channels: int = 16
    audio_code_size: int = 256
    context_size: int = 256
    context_layers: int = 2
    identity_size: int = 50
    noise_size: int = 10
    noise_std: float = math.sqrt(0.6)
    disc_base_channels: int | None = None
    disc_frame_code_size: int = 128
    disc_audio_code_size: int = 128
    disc_rnn_size: int = 256
    spp_levels: tuple[int, ...] = (1, 2, 4)
    use_frame_discriminator: bool = True
    use_sequence_discriminator: bool = True
    sequence_discriminator: str = "gru"
    l1_weight: float = 400.0
    l1_region: str = "lower"
    frame_samples: int = 1
    lr_frame_discriminator: float = 1e-3
    lr_sequence_discriminator: float = 5e-5
    lr_decay_start_epoch: int = 20
    lr_decay: float = 0.1
    adam_betas: tuple[float, float] = (0.5, 0.999)
    output_mode: str = "direct"
    mask_weight: float = 0.0
    mouth_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.image_size < 16 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 16, got {self.image_size}")
        if self.audio_encoder not in ("raw", "mfcc"):
            raise ValueError(f"audio_encoder must be 'raw' or 'mfcc', got {self.audio_encoder!r}")
        if self.sequence_discriminator not in ("gru", "spp"):
            raise ValueError(f"sequence_discriminator must be 'gru' or 'spp', got {self.sequence_discriminator!r}")
        if self.window_samples < 64:
            raise ValueError(f"window_s * sample_rate must be >= 64 samples, got {self.window_samples}")
        if self.l1_region not in ("lower", "full"):
            raise ValueError(f"l1_region must be 'lower' or 'full', got {self.l1_region!r}")
        if self.output_mode not in ("direct", "residual"):
            raise ValueError(f"output_mode must be 'direct' or 'residual', got {self.output_mode!r}")
        if self.mask_weight < 0:
            raise ValueError(f"mask_weight must be >= 0, got {self.mask_weight}")
        if self.mouth_weight < 0:
            raise ValueError(f"mouth_weight must be >= 0, got {self.mouth_weight}")
        if self.frame_samples < 1:
            raise ValueError(f"frame_samples must be >= 1, got {self.frame_samples}")

    @property
    def window_samples(self) -> int:
        """Audio window length W per video frame, samples."""
        return int(round(self.window_s * self.sample_rate))

    @property
    def disc_channels(self) -> int:
        """First-layer feature maps of the discriminators' image CNNs."""
        return self.disc_base_channels if self.disc_base_channels is not None else self.base_channels


ABLATIONS: dict[str, dict[str, Any]] = {
    "l1": {"use_frame_discriminator": False, "use_sequence_discriminator": False, "l1_region": "full"},
    "l1+img": {"use_frame_discriminator": True, "use_sequence_discriminator": False},
    "l1+img+seq": {
        "use_frame_discriminator": True, "use_sequence_discriminator": True, "sequence_discriminator": "gru"},
    "l1+img+spp": {
        "use_frame_discriminator": True, "use_sequence_discriminator": True, "sequence_discriminator": "spp"},
}
"""The ablation of the paper's Table 2 (plus the SPP sequence discriminator): name -> config flags."""


def ablation_config(name: str, **overrides: Any) -> E2EConfig:
    """Config of one ablation variant.

    Args:
        name: a key of :data:`ABLATIONS` (``"l1"``, ``"l1+img"``, ``"l1+img+seq"``, ``"l1+img+spp"``).
        **overrides: further :class:`E2EConfig` fields (sizes, ...).

    Returns:
        The config.
    """
    if name not in ABLATIONS:
        raise ValueError(f"unknown ablation {name!r}; choose from {sorted(ABLATIONS)}")
    return E2EConfig(**{**ABLATIONS[name], **overrides})
