"""The blink generator's inference network G_B (plain ``nn.Module``s, no Lightning).

:class:`BlinkNet` holds what inference needs of a trained blink model (G_B, the neutral face, the
noise calibration) with the same state-dict keys as the LightningModule
:class:`talkface.motion.blink.BlinkModel`, which trains it and shares its inference methods
(:class:`BlinkInference`). Loading a bundle builds this class, so inference never imports Lightning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from talkface.face.eyes import blink_stats, detect_blinks, eye_aspect_ratio
from talkface.face.geometry import EYE_POINTS
from talkface.motion.blink_shape import shape_blinks
from talkface.motion.pca import PCA, init_decoder

__all__ = ["BlinkConfig", "BlinkGenerator", "BlinkInference", "BlinkNet"]


@dataclass
class BlinkConfig:
    """Configuration of the blink generator G_B and its training losses.

    Attributes:
        fps: frame rate of the generated sequences, frames/s.
        noise_dim: size of the noise vector per frame, :math:`Z_t \\in \\mathbb{R}^{10}` (Sec. 4.2).
        hidden_dim: GRU width.
        num_layers: GRU layers.
        code_dim: size of the input of the PCA-initialised last layer (at most this many
            components are used).
        pca_variance: variance kept by that PCA (Sec. 4.2: 99 %).
        sequence_length: frames per training window (Sec. 4.2: 75).
        burn_in: frames generated and discarded before the output (random 0..burn_in in training).
        mmd_bandwidths: kernel bandwidths of eq. 6 as multiples of the median squared pairwise
            distance of the training data (multi-bandwidth MMD).
        lambda_mmd_sequence: weight of the MMD between whole windows.
        lambda_mmd_frame: weight of the MMD between single frames.
        mmd_frame_samples: frames drawn at random from each side for the frame MMD (its cost is
            quadratic in the number of samples).
        lambda_range: weight of the min-max range regulariser.
        calibration_scales: noise scales at which :meth:`BlinkModel.calibrate` measures the
            blink rate (after training).
        calibration_sequences: sequences generated per scale for the calibration.
        calibration_seconds: length of each calibration sequence, seconds.
        betas: Adam betas.
    """

    fps: float = 25.0
    noise_dim: int = 10
    hidden_dim: int = 128
    num_layers: int = 2
    code_dim: int = 16
    pca_variance: float = 0.99
    sequence_length: int = 75
    burn_in: int = 50
    mmd_bandwidths: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
    lambda_mmd_sequence: float = 1.0
    lambda_mmd_frame: float = 1.0
    mmd_frame_samples: int = 512
    lambda_range: float = 1.0
    calibration_scales: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
    calibration_sequences: int = 100
    calibration_seconds: float = 10.0
    betas: tuple[float, float] = (0.5, 0.999)


# ----------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------


class BlinkGenerator(nn.Module):
    """G_B: noise (B, T, 10) -> eye-region displacements (B, T, 22, 2), canonical units.

    GRU -> LeakyReLU linear -> linear to ``code_dim`` coefficients -> last linear layer to the
    44 coordinates, initialised with the whitened PCA of the training displacements.

    Args:
        config: the blink config.
    """

    def __init__(self, config: BlinkConfig) -> None:
        super().__init__()
        self.config = config
        self.rnn = nn.GRU(config.noise_dim, config.hidden_dim, num_layers=config.num_layers, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(config.hidden_dim, config.hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(config.hidden_dim, config.code_dim),
        )
        self.last = nn.Linear(config.code_dim, 2 * len(EYE_POINTS))

    def init_from_pca(self, pca: PCA) -> None:
        """Initialise the last layer with the PCA of flattened eye displacements (44-d)."""
        init_decoder(self.last, pca, whiten=True)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        """Displacements for a noise sequence.

        Args:
            noise: (B, T, noise_dim) float32.

        Returns:
            (B, T, 22, 2) float32 displacements :math:`\\delta\\ell^e_t` of :data:`EYE_POINTS`.
        """
        h, _ = self.rnn(noise)
        return self.last(self.head(h)).view(noise.shape[0], noise.shape[1], len(EYE_POINTS), 2)


class BlinkInference(nn.Module):
    """What a trained blink model does at inference, shared by :class:`BlinkNet` and the LightningModule.

    Needs ``config`` (:class:`BlinkConfig`) and ``generator`` (:class:`BlinkGenerator`); the
    statistics buffers come from :meth:`_register_statistics`.
    """

    config: BlinkConfig
    generator: BlinkGenerator
    canonical_neutral: torch.Tensor
    scale: torch.Tensor
    sequence_d2: torch.Tensor
    frame_d2: torch.Tensor
    range_max: torch.Tensor
    range_min: torch.Tensor
    calibration_rates: torch.Tensor

    def _register_statistics(self) -> None:
        """The buffers set from the training data (``initialise_from_data``) or loaded from a checkpoint."""
        self.register_buffer("canonical_neutral", torch.zeros(68, 2))
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("sequence_d2", torch.tensor(1.0))
        self.register_buffer("frame_d2", torch.tensor(1.0))
        self.register_buffer("range_max", torch.zeros(2 * len(EYE_POINTS)))
        self.register_buffer("range_min", torch.zeros(2 * len(EYE_POINTS)))
        n = len(self.config.calibration_scales)
        self.register_buffer("calibration_rates", torch.full((n,), float("nan")))

    def noise(self, batch: int, num_frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Standard normal noise (B, T, noise_dim) on the model's device."""
        z = torch.randn(batch, num_frames, self.config.noise_dim, generator=generator)
        return z.to(self.scale.device)

    @torch.no_grad()
    def generate_eyes(
        self, num_frames: int, num_sequences: int = 1, seed: int = 0, noise_scale: float = 1.0, shaped: bool = True
    ) -> np.ndarray:
        """Generate eye-region displacement sequences.

        Args:
            num_frames: T, any length.
            num_sequences: how many independent sequences.
            seed: noise seed (same seed, same output).
            noise_scale: multiplies the noise's standard deviation (more blinks when larger).
            shaped: re-time each blink to a real blink's profile, depth kept
                (:func:`talkface.motion.blink_shape.shape_blinks`); False: G_B's raw output.

        Returns:
            (num_sequences, T, 22, 2) float32 displacements of :data:`EYE_POINTS`, canonical units.
        """
        gen = torch.Generator().manual_seed(int(seed))
        burn = self.config.burn_in
        z = self.noise(num_sequences, burn + num_frames, gen) * float(noise_scale)
        was_training = self.training
        self.eval()
        out = self.generator(z)[:, burn:]
        self.train(was_training)
        eyes = out.cpu().numpy().astype(np.float32)
        return shape_blinks(eyes, self) if shaped else eyes

    def generate(
        self,
        num_frames: int,
        num_sequences: int = 1,
        seed: int = 0,
        blink_rate: float | None = None,
        noise_scale: float | None = None,
        shaped: bool = True,
    ) -> np.ndarray:
        """Full canonical faces with generated blinks (neutral face elsewhere).

        Args:
            num_frames: T.
            num_sequences: N.
            seed: noise seed.
            blink_rate: wanted blinks per second (uses the calibration curve; needs a calibrated
                model); None for the model's natural rate.
            noise_scale: explicit noise scale (overrides ``blink_rate``).
            shaped: blinks re-timed to a real blink's profile (:meth:`generate_eyes`).

        Returns:
            (N, T, 68, 2) float32 canonical landmarks.
        """
        if noise_scale is None:
            noise_scale = 1.0 if blink_rate is None else self.noise_scale_for_rate(blink_rate)
        eyes = self.generate_eyes(num_frames, num_sequences, seed, noise_scale, shaped)
        faces = np.broadcast_to(self.canonical_neutral.cpu().numpy(), (num_sequences, num_frames, 68, 2)).copy()
        faces[:, :, list(EYE_POINTS)] += eyes
        return faces

    @torch.no_grad()
    def calibrate(
        self, num_sequences: int | None = None, seconds: float | None = None, seed: int = 12345, shaped: bool = True
    ) -> np.ndarray:
        """Measure blink rate (blinks/s) for each of ``config.calibration_scales``.

        Args:
            num_sequences: sequences generated per scale (default ``config.calibration_sequences``).
            seconds: length of each sequence (default ``config.calibration_seconds``).
            seed: noise seed.
            shaped: of the re-timed blinks that :meth:`generate` gives by default (re-timing merges
                G_B's double dips: at scale 2 it counts 0.92 blinks/s where the raw output has 1.01).

        Returns:
            (S,) float32 rates, also stored in the ``calibration_rates`` buffer.
        """
        fps = self.config.fps
        num_sequences = num_sequences or self.config.calibration_sequences
        num_frames = int(round((seconds or self.config.calibration_seconds) * fps))
        rates = []
        for scale in self.config.calibration_scales:
            faces = self.generate(num_frames, num_sequences, seed, noise_scale=scale, shaped=shaped)
            ear = eye_aspect_ratio(faces)
            rates.append(np.mean([blink_stats(detect_blinks(e, fps), num_frames, fps)[0] for e in ear]))
        out = np.asarray(rates, dtype=np.float32)
        self.calibration_rates.copy_(torch.as_tensor(out))
        return out

    def noise_scale_for_rate(self, blink_rate: float) -> float:
        """Noise scale that gives ``blink_rate`` blinks/s, by interpolating the calibration curve.

        Rates outside the calibrated range get the nearest end of the scale grid.

        Raises:
            RuntimeError: the model has not been calibrated (:meth:`calibrate`).
        """
        rates = self.calibration_rates.cpu().numpy().astype(np.float64)
        scales = np.asarray(self.config.calibration_scales, dtype=np.float64)
        if not np.isfinite(rates).all():
            raise RuntimeError("this blink model has no calibration; call calibrate() first")
        # make the curve monotone (running maximum) so np.interp is well defined
        rates = np.maximum.accumulate(rates)
        return float(np.interp(blink_rate, rates, scales))


class BlinkNet(BlinkInference):
    """G_B with its statistics and calibration: a trained blink model for inference (no Lightning).

    Args:
        config: the model's :class:`BlinkConfig`.
    """

    def __init__(self, config: BlinkConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = BlinkGenerator(config)
        self._register_statistics()
