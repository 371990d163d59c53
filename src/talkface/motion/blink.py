"""G_B: spontaneous eye blinks from noise (Das et al., Sec. 3.2 and 4.2; identity paper Sec. III-B, IV).

A GRU turns a sequence of Gaussian noise vectors :math:`Z_t \\in \\mathbb{R}^{10}` into displacements
:math:`\\delta\\ell^e_t` of the eye region of the canonical neutral face; its last linear layer is
initialised with the principal components (99 % variance) of the ground-truth eye displacements.
It is trained without a discriminator by matching the distribution of generated and ground-truth
displacement sequences with the maximum mean discrepancy (MMD, eq. 6, Gaussian kernel) plus a
min-max range regulariser.

Eye region: the 22 brow and eye points (iBUG 17-26 and 36-47), as in both papers
(:math:`\\delta\\ell^e_t \\in \\mathbb{R}^{22\\times 2}`). The brows are included because they move
with the lids in a blink (the orbicularis oculi pulls them down) and their spontaneous motion is not
driven by speech either; with only the 12 eye points the brows would be frozen at the neutral face
by G_L's speech regression, and a blink would not move them at all.

What MMD compares: each sample is a whole window of ``sequence_length`` frames (flattened,
L x 44 numbers), so the match covers blink shape, duration and how often blinks occur in a
window, not just the per-frame distribution; a second MMD on single frames (44-d) sharpens the
amplitude distribution (open / closed). Both use several kernel bandwidths (multiples of the
median pairwise distance of the training data, the usual "median heuristic").

Any length: the GRU runs for any number of steps. To make every window of a long sequence look
like the training windows (rather than the first 3 s only), training discards a random burn-in of
up to ``burn_in`` generated frames before the window that is compared, and generation discards
``burn_in`` frames too, so the network learns stationary dynamics from whatever state it is in.

Blink-rate control: ``noise_scale`` multiplies the standard deviation of the input noise
(a temperature). A blink is triggered by excursions of the noise, so a larger scale gives more
blinks of about the same duration. :meth:`BlinkModel.calibrate` measures the blink rate of
generated sequences over a grid of scales (stored in the checkpoint), and ``blink_rate=`` in
:meth:`BlinkModel.generate` inverts that curve to hit a requested rate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from talkface.face.geometry import EYE_POINTS
from talkface.motion.pca import PCA, init_decoder
from talkface.motion.stats import BlinkStatistics
from talkface.train.core import TalkfaceModule, TrainConfig

if TYPE_CHECKING:
    from talkface.motion.data import BlinkDataConfig

__all__ = [
    "EYE_POINTS",
    "BlinkConfig",
    "BlinkGenerator",
    "BlinkModel",
    "BlinkStatistics",
    "gaussian_kernel",
    "load_blink",
    "min_max_loss",
    "mmd_loss",
    "train_blink",
]



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


def gaussian_kernel(x: torch.Tensor, y: torch.Tensor, bandwidths: torch.Tensor) -> torch.Tensor:
    """Gaussian kernel of eq. 6, :math:`\\mathcal{K}(x, y) = \\exp(-|x - y|^2 / (2\\sigma))`, summed over σ.

    Args:
        x: (N, F) samples.
        y: (M, F) samples.
        bandwidths: (S,) values of σ (same unit as squared distances).

    Returns:
        (N, M) kernel matrix, summed over the S bandwidths.
    """
    d2 = torch.cdist(x, y).pow(2)
    return torch.exp(-d2[None] / (2.0 * bandwidths[:, None, None])).sum(0)


def mmd_loss(x: torch.Tensor, y: torch.Tensor, bandwidths: torch.Tensor) -> torch.Tensor:
    """Squared maximum mean discrepancy, eq. 6 (biased V-statistic, always >= 0).

    :math:`E\\,\\mathcal{K}(X, X') + E\\,\\mathcal{K}(Y, Y') - 2E\\,\\mathcal{K}(X, Y)` with the
    expectations replaced by means over all sample pairs (diagonals included), so it is exactly 0 when
    the two sample sets are identical.

    Args:
        x: (N, F) samples of one distribution (ground truth).
        y: (M, F) samples of the other (generated).
        bandwidths: (S,) σ values of :func:`gaussian_kernel`.

    Returns:
        Scalar MMD².
    """
    kxx = gaussian_kernel(x, x, bandwidths).mean()
    kyy = gaussian_kernel(y, y, bandwidths).mean()
    kxy = gaussian_kernel(x, y, bandwidths).mean()
    return kxx + kyy - 2.0 * kxy


def min_max_loss(generated: torch.Tensor, target_max: torch.Tensor, target_min: torch.Tensor) -> torch.Tensor:
    """Min-max regularisation: the average range of generated sequences should match the data's.

    For every coordinate, the maximum and minimum over time of each generated sequence are
    averaged over the batch and compared (squared difference) with the same averages over the
    training windows.

    Args:
        generated: (B, L, F) generated sequences.
        target_max: (F,) mean over training windows of the per-window maximum.
        target_min: (F,) mean over training windows of the per-window minimum.

    Returns:
        Scalar, mean over coordinates of the two squared differences.
    """
    gen_max = generated.amax(dim=1).mean(0)
    gen_min = generated.amin(dim=1).mean(0)
    return ((gen_max - target_max).pow(2) + (gen_min - target_min).pow(2)).mean()


# ----------------------------------------------------------------------------------------------
# Network
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


class BlinkModel(TalkfaceModule):
    """G_B as a trainable model (MMD + min-max loss, one optimiser).

    Batches (from :class:`talkface.motion.data.BlinkDataModule`) are dicts with
    ``"eyes"``: (B, L, 22, 2) float32 ground-truth eye-region displacements from the canonical
    neutral face, canonical units.

    Args:
        config: :class:`BlinkConfig` (or its dict).
    """

    config_class = BlinkConfig
    best_metric = ("val/mmd_sequence", "min")
    config: BlinkConfig
    canonical_neutral: torch.Tensor
    scale: torch.Tensor
    sequence_d2: torch.Tensor
    frame_d2: torch.Tensor
    range_max: torch.Tensor
    range_min: torch.Tensor
    calibration_rates: torch.Tensor

    def __init__(self, config: BlinkConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.generator = BlinkGenerator(self.config)
        # set from the training data (initialise_from_data) or loaded from a checkpoint
        self.register_buffer("canonical_neutral", torch.zeros(68, 2))
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("sequence_d2", torch.tensor(1.0))
        self.register_buffer("frame_d2", torch.tensor(1.0))
        self.register_buffer("range_max", torch.zeros(2 * len(EYE_POINTS)))
        self.register_buffer("range_min", torch.zeros(2 * len(EYE_POINTS)))
        n = len(self.config.calibration_scales)
        self.register_buffer("calibration_rates", torch.full((n,), float("nan")))

    def initialise_from_data(self, stats: BlinkStatistics) -> None:
        """Set the neutral face, loss normalisers and the PCA initialisation of the last layer."""
        with torch.no_grad():
            self.canonical_neutral.copy_(torch.as_tensor(stats.canonical_neutral))
            self.scale.fill_(stats.scale)
            self.sequence_d2.fill_(stats.sequence_d2)
            self.frame_d2.fill_(stats.frame_d2)
            self.range_max.copy_(torch.as_tensor(stats.range_max))
            self.range_min.copy_(torch.as_tensor(stats.range_min))
        self.generator.init_from_pca(stats.pca)

    def noise(self, batch: int, num_frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Standard normal noise (B, T, noise_dim) on the model's device."""
        z = torch.randn(batch, num_frames, self.config.noise_dim, generator=generator)
        return z.to(self.scale.device)

    def losses(self, generated: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """MMD of windows, MMD of frames and min-max range loss.

        Args:
            generated: (B, L, 22, 2) generated displacements, canonical units.
            target: (N, L, 22, 2) ground-truth displacements, canonical units.

        Returns:
            ``{"mmd_sequence", "mmd_frame", "range"}`` scalars.
        """
        factors = torch.as_tensor(self.config.mmd_bandwidths, dtype=generated.dtype, device=generated.device)
        g = (generated / self.scale).flatten(2)  # (B, L, 44)
        t = (target / self.scale).flatten(2)
        g_frames, t_frames = g.flatten(0, 1), t.flatten(0, 1)
        n = self.config.mmd_frame_samples
        if len(g_frames) > n:
            g_frames = g_frames[torch.randperm(len(g_frames), device=g.device)[:n]]
        if len(t_frames) > n:
            t_frames = t_frames[torch.randperm(len(t_frames), device=t.device)[:n]]
        return {
            "mmd_sequence": mmd_loss(t.flatten(1), g.flatten(1), factors * self.sequence_d2 / 2.0),
            "mmd_frame": mmd_loss(t_frames, g_frames, factors * self.frame_d2 / 2.0),
            "range": min_max_loss(g, self.range_max, self.range_min),
        }

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """One step of MMD + min-max training with a random burn-in."""
        cfg = self.config
        target = batch["eyes"]
        b, length = target.shape[:2]
        burn = int(torch.randint(0, cfg.burn_in + 1, ()).item()) if cfg.burn_in > 0 else 0
        generated = self.generator(self.noise(b, burn + length))[:, burn:]
        losses = self.losses(generated, target)
        total = (
            cfg.lambda_mmd_sequence * losses["mmd_sequence"]
            + cfg.lambda_mmd_frame * losses["mmd_frame"]
            + cfg.lambda_range * losses["range"]
        )
        self.log_losses({**losses, "blink": total})
        return total

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Validation MMD and range loss (fixed noise)."""
        target = batch["eyes"]
        gen = torch.Generator().manual_seed(batch_idx)
        generated = self.generator(self.noise(target.shape[0], self.config.burn_in + target.shape[1], gen))
        losses = self.losses(generated[:, self.config.burn_in :], target)
        self.log_losses(losses, prefix="val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam, lr from the train config (paper: 2e-4)."""
        return torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=self.config.betas)

    def on_train_end(self) -> None:
        """Measure the blink rate against the noise scale (stored for ``blink_rate=``)."""
        self.calibrate()

    @torch.no_grad()
    def generate_eyes(
        self, num_frames: int, num_sequences: int = 1, seed: int = 0, noise_scale: float = 1.0
    ) -> np.ndarray:
        """Generate eye-region displacement sequences.

        Args:
            num_frames: T, any length.
            num_sequences: how many independent sequences.
            seed: noise seed (same seed, same output).
            noise_scale: multiplies the noise's standard deviation (more blinks when larger).

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
        return out.cpu().numpy().astype(np.float32)

    def generate(
        self,
        num_frames: int,
        num_sequences: int = 1,
        seed: int = 0,
        blink_rate: float | None = None,
        noise_scale: float | None = None,
    ) -> np.ndarray:
        """Full canonical faces with generated blinks (neutral face elsewhere).

        Args:
            num_frames: T.
            num_sequences: N.
            seed: noise seed.
            blink_rate: wanted blinks per second (uses the calibration curve; needs a calibrated
                model); None for the model's natural rate.
            noise_scale: explicit noise scale (overrides ``blink_rate``).

        Returns:
            (N, T, 68, 2) float32 canonical landmarks.
        """
        if noise_scale is None:
            noise_scale = 1.0 if blink_rate is None else self.noise_scale_for_rate(blink_rate)
        eyes = self.generate_eyes(num_frames, num_sequences, seed, noise_scale)
        faces = np.broadcast_to(self.canonical_neutral.cpu().numpy(), (num_sequences, num_frames, 68, 2)).copy()
        faces[:, :, list(EYE_POINTS)] += eyes
        return faces

    @torch.no_grad()
    def calibrate(
        self, num_sequences: int | None = None, seconds: float | None = None, seed: int = 12345
    ) -> np.ndarray:
        """Measure blink rate (blinks/s) for each of ``config.calibration_scales``.

        Args:
            num_sequences: sequences generated per scale (default ``config.calibration_sequences``).
            seconds: length of each sequence (default ``config.calibration_seconds``).
            seed: noise seed.

        Returns:
            (S,) float32 rates, also stored in the ``calibration_rates`` buffer.
        """
        from talkface.face.eyes import blink_stats, detect_blinks, eye_aspect_ratio

        fps = self.config.fps
        num_sequences = num_sequences or self.config.calibration_sequences
        num_frames = int(round((seconds or self.config.calibration_seconds) * fps))
        rates = []
        for scale in self.config.calibration_scales:
            faces = self.generate(num_frames, num_sequences, seed, noise_scale=scale)
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


def load_blink(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> BlinkModel:
    """Load a trained :class:`BlinkModel` checkpoint (eval mode).

    Raises:
        InputError: the file is not a blink-generator checkpoint.
    """
    from talkface.train.core import load_module_as

    return load_module_as(path, BlinkModel, "a blink-generator", map_location)


def train_blink(
    out_dir: str | os.PathLike[str],
    data_config: BlinkDataConfig,
    train_config: TrainConfig,
    model_config: BlinkConfig | None = None,
) -> Path:
    """Train the blink generator G_B on prepared datasets; calibrate its blink rate at the end.

    Args:
        out_dir: run folder (checkpoints, ``config.json``, ``metrics.csv``).
        data_config: which data (:class:`talkface.motion.data.BlinkDataConfig`); its
            ``sequence_length`` is taken from the model config.
        train_config: how to train (paper: Adam lr 2e-4).
        model_config: the model (default :class:`BlinkConfig`).

    Returns:
        Path of ``out_dir/last.ckpt``.
    """
    from talkface.motion.data import BlinkDataModule
    from talkface.train.core import fit

    cfg = model_config or BlinkConfig()
    datamodule = BlinkDataModule(replace(data_config, sequence_length=cfg.sequence_length))
    cfg = replace(cfg, fps=datamodule.fps)
    module = BlinkModel(cfg)
    module.initialise_from_data(datamodule.statistics(cfg.pca_variance, cfg.code_dim))
    return fit(module, datamodule, out_dir, train_config)
