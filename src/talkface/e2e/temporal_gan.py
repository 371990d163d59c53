r"""End-to-end speech-driven facial animation with a temporal GAN (Vougioukas et al., BMVC 2018).

Networks (the paper's Fig. 2-3 and appendix A; layer counts given for 128 x 128 frames):

* :class:`AudioEncoder` — 7 layers of 1-D convolutions over one 0.16-s raw-waveform window per video
  frame (a large first kernel of 5 ms with a 1-ms stride, then kernel-4/stride-2 layers, then one
  layer spanning what is left) -> 256-d; or :class:`MFCCAudioEncoder` (MFCCs of the same window,
  5 convolutions + 2 fully connected layers, as in the multi-discriminator paper).
* :class:`ContextEncoder` — the audio encoder followed by a 2-layer GRU (256) -> ``z_c``.
* :class:`IdentityEncoder` — 6 strided convolutions (BN, ReLU) -> 50-d ``z_id`` (tanh), keeping its
  hidden feature maps for the U-Net skip connections.
* :class:`NoiseGenerator` — a 1-layer GRU over 10-d Gaussian noise (variance 0.6) -> ``z_n``.
* :class:`FrameDecoder` — strided transposed convolutions from ``[z_c, z_id, z_n]`` to a frame
  (tanh), the identity encoder's maps concatenated on the way up (U-Net).
* :class:`FrameDiscriminator` — 6-layer CNN on the frame concatenated channel-wise with the still.
* :class:`SequenceDiscriminator` — per-frame CNN + audio encoder -> 2-layer GRU -> 2-layer classifier
  on the last step (conditioned on the audio).
* :class:`SPPSequenceDiscriminator` — the same, but the GRU outputs of all steps are pooled by a 1-D
  spatial pyramid (:class:`SpatialPyramidPool1d`), so the classifier sees a fixed-size vector for any
  sequence length (multi-discriminator paper, sec. III.6).

Loss (eq. 1-3): the two discriminators' adversarial losses plus ``λ = 400`` times an L1 loss on the
lower half of the frame (:func:`lower_half_l1`). :class:`TemporalGAN` trains them with the one
training core (:mod:`talkface.train.core`), with the paper's learning rates.

Generation is frame by frame with the GRU states carried over, so a video can be streamed from an
audio stream of any length in constant memory (:func:`generate_stream`).

Conventions: frames are float tensors in [-1, 1], channels first: a sequence is ``(B, T, 3, H, W)``.
Audio enters as per-frame raw windows ``(B, T, W)`` float32 (W = ``window_s * sample_rate``
samples, frame ``t`` centred at ``t / fps`` s as in :func:`talkface.audio.windows.raw_windows`).

Modules: :mod:`talkface.e2e.config` (:class:`E2EConfig`, ablations), :mod:`talkface.e2e.networks`
(the ``nn.Module``\ s), :mod:`talkface.e2e.stream` (generation); this module holds the losses and the
training module and re-exports the rest under its old names (checkpoints and imports unchanged).
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from talkface.e2e.config import ABLATIONS, E2EConfig, ablation_config
from talkface.e2e.mouth import mouth_l1, weighted_l1
from talkface.e2e.networks import (
    AudioEncoder,
    ContextEncoder,
    FrameDecoder,
    FrameDiscriminator,
    Generator,
    GeneratorState,
    IdentityEncoder,
    MFCCAudioEncoder,
    NoiseGenerator,
    SequenceDiscriminator,
    SpatialPyramidPool1d,
    SPPSequenceDiscriminator,
)
from talkface.e2e.stream import frames_to_uint8, generate_batch, generate_stream, images_to_tensor, stream_windows
from talkface.train.core import TalkfaceModule

__all__ = [
    "ABLATIONS",
    "AudioEncoder",
    "ContextEncoder",
    "E2EConfig",
    "FrameDecoder",
    "FrameDiscriminator",
    "Generator",
    "GeneratorState",
    "IdentityEncoder",
    "MFCCAudioEncoder",
    "NoiseGenerator",
    "SPPSequenceDiscriminator",
    "SequenceDiscriminator",
    "SpatialPyramidPool1d",
    "TemporalGAN",
    "ablation_config",
    "frames_to_uint8",
    "generate_batch",
    "generate_stream",
    "images_to_tensor",
    "lower_half_l1",
    "lower_half_mask",
    "reconstruction_l1",
    "stream_windows",
]



# ----------------------------------------------------------------------------------------------
# Losses


def lower_half_mask(height: int, width: int) -> torch.Tensor:
    """Mask of the lower half of a frame (the L1 region of eq. 2).

    Returns:
        ``(height, width)`` bool, True on rows ``height // 2 .. height - 1``.
    """
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[height // 2 :] = True
    return mask


def lower_half_l1(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the lower half of the frames (eq. 2, averaged instead of summed).

    Args:
        fake, real: ``(..., C, H, W)`` frames.

    Returns:
        Scalar tensor.
    """
    h = fake.shape[-2]
    return (fake[..., h // 2 :, :] - real[..., h // 2 :, :]).abs().mean()


def reconstruction_l1(
    fake: torch.Tensor,
    real: torch.Tensor,
    region: str = "lower",
    mouth: torch.Tensor | None = None,
    mouth_weight: float = 0.0,
) -> torch.Tensor:
    """The L1 term of eq. 3: :func:`lower_half_l1` (``region="lower"``) or the whole frame (``"full"``).

    Args:
        fake, real: ``(..., C, H, W)`` frames.
        region: ``"lower"`` or ``"full"``.
        mouth: ``(..., 1, H, W)`` soft mouth masks of the real frames, or None.
        mouth_weight: extra weight inside ``mouth`` (:func:`talkface.e2e.mouth.weighted_l1`; 0 = plain L1).

    Returns:
        Scalar tensor (mean of the weighted absolute error).
    """
    if region != "full":
        h = fake.shape[-2] // 2
        fake, real = fake[..., h:, :], real[..., h:, :]
        mouth = mouth[..., h:, :] if mouth is not None else None
    return weighted_l1(fake, real, mouth, mouth_weight)


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """``-log D`` (real) or ``-log(1 - D)`` (fake) for sigmoid discriminators, from logits."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


# ----------------------------------------------------------------------------------------------
# Training module


class TemporalGAN(TalkfaceModule):
    """The end-to-end temporal GAN as a training-core module (manual optimisation).

    Each batch: one Adam step of the discriminators (D_img at ``lr_frame_discriminator``, D_seq at
    ``lr_sequence_discriminator``, one optimiser with a parameter group each), then one of the
    generator on ``adv + λ L1`` (eq. 3). With no discriminator (the ``"l1"`` ablation) only the
    generator steps. The generator's and D_img's learning rates decay by ``lr_decay`` per epoch
    after ``lr_decay_start_epoch``.

    Batches are dicts (see :mod:`talkface.e2e.data`): ``still`` ``(B, 3, S, S)``, ``frames``
    ``(B, T, 3, S, S)`` in [-1, 1], ``audio`` ``(B, T, W)`` windows.

    Args:
        config: an :class:`E2EConfig` (or its dict form from a checkpoint).
    """

    config_class = E2EConfig
    best_metric = ("val/psnr", "max")

    def __init__(self, config: E2EConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        cfg: E2EConfig = self.config
        self.automatic_optimization = False
        self.generator = Generator(cfg)
        self.frame_discriminator = FrameDiscriminator(cfg) if cfg.use_frame_discriminator else None
        self.sequence_discriminator: nn.Module | None = None
        if cfg.use_sequence_discriminator:
            self.sequence_discriminator = (
                SPPSequenceDiscriminator(cfg) if cfg.sequence_discriminator == "spp" else SequenceDiscriminator(cfg)
            )

    @property
    def has_discriminators(self) -> bool:
        """True unless this is the L1-only ablation."""
        return self.frame_discriminator is not None or self.sequence_discriminator is not None

    @property
    def optimizer_steps_per_batch(self) -> int:
        """2 (discriminators + generator), or 1 for the L1-only model."""
        return 2 if self.has_discriminators else 1

    def _decay(self, epoch: int) -> float:
        cfg: E2EConfig = self.config
        return (1.0 - cfg.lr_decay) ** max(0, epoch - cfg.lr_decay_start_epoch)

    def configure_optimizers(self) -> Any:
        """Adam for G (``TrainConfig.lr``) and for the discriminators (a parameter group each)."""
        cfg: E2EConfig = self.config
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=cfg.adam_betas)
        sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, self._decay)
        if not self.has_discriminators:
            return [opt_g], [sched_g]
        groups: list[dict[str, Any]] = []
        lambdas = []
        if self.frame_discriminator is not None:
            groups.append({"params": list(self.frame_discriminator.parameters()), "lr": cfg.lr_frame_discriminator})
            lambdas.append(self._decay)
        if self.sequence_discriminator is not None:
            groups.append({"params": list(self.sequence_discriminator.parameters()),
                           "lr": cfg.lr_sequence_discriminator})
            lambdas.append(_constant_lr)
        opt_d = torch.optim.Adam(groups, betas=cfg.adam_betas)
        sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, cast(Any, lambdas))
        return [opt_g, opt_d], [sched_g, sched_d]

    def forward(self, still: torch.Tensor, windows: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Generate ``(B, T, 3, S, S)`` frames (see :meth:`Generator.forward`)."""
        return cast(torch.Tensor, self.generator(still, windows, noise))

    def _sample_frames(self, frames: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, T, ...)`` at per-video indices ``(B, k)`` -> ``(B * k, ...)`` (the sampler S(x))."""
        b = frames.shape[0]
        rows = torch.arange(b, device=frames.device)[:, None].expand_as(index)
        return frames[rows, index].flatten(0, 1)

    def discriminator_loss(
        self, batch: dict[str, torch.Tensor], fake: torch.Tensor, index: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Discriminator losses (the negated adversarial terms of eq. 1) on real and generated data."""
        still, real, windows = batch["still"], batch["frames"], batch["audio"]
        losses: dict[str, torch.Tensor] = {}
        if self.frame_discriminator is not None:
            k = index.shape[1]
            cond = still.repeat_interleave(k, 0)
            losses["d_img"] = _bce(self.frame_discriminator(self._sample_frames(real, index), cond), True) + _bce(
                self.frame_discriminator(self._sample_frames(fake, index), cond), False)
        if self.sequence_discriminator is not None:
            losses["d_seq"] = _bce(self.sequence_discriminator(real, windows), True) + _bce(
                self.sequence_discriminator(fake, windows), False)
        return losses

    def generator_loss(
        self, batch: dict[str, torch.Tensor], fake: torch.Tensor, index: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Generator losses: L1 on the lower half, adversarial (non-saturating) terms, and their total."""
        cfg: E2EConfig = self.config
        still, real, windows = batch["still"], batch["frames"], batch["audio"]
        mouth = batch.get("mouth") if cfg.mouth_weight > 0 else None
        losses = {"l1": reconstruction_l1(fake, real, cfg.l1_region, mouth, cfg.mouth_weight)}
        if mouth is not None:  # for the log: the mean absolute error inside the mouth masks
            with torch.no_grad():
                losses["l1_mouth"] = mouth_l1(fake, real, mouth)
        total = cfg.l1_weight * losses["l1"]
        if self.frame_discriminator is not None:
            cond = still.repeat_interleave(index.shape[1], 0)
            losses["g_img"] = _bce(self.frame_discriminator(self._sample_frames(fake, index), cond), True)
            total = total + losses["g_img"]
        if self.sequence_discriminator is not None:
            losses["g_seq"] = _bce(self.sequence_discriminator(fake, windows), True)
            total = total + losses["g_seq"]
        losses["g_total"] = total
        return losses

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """One discriminator step then one generator step (manual optimisation)."""
        cfg: E2EConfig = self.config
        opts = self.optimizers()
        opt_list = opts if isinstance(opts, list) else [opts]
        opt_g = opt_list[0]
        fake, mask = self.generator.forward_with_mask(batch["still"], batch["audio"])
        b, t = fake.shape[:2]
        index = torch.randint(0, t, (b, cfg.frame_samples), device=fake.device)
        logged: dict[str, torch.Tensor] = {}
        if self.has_discriminators:
            opt_d = opt_list[1]
            self.toggle_optimizer(opt_d)
            d_losses = self.discriminator_loss(batch, fake.detach(), index)
            d_total = cast(torch.Tensor, sum(d_losses.values()))
            opt_d.zero_grad()
            self.manual_backward(d_total)
            opt_d.step()
            self.untoggle_optimizer(opt_d)
            logged.update(d_losses)
        self.toggle_optimizer(opt_g)
        g_losses = self.generator_loss(batch, fake, index)
        if mask is not None and cfg.mask_weight > 0:  # sparsity of the residual generator's mask
            g_losses["mask"] = mask.mean()
            g_losses["g_total"] = g_losses["g_total"] + cfg.mask_weight * g_losses["mask"]
        opt_g.zero_grad()
        self.manual_backward(g_losses["g_total"])
        opt_g.step()
        self.untoggle_optimizer(opt_g)
        logged.update(g_losses)
        self.log_losses(logged)

    def on_train_epoch_end(self) -> None:
        """Step the learning-rate schedules (decay after ``lr_decay_start_epoch``)."""
        scheds = self.lr_schedulers()
        if scheds is None:
            return
        for sched in scheds if isinstance(scheds, list) else [scheds]:
            cast(torch.optim.lr_scheduler.LRScheduler, sched).step()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """L1 (the training region) and PSNR (whole frame, dB) of generated vs. real validation clips."""
        cfg: E2EConfig = self.config
        fake = self.generator(batch["still"], batch["audio"])
        real = batch["frames"]
        mse = ((fake - real) / 2.0).square().mean().clamp_min(1e-10)
        psnr = -10.0 * torch.log10(mse)
        h = real.shape[-2] // 2
        mse_lower = ((fake[..., h:, :] - real[..., h:, :]) / 2.0).square().mean().clamp_min(1e-10)
        scores = {"l1": reconstruction_l1(fake, real, cfg.l1_region), "psnr": psnr,
                  "psnr_lower": -10.0 * torch.log10(mse_lower)}
        if "mouth" in batch:
            scores["l1_mouth"] = mouth_l1(fake, real, batch["mouth"])
        self.log_losses(scores, prefix="val")


def _constant_lr(epoch: int) -> float:
    """Learning-rate factor of D_seq: fixed."""
    return 1.0
