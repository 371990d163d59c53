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
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from talkface.face.geometry import EYE_POINTS
from talkface.motion.blink_net import BlinkConfig, BlinkGenerator, BlinkInference, BlinkNet
from talkface.motion.stats import BlinkStatistics
from talkface.train.core import TalkfaceModule, TrainConfig, fit, load_module_as

if TYPE_CHECKING:
    from talkface.motion.data import BlinkDataConfig

__all__ = [
    "BlinkNet",
    "BlinkInference",
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


class BlinkModel(BlinkInference, TalkfaceModule):
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
        self._register_statistics()

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



def load_blink(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> BlinkModel:
    """Load a trained :class:`BlinkModel` checkpoint (eval mode).

    Raises:
        InputError: the file is not a blink-generator checkpoint.
    """

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
    from talkface.motion.data import BlinkDataModule  # lazy: loads cv2

    cfg = model_config or BlinkConfig()
    datamodule = BlinkDataModule(replace(data_config, sequence_length=cfg.sequence_length))
    cfg = replace(cfg, fps=datamodule.fps)
    module = BlinkModel(cfg)
    module.initialise_from_data(datamodule.statistics(cfg.pca_variance, cfg.code_dim))
    return fit(module, datamodule, out_dir, train_config)
