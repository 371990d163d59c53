"""The l-GAN's inference network G_L (plain ``nn.Module``s, no Lightning): speech -> canonical landmarks.

:class:`LGANNet` holds what inference needs of a trained l-GAN (G_L and the canonical neutral face)
with the same state-dict keys as the LightningModule :class:`talkface.motion.lgan.LGAN`, which
trains it (with D_L and the losses of eq. 5) and shares its inference methods
(:class:`LGANInference`). Loading a bundle builds this class, so inference never imports Lightning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from talkface.audio.windows import frame_window_blocks
from talkface.face.geometry import SPEECH_POINTS
from talkface.motion.pca import PCA, init_decoder

__all__ = ["LGANConfig", "LandmarkGenerator", "LGANInference", "LGANNet"]


@dataclass
class LGANConfig:
    """Configuration of the l-GAN (generator G_L, discriminator D_L and the loss of eq. 5).

    Attributes:
        feature_name: speech feature extractor the model was trained on
            (:func:`talkface.audio.features.get_extractor`); taken from the dataset.
        feature_dim: D, size of one frame's speech feature; taken from the dataset.
        fps: video frame rate the model was trained at, frames/s.
        window: Δt, speech-feature frames per generated frame (Sec. 4.2, Fig. 6: Δt = 6 is best).
        window_align: ``"centre"`` (look ahead, the mouth anticipates sounds) or ``"end"`` (causal);
            see :func:`talkface.audio.windows.frame_windows`.
        code_dim: size of the code between encoder and decoder, "33 dimensional vector (PCA
            coefficients)" (Sec. 4.2).
        pca_variance: variance kept by the PCA that initialises the decoder and D_L's first layer
            (identity paper Sec. IV: 99 %); at most ``code_dim`` components.
        encoder_channels: channels of the 1-D convolutions over the Δt window (identity paper
            Sec. IV: four convolution layers).
        hidden_dim: width of the encoder's fully connected layer before the code.
        discriminator_hidden: width of D_L's MLP.
        leaky_slope: negative slope of LeakyReLU (Sec. 4.2, [33]).
        lambda_dist: λ_dist of eq. 5 (distance loss, eq. 1) = 1.
        lambda_reg: λ_reg of eq. 5 (temporal regularisation, eq. 2) = 0.5.
        lambda_dir: λ_dir of eq. 5 (direction loss, eq. 3) = 0.5.
        lambda_gan: λ_gan of eq. 5 (adversarial loss, eq. 4) = 1.
        temporal_loss: ``"smooth"``: eq. 2 as written, :math:`\\|\\ell_t - \\ell_{t-1}\\|^2` (damps all
            frame-to-frame motion); ``"match"``: the identity paper's eq. 3, the frame-to-frame change
            should equal the ground truth's.
        direction_temperature: τ of the soft step in :func:`motion_direction`, in loss units (crop
            pixels): motions much smaller than τ count as "no direction" (0.5).
        loss_unit: loss units per canonical unit: 37.3 = the canonical inter-ocular distance in a
            128-px face crop, so losses are in crop pixels (squared), as is LMD.
        regression_only: train G_L without D_L (λ_gan = 0): the "regression" ablation of Fig. 4.
        betas: Adam betas of both optimisers.
    """

    feature_name: str = "whisper-tiny.en"
    feature_dim: int = 384
    fps: float = 25.0
    window: int = 6
    window_align: Literal["centre", "end"] = "centre"
    code_dim: int = 33
    pca_variance: float = 0.99
    encoder_channels: tuple[int, ...] = (256, 256, 256, 256)
    hidden_dim: int = 256
    discriminator_hidden: int = 256
    leaky_slope: float = 0.2
    lambda_dist: float = 1.0
    lambda_reg: float = 0.5
    lambda_dir: float = 0.5
    lambda_gan: float = 1.0
    temporal_loss: Literal["smooth", "match"] = "smooth"
    direction_temperature: float = 0.25
    loss_unit: float = 37.3
    regression_only: bool = False
    betas: tuple[float, float] = (0.5, 0.999)


class LandmarkGenerator(nn.Module):
    """G_L: a Δt window of speech features -> canonical landmark displacement.

    Encoder: 1-D convolutions (kernel 3) over the Δt frames with the D feature channels as input
    channels, LeakyReLU after each, then a LeakyReLU fully connected layer and a linear layer to the
    ``code_dim`` code. Decoder: one linear layer, code -> displacement of the speech points,
    initialised with the PCA of the training displacements (:meth:`init_from_pca`). Input features
    are standardised with the training set's per-dimension mean and deviation (buffers).

    Args:
        config: the l-GAN config.
    """

    feature_mean: torch.Tensor
    feature_std: torch.Tensor

    def __init__(self, config: LGANConfig) -> None:
        super().__init__()
        self.config = config
        self.speech_points = list(SPEECH_POINTS)
        layers: list[nn.Module] = []
        channels = config.feature_dim
        for out_channels in config.encoder_channels:
            layers += [nn.Conv1d(channels, out_channels, 3, padding=1), nn.LeakyReLU(config.leaky_slope)]
            channels = out_channels
        self.encoder = nn.Sequential(
            *layers,
            nn.Flatten(),
            nn.Linear(channels * config.window, config.hidden_dim),
            nn.LeakyReLU(config.leaky_slope),
            nn.Linear(config.hidden_dim, config.code_dim),
        )
        self.decoder = nn.Linear(config.code_dim, 2 * len(SPEECH_POINTS))
        self.register_buffer("feature_mean", torch.zeros(config.feature_dim))
        self.register_buffer("feature_std", torch.ones(config.feature_dim))

    def init_from_pca(self, pca: PCA) -> None:
        """Initialise the decoder with the PCA of flattened speech-point displacements (92-d)."""
        init_decoder(self.decoder, pca, whiten=True)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Displacements of the canonical neutral face.

        Args:
            windows: (B, Δt, D) float32 speech-feature windows.

        Returns:
            (B, 68, 2) float32 displacement :math:`\\delta\\ell^m_t`, canonical units; zero on the eye
            region.
        """
        x = (windows - self.feature_mean) / self.feature_std
        code = self.encoder(x.transpose(1, 2))
        speech = self.decoder(code).view(-1, len(self.speech_points), 2)
        out = speech.new_zeros(speech.shape[0], 68, 2)
        out[:, self.speech_points] = speech
        return out


class LGANInference(nn.Module):
    """What a trained l-GAN does at inference, shared by :class:`LGANNet` and the LightningModule.

    Needs ``config`` (:class:`LGANConfig`), ``generator`` (:class:`LandmarkGenerator`) and the
    ``canonical_neutral`` buffer.
    """

    config: LGANConfig
    generator: LandmarkGenerator
    canonical_neutral: torch.Tensor

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Canonical landmarks :math:`\\ell^m_t = \\ell^m_p + G_L(F_t)`.

        Args:
            windows: (..., Δt, D) speech-feature windows.

        Returns:
            (..., 68, 2) canonical landmarks (eye region at the neutral face).
        """
        lead = windows.shape[:-2]
        disp = self.generator(windows.reshape(-1, *windows.shape[-2:]))
        return (self.canonical_neutral + disp).view(*lead, 68, 2)

    @torch.no_grad()
    def predict_canonical(self, features: np.ndarray) -> np.ndarray:
        """Canonical landmarks for a whole utterance.

        Args:
            features: (T, D) float32 per-frame speech features (``config.feature_name`` at
                ``config.fps``).

        Returns:
            (T, 68, 2) float32 canonical landmarks around :attr:`canonical_neutral` (eyes neutral).
        """

        feats = np.asarray(features, dtype=np.float32)
        if feats.ndim != 2 or feats.shape[1] != self.config.feature_dim:
            raise ValueError(f"features must be (T, {self.config.feature_dim}), got {feats.shape}")
        device = self.canonical_neutral.device
        was_training = self.training
        self.eval()
        # 1024 frames' windows at a time (all of 10 min of speech took 200 MB)
        blocks = frame_window_blocks(feats, self.config.window, self.config.window_align, 1024)
        outs = [self(torch.as_tensor(block).to(device)) for block in blocks]
        out = torch.cat(outs) if outs else torch.zeros(0, 68, 2, device=device)
        self.train(was_training)
        return out.cpu().numpy().astype(np.float32)


class LGANNet(LGANInference):
    """G_L and the canonical neutral face: a trained l-GAN for inference (no D_L, no Lightning).

    Args:
        config: the model's :class:`LGANConfig`.
    """

    def __init__(self, config: LGANConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = LandmarkGenerator(config)
        self.register_buffer("canonical_neutral", torch.zeros(68, 2))
