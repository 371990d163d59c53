"""l-GAN: speech -> canonical landmark motion (Das et al., Sec. 3.1 and 4.2).

The generator :class:`LandmarkGenerator` (G_L) maps a window of Δt = 6 per-frame speech features
to the displacement :math:`\\delta\\ell^m_t` of the canonical neutral face :math:`\\ell^m_p`, through a
convolutional encoder (LeakyReLU after each layer) to a 33-d code ("PCA coefficients") and a linear
decoder initialised with the 33 principal components of the training displacements. The
discriminator :class:`LandmarkDiscriminator` (D_L) re-encodes landmarks with a PCA-initialised
linear layer and classifies them real/fake with a small MLP.

Which points move: G_L drives every point except the eye region (brows and eyes,
:data:`talkface.motion.blink.EYE_POINTS`), which the blink generator G_B drives (Sec. 3.2: the two
are combined as :math:`\\ell^M_t = \\ell^m_t \\cup \\ell^e_t`). Eye-region displacements of G_L are
exactly zero, and the losses and D_L see only :data:`SPEECH_POINTS`: blinks cannot be predicted from
speech, so regressing them would only teach G_L a half-closed average eye and give D_L a free cue.

Losses (eq. 1-5) are separate functions, computed on sequences ``(B, L, N, 2)`` of consecutive
frames, with landmarks measured in "crop pixels": canonical units (unit inter-ocular distance)
times :attr:`LGANConfig.loss_unit` (default 37.3, the inter-ocular distance of the canonical face
in a 128-px face crop, :func:`talkface.face.align.crop_transform`); squared distances are summed
over x, y and averaged over points and frames. The unit fixes the balance between the distance
terms and the unit-free adversarial term, as the paper's λ values presuppose pixel-like landmarks.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from talkface.errors import InputError
from talkface.face.geometry import SPEECH_POINTS
from talkface.motion.ensemble import is_ensemble_file
from talkface.motion.lgan_net import LandmarkGenerator, LGANConfig, LGANInference, LGANNet
from talkface.motion.pca import PCA, init_encoder
from talkface.motion.stats import MotionStatistics
from talkface.train.core import TalkfaceModule, TrainConfig, fit, load_module_as

if TYPE_CHECKING:
    from talkface.motion.data import MotionDataConfig

__all__ = [
    "LGANNet",
    "LGANInference",
    "SPEECH_POINTS",
    "LGAN",
    "LGANConfig",
    "LandmarkDiscriminator",
    "LandmarkGenerator",
    "MotionStatistics",
    "adversarial_d_loss",
    "adversarial_g_loss",
    "direction_loss",
    "distance_loss",
    "motion_direction",
    "temporal_consistency_loss",
    "temporal_regularisation_loss",
    "train_lgan",
]



# ----------------------------------------------------------------------------------------------
# Losses (eq. 1-4). Landmarks: (B, L, N, 2) sequences of L consecutive frames, N points.
# ----------------------------------------------------------------------------------------------


def distance_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 1, :math:`\\|\\ell^m_t - \\ell^{m*}_t\\|_2^2`: squared point distance, mean over points and frames.

    Args:
        pred: (..., N, 2) generated landmarks.
        target: (..., N, 2) ground-truth landmarks, same unit.

    Returns:
        Scalar: mean over all leading dims and points of the squared Euclidean distance.
    """
    return (pred - target).pow(2).sum(-1).mean()


def temporal_regularisation_loss(pred: torch.Tensor) -> torch.Tensor:
    """Eq. 2, :math:`\\|\\ell^m_t - \\ell^m_{t-1}\\|_2^2`: squared motion between consecutive frames.

    Args:
        pred: (B, L, N, 2) generated landmark sequences, L >= 2.

    Returns:
        Scalar: mean over sequences, frame pairs and points of the squared displacement.
    """
    return (pred[:, 1:] - pred[:, :-1]).pow(2).sum(-1).mean()


def temporal_consistency_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Identity paper eq. 3: :math:`\\|(\\delta_t - \\delta_{t-1}) - (\\hat\\delta_t - \\hat\\delta_{t-1})\\|^2`.

    The frame-to-frame motion should equal the ground truth's (smooth where the truth is smooth).

    Args:
        pred: (B, L, N, 2) generated landmark sequences, L >= 2.
        target: (B, L, N, 2) ground truth.

    Returns:
        Scalar: mean over sequences, frame pairs and points.
    """
    d_pred = pred[:, 1:] - pred[:, :-1]
    d_true = target[:, 1:] - target[:, :-1]
    return (d_pred - d_true).pow(2).sum(-1).mean()


def motion_direction(seq: torch.Tensor, temperature: float = 0.0) -> torch.Tensor:
    """The motion-direction indicator of eq. 3, :math:`\\overrightarrow{\\delta\\ell_t} = [\\ell_{t+1} > \\ell_t]`.

    The indicator is a step function of the motion, whose gradient is zero almost everywhere, so
    it cannot train anything. With ``temperature`` τ > 0 the step is replaced by the logistic
    function :math:`\\sigma((\\ell_{t+1} - \\ell_t) / \\tau)` per coordinate: 1 for a clear positive
    motion, 0 for a clear negative one, 0.5 for no motion, with a useful gradient for motions of
    the order of τ. It is applied to both the prediction and the ground truth, so ground-truth
    jitter far below τ counts as "no direction" rather than as a random 0/1 target.

    Args:
        seq: (B, L, N, 2) landmark sequences, L >= 2.
        temperature: τ in the landmarks' unit; 0 gives the hard indicator of eq. 3 (float 0/1).

    Returns:
        (B, L-1, N, 2) direction of each coordinate between frames t and t+1, in [0, 1].
    """
    motion = seq[:, 1:] - seq[:, :-1]
    if temperature <= 0.0:
        return (motion > 0).to(seq.dtype)
    return torch.sigmoid(motion / temperature)


def direction_loss(pred: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """Eq. 3, :math:`\\|\\overrightarrow{\\delta\\ell^m_t} - \\overrightarrow{\\delta\\ell^{m*}_t}\\|_2^2`.

    Uses the soft indicator of :func:`motion_direction` on both sequences (see there).

    Args:
        pred: (B, L, N, 2) generated landmark sequences, L >= 2.
        target: (B, L, N, 2) ground truth, same unit.
        temperature: τ of the soft indicator, landmark unit (> 0 to train with it).

    Returns:
        Scalar: squared difference of the indicators summed over x, y, mean over frames and points.
    """
    return (motion_direction(pred, temperature) - motion_direction(target, temperature)).pow(2).sum(-1).mean()


def adversarial_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator side of eq. 4: maximise :math:`\\log D(\\ell^*) + \\log(1 - D(G(F)))`.

    Written as the binary cross-entropy to minimise, with D's outputs as logits.

    Args:
        real_logits: (M,) D_L logits of ground-truth landmarks.
        fake_logits: (M,) D_L logits of generated landmarks.

    Returns:
        Scalar ``BCE(real, 1) + BCE(fake, 0)`` (2 log 2 ≈ 1.386 at chance).
    """
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def adversarial_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator side of eq. 4, non-saturating form: minimise :math:`-\\log D(G(F))`.

    (Goodfellow et al.'s standard replacement for minimising :math:`\\log(1 - D(G(F)))`, which has
    vanishing gradients while D wins.)

    Args:
        fake_logits: (M,) D_L logits of generated landmarks.

    Returns:
        Scalar ``BCE(fake, 1)`` (log 2 ≈ 0.693 at chance).
    """
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


# ----------------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------------


class LandmarkDiscriminator(nn.Module):
    """D_L: landmarks -> real/fake logit.

    A linear "re-encoding" layer initialised to project the speech points' displacements onto
    their PCA coefficients (whitened), followed by a 2-layer LeakyReLU MLP.

    Args:
        config: the l-GAN config.
    """

    def __init__(self, config: LGANConfig) -> None:
        super().__init__()
        self.encode = nn.Linear(2 * len(SPEECH_POINTS), config.code_dim)
        self.mlp = nn.Sequential(
            nn.LeakyReLU(config.leaky_slope),
            nn.Linear(config.code_dim, config.discriminator_hidden),
            nn.LeakyReLU(config.leaky_slope),
            nn.Linear(config.discriminator_hidden, 1),
        )

    def init_from_pca(self, pca: PCA) -> None:
        """Initialise the re-encoding layer with the PCA of speech-point displacements."""
        init_encoder(self.encode, pca, whiten=True)

    def forward(self, displacement: torch.Tensor) -> torch.Tensor:
        """Logits.

        Args:
            displacement: (M, 68, 2) landmark displacements from the canonical neutral face,
                canonical units (only :data:`SPEECH_POINTS` are used).

        Returns:
            (M,) logits (> 0: real).
        """
        x = displacement[:, list(SPEECH_POINTS)].flatten(1)
        return self.mlp(self.encode(x)).squeeze(-1)


class LGAN(LGANInference, TalkfaceModule):
    """The l-GAN as a trainable model: G_L and D_L with the loss of eq. 5 (manual optimisation).

    Batches (from :class:`talkface.motion.data.LGANDataModule`) are dicts with
    ``"windows"``: (B, L, Δt, D) float32 speech-feature windows of L consecutive frames and
    ``"landmarks"``: (B, L, 68, 2) float32 ground-truth canonical landmarks around
    :attr:`canonical_neutral`.

    Args:
        config: :class:`LGANConfig` (or its dict).
    """

    config_class = LGANConfig
    best_metric = ("val/lmd", "min")
    config: LGANConfig
    canonical_neutral: torch.Tensor

    def __init__(self, config: LGANConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.automatic_optimization = False
        self.generator = LandmarkGenerator(self.config)
        self.discriminator = None if self.config.regression_only else LandmarkDiscriminator(self.config)
        # set from the training data (initialise_from_data) or loaded from a checkpoint
        self.register_buffer("canonical_neutral", torch.zeros(68, 2))

    @property
    def optimizer_steps_per_batch(self) -> int:
        """1 (G_L) for regression-only, else 2 (D_L, then G_L)."""
        return 1 if self.discriminator is None else 2

    def initialise_from_data(self, stats: MotionStatistics) -> None:
        """Set the canonical neutral face, feature standardisation and PCA initialisations."""
        with torch.no_grad():
            self.canonical_neutral.copy_(torch.as_tensor(stats.canonical_neutral))
            self.generator.feature_mean.copy_(torch.as_tensor(stats.feature_mean))
            self.generator.feature_std.copy_(torch.as_tensor(stats.feature_std))
        self.generator.init_from_pca(stats.pca)
        if self.discriminator is not None:
            self.discriminator.init_from_pca(stats.pca)

    def generator_losses(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The regression terms of eq. 5 on the speech points.

        Args:
            pred: (B, L, 68, 2) generated canonical landmarks.
            target: (B, L, 68, 2) ground truth.

        Returns:
            ``{"dist", "reg", "dir"}`` scalars in loss units (see module doc).
        """
        cfg = self.config
        idx = list(SPEECH_POINTS)
        p = pred[:, :, idx] * cfg.loss_unit
        t = target[:, :, idx] * cfg.loss_unit
        reg = temporal_regularisation_loss(p) if cfg.temporal_loss == "smooth" else temporal_consistency_loss(p, t)
        return {
            "dist": distance_loss(p, t),
            "reg": reg,
            "dir": direction_loss(p, t, cfg.direction_temperature),
        }

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """One D_L step (unless regression-only) and one G_L step on eq. 5."""
        cfg = self.config
        windows, target = batch["windows"], batch["landmarks"]
        pred = self(windows)
        logs: dict[str, torch.Tensor] = {}
        optimizers = self.optimizers()
        opt_list = optimizers if isinstance(optimizers, list) else [optimizers]
        opt_g = opt_list[0]
        if self.discriminator is not None:
            opt_d = opt_list[1]
            neutral = self.canonical_neutral
            real = (target - neutral).flatten(0, 1)
            fake = (pred.detach() - neutral).flatten(0, 1)
            loss_d = adversarial_d_loss(self.discriminator(real), self.discriminator(fake))
            opt_d.zero_grad()
            self.manual_backward(loss_d)
            opt_d.step()
            logs["d"] = loss_d
        losses = self.generator_losses(pred, target)
        total = cfg.lambda_dist * losses["dist"] + cfg.lambda_reg * losses["reg"] + cfg.lambda_dir * losses["dir"]
        if self.discriminator is not None:
            losses["gan"] = adversarial_g_loss(self.discriminator((pred - self.canonical_neutral).flatten(0, 1)))
            total = total + cfg.lambda_gan * losses["gan"]
        opt_g.zero_grad()
        self.manual_backward(total)
        opt_g.step()
        logs.update(losses)
        logs["motion"] = total
        self.log_losses(logs)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Distance loss and mouth LMD (canonical space, crop pixels) on validation sequences."""
        pred = self(batch["windows"])
        losses = self.generator_losses(pred, batch["landmarks"])
        mouth = slice(48, 68)
        lmd = (pred[:, :, mouth] - batch["landmarks"][:, :, mouth]).norm(dim=-1).mean() * self.config.loss_unit
        self.log_losses({"dist": losses["dist"], "lmd": lmd}, prefix="val")

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Adam for G_L (and D_L), lr from the train config (paper: 2e-4)."""
        opts: list[torch.optim.Optimizer] = [
            torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=self.config.betas)
        ]
        if self.discriminator is not None:
            opts.append(torch.optim.Adam(self.discriminator.parameters(), lr=self.lr, betas=self.config.betas))
        return opts



def load_lgan(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> LGAN:
    """Load a trained :class:`LGAN` checkpoint (eval mode).

    Raises:
        InputError: the file is not an l-GAN checkpoint.
    """

    return load_module_as(path, LGAN, "an l-GAN", map_location)


#: :class:`LGANConfig` fields that say how to train, not what the networks are: a fine-tune
#: (``train_lgan(init=...)``) takes these from its ``model_config`` and the rest from the init model.
TRAINING_FIELDS = ("lambda_dist", "lambda_reg", "lambda_dir", "lambda_gan", "temporal_loss",
                   "direction_temperature", "regression_only", "betas", "discriminator_hidden", "pca_variance")


def train_lgan(
    out_dir: str | os.PathLike[str],
    data_config: MotionDataConfig,
    train_config: TrainConfig,
    model_config: LGANConfig | None = None,
    init: str | os.PathLike[str] | None = None,
) -> Path:
    """Train an l-GAN (or, with ``regression_only``, G_L alone) on prepared datasets.

    The model takes the speech feature, its size and the fps from the data, and the data the
    window Δt from the model. G_L's decoder and D_L's first layer are PCA-initialised from the
    training displacements; an existing ``out_dir/last.ckpt`` is resumed.

    With ``init`` (fine-tuning, e.g. to a new speaker's clips): G_L starts from that model's weights
    and architecture, D_L (if any) from the new data's PCA; the loss settings
    (:data:`TRAINING_FIELDS`) come from ``model_config``.

    Args:
        out_dir: run folder (checkpoints, ``config.json``, ``metrics.csv``).
        data_config: which data (:class:`talkface.motion.data.MotionDataConfig`).
        train_config: how to train (paper: batch size 6, Adam lr 2e-4).
        model_config: the model (default :class:`LGANConfig`).
        init: an l-GAN checkpoint or export (``lgan.pt`` of a bundle) to fine-tune.

    Returns:
        Path of ``out_dir/last.ckpt``.

    Raises:
        InputError: ``init`` is not an l-GAN, or was trained on other speech features or another
            frame rate than the data's.
    """
    from talkface.motion.data import LGANDataModule  # lazy: loads cv2

    cfg = model_config or LGANConfig()
    if init is not None and is_ensemble_file(init):
        raise InputError(init, "is a motion ensemble (talkface.motion.ensemble), which cannot be fine-tuned; "
                               "give one of its members' checkpoints")
    start = load_lgan(init) if init is not None else None
    if start is not None:
        cfg = replace(start.config, **{name: getattr(cfg, name) for name in TRAINING_FIELDS})
    data_config = replace(data_config, window=cfg.window, window_align=cfg.window_align)
    datamodule = LGANDataModule(data_config)
    if start is not None:
        have = (datamodule.feature_name, datamodule.feature_dim, float(datamodule.fps))
        want = (cfg.feature_name, cfg.feature_dim, float(cfg.fps))
        if have != want:
            raise InputError(init, f"was trained on {want[0]} features ({want[1]}-d) at {want[2]:g} fps; the data has "
                             f"{have[0]} ({have[1]}-d) at {have[2]:g} fps (preprocess it with --feature {want[0]})")
    cfg = replace(cfg, feature_name=datamodule.feature_name, feature_dim=datamodule.feature_dim, fps=datamodule.fps)
    module = LGAN(cfg)
    module.initialise_from_data(datamodule.statistics(cfg.pca_variance, cfg.code_dim))
    if start is not None:  # G_L's weights and input standardisation; D_L stays PCA-initialised on this data
        module.generator.load_state_dict(start.generator.state_dict())
    extra = {"init": {"model": os.fspath(init)}} if init is not None else None
    return fit(module, datamodule, out_dir, train_config, extra_configs=extra)
