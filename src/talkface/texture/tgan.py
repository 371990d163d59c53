"""t-GAN: face images from landmark images and reference images (Das et al. 2020, Sec. 3.4 and 4.3).

Generator G_T (:class:`TextureGenerator`, ``variant="adain"``):

* texture encoder E_I: each of the N reference images ``I^n`` channel-concatenated with its landmark
  image (6 channels) goes through residual down blocks (spectral norm, no normalisation) to the
  bottleneck resolution; ReLU and global average pooling give a style vector ``e`` per reference,
  averaged over the N references;
* landmark encoder-decoder E_L: the target landmark image goes through residual down blocks with
  instance normalisation (``log2(S / bottleneck_size)`` of them: six at 256², five at 128² with the
  default 4×4 bottleneck), residual blocks with **adaptive instance normalisation** whose per-channel
  mean and standard deviation are a linear projection of ``e`` (:func:`adain`), and residual up blocks
  back to S×S; a SAGAN self-attention layer (:class:`SelfAttention`, Zhang et al. 2019) sits at the
  32×32 level on the way down and on the way up; output ``tanh`` RGB in [-1, 1];
* every convolution and linear layer is spectrally normalised (Miyato et al. 2018).

The decoder's normalisation is ``decoder_norm``: ``"none"`` (AdaIN at the bottleneck only, as the
paper describes), ``"adain"`` (AdaIN in the up blocks too, as in Zakharov et al. 2019) or
``"instance"``.

Discriminator D_T (:class:`TextureDiscriminator`): the image channel-concatenated with the reference
image (eq. 9's ``D_T(I^n, I_t)``) and, by default, the target landmark image (so D_T can judge whether
the mouth matches the landmarks), residual down blocks like E_I, ReLU, global max pooling and a fully
connected layer giving one logit (Sec. 4.3); its block outputs are returned for feature matching.

The identity-preserving attention variant (Sinha et al.) lives in :mod:`talkface.texture.attention`;
:class:`TextureGAN` (the LightningModule trained by :func:`talkface.train.core.fit`) builds either from
``TextureConfig.variant``. ``base_channels`` scales every network (8-16 on a CPU, 32-64 on a GPU).

Tensors: images (B, 3, S, S) float32 RGB in [-1, 1]; reference stacks (B, N, 3, S, S); landmark
images are :func:`talkface.face.draw.draw_landmarks` output scaled the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.func import functional_call

from talkface.errors import InputError
from talkface.io.atomic import atomic_path
from talkface.texture.attention import attention_regularisation, region_weights
from talkface.texture.build import TextureNet, build_discriminator, build_generator
from talkface.texture.losses import (
    PerceptualLoss,
    adversarial_d_loss,
    adversarial_g_loss,
    feature_matching_loss,
    pixel_loss,
)

# The networks live in talkface.texture.networks; re-exported here for existing callers and checkpoints.
from talkface.texture.networks import (
    DECODER_NORMS,
    VARIANTS,
    AdaINResBlock,
    ConvEncoder,
    GeneratorOutput,
    ResBlockDown,
    ResBlockUp,
    SelfAttention,
    TextureConfig,
    TextureDiscriminator,
    TextureEncoder,
    TextureGenerator,
    adain,
    images_to_tensor,
    tensor_to_images,
    warp_inputs,
)
from talkface.train.core import TalkfaceModule, TrainConfig, fit, load_module_as

__all__ = [
    "TextureNet",
    "VARIANTS",
    "DECODER_NORMS",
    "ConvEncoder",
    "TextureConfig",
    "GeneratorOutput",
    "adain",
    "SelfAttention",
    "ResBlockDown",
    "ResBlockUp",
    "AdaINResBlock",
    "TextureEncoder",
    "TextureGenerator",
    "TextureDiscriminator",
    "TextureGAN",
    "build_generator",
    "build_discriminator",
    "images_to_tensor",
    "warp_inputs",
    "tensor_to_images",
    "SampleGrid",
    "train_texture",
]

def _call(module: nn.Module, params: Mapping[str, torch.Tensor] | None, *args: Any, **kwargs: Any) -> Any:
    """``module(*args, **kwargs)``, or with the weights ``params`` substituted (``torch.func.functional_call``)."""
    if params is None:
        return module(*args, **kwargs)
    return functional_call(module, dict(params), args, kwargs, strict=False)


Params = Mapping[str, torch.Tensor]


# ---------------------------------------------------------------------------------------- module


class TextureGAN(TalkfaceModule):
    """The texture stage as a LightningModule: G_T (+ D_T) trained with eq. 11 (or Sinha et al. eq. 14).

    Batches are dicts of tensors (see :mod:`talkface.texture.data`):
    ``reference_images`` / ``reference_landmark_images`` (B, N, 3, S, S), ``landmark_image`` and
    ``image`` (B, 3, S, S), ``points`` (B, 68, 2) float32 target landmarks in crop pixels,
    ``reference_points`` (B, N, 68, 2) the references' landmarks; with temporal
    pairs also ``prev_landmark_image``, ``prev_image``, ``prev_points`` (frame t-1).

    Args:
        config: a :class:`TextureConfig` (or its dict form).
    """

    config_class = TextureConfig
    best_metric = ("val/psnr", "max")
    config: TextureConfig

    def __init__(self, config: TextureConfig | Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.automatic_optimization = False
        self.generator = build_generator(self.config)
        self.discriminator = build_discriminator(self.config) if self.config.adversarial else None
        loss = self.config.active_loss
        self.perceptual = PerceptualLoss(loss.vgg_layers, loss.vgg_size) if loss.lambda_feat * loss.alpha1 > 0 else None

    @property
    def optimizer_steps_per_batch(self) -> int:
        """2 with a discriminator (D step + G step), else 1."""
        return 2 if self.discriminator is not None else 1

    def configure_optimizers(self) -> Any:
        """Adam for G (and D), learning rate from the TrainConfig, betas from the config."""
        betas = tuple(self.config.adam_betas)
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=betas)  # type: ignore[arg-type]
        if self.discriminator is None:
            return opt_g
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.lr, betas=betas)  # type: ignore[arg-type]
        return [opt_g, opt_d]

    # -- generation ---------------------------------------------------------------------------

    def forward(
        self, landmark_image: torch.Tensor, reference_images: torch.Tensor, reference_landmark_images: torch.Tensor
    ) -> torch.Tensor:
        """(B, 3, S, S) target landmark images + (B or 1, N, 3, S, S) references -> (B, 3, S, S) frames."""
        out: GeneratorOutput = self.generator(landmark_image, reference_images, reference_landmark_images)
        return out.image

    @staticmethod
    def flatten_temporal(batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Stack frames t and t-1 of a temporal batch into one batch of 2B (t first); others unchanged."""
        flat = dict(batch)
        if "prev_image" in batch:
            for key in ("landmark_image", "image", "points"):
                flat[key] = torch.cat([batch[key], batch[f"prev_{key}"]], dim=0)
            for key in ("reference_images", "reference_landmark_images", "reference_points"):
                if key in batch:
                    flat[key] = torch.cat([batch[key], batch[key]], dim=0)
        return flat

    def generate(self, batch: Mapping[str, torch.Tensor], g_params: Params | None = None) -> GeneratorOutput:
        """Run G_T on a (flattened) batch, optionally with substituted weights ``g_params``."""
        out: GeneratorOutput = _call(
            self.generator,
            g_params,
            batch["landmark_image"],
            batch["reference_images"],
            batch["reference_landmark_images"],
            **warp_inputs(self.config, batch),
        )
        return out

    def _discriminate(
        self, batch: Mapping[str, torch.Tensor], image: torch.Tensor, d_params: Params | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        assert self.discriminator is not None
        logits, feats = _call(
            self.discriminator, d_params, image, batch["reference_images"][:, 0], batch["landmark_image"]
        )
        return logits, feats

    # -- losses -------------------------------------------------------------------------------

    def generator_loss(
        self,
        batch: Mapping[str, torch.Tensor],
        output: GeneratorOutput,
        d_params: Params | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total generator loss (eq. 11; attention variant: Sinha et al. eq. 14) and its terms.

        Args:
            batch: a flattened batch (:meth:`flatten_temporal`).
            output: the generator's output for it.
            d_params: substituted discriminator weights (MAML fast weights) or None.

        Returns:
            (scalar total, dict of detached-able scalar terms).
        """
        cfg = self.config.active_loss
        real = batch["image"]
        fake = output.image
        terms: dict[str, torch.Tensor] = {}
        weights = None
        if self.config.variant == "attention":
            weights = region_weights(batch["points"], fake.shape[-1], self.config.attention_loss)
        terms["pix"] = pixel_loss(fake, real, cfg.pixel, weights)
        total = cfg.lambda_pix * terms["pix"]
        feat = torch.zeros((), device=fake.device)
        if self.perceptual is not None:
            terms["vgg1"] = self.perceptual(fake, real)
            feat = feat + cfg.alpha1 * terms["vgg1"]
        if self.discriminator is not None:
            fake_logits, fake_feats = self._discriminate(batch, fake, d_params)
            terms["adv"] = adversarial_g_loss(fake_logits, cfg.adversarial)
            total = total + cfg.lambda_adv * terms["adv"]
            if cfg.alpha2 > 0:
                with torch.no_grad():
                    _, real_feats = self._discriminate(batch, real, d_params)
                terms["fm"] = feature_matching_loss(fake_feats, real_feats)
                feat = feat + cfg.alpha2 * terms["fm"]
        if "vgg1" in terms or "fm" in terms:
            terms["feat"] = feat
            total = total + cfg.lambda_feat * feat
        if self.config.variant == "attention":
            assert output.attention is not None and output.colour is not None
            reg = attention_regularisation(
                output.attention, output.colour, "prev_image" in batch, self.config.attention_loss.lambda_temp
            )
            terms.update(reg)
            total = total + self.config.attention_loss.lambda_reg * reg["reg"]
        terms["total"] = total
        return total, terms

    def discriminator_loss(
        self, batch: Mapping[str, torch.Tensor], fake: torch.Tensor, d_params: Params | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D_T loss (eq. 9 / Sinha et al. eq. 8) on real frames and (detached) generated ones."""
        real_logits, _ = self._discriminate(batch, batch["image"], d_params)
        fake_logits, _ = self._discriminate(batch, fake.detach(), d_params)
        loss = adversarial_d_loss(real_logits, fake_logits, self.config.active_loss.adversarial)
        return loss, {"d": loss, "d_real": real_logits.mean(), "d_fake": fake_logits.mean()}

    # -- training -----------------------------------------------------------------------------

    def _optimizers(self) -> tuple[Any, Any | None]:
        opts = self.optimizers()
        if isinstance(opts, list | tuple):
            return opts[0], opts[1]
        return opts, None

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        """One D_T step (if adversarial) then one G_T step."""
        opt_g, opt_d = self._optimizers()
        flat = self.flatten_temporal(batch)
        output = self.generate(flat)
        logs: dict[str, torch.Tensor] = {}
        if self.discriminator is not None and opt_d is not None:
            d_loss, d_terms = self.discriminator_loss(flat, output.image)
            opt_d.zero_grad()
            self.manual_backward(d_loss)
            opt_d.step()
            logs.update(d_terms)
            self.discriminator.requires_grad_(False)
        g_loss, g_terms = self.generator_loss(flat, output)
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        if self.discriminator is not None:
            self.discriminator.requires_grad_(True)
        logs.update(g_terms)
        logs["psnr"] = batch_psnr(output.image.detach(), flat["image"])
        self.log_losses(logs)

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        """Log the pixel loss and PSNR of G_T on a validation batch."""
        flat = self.flatten_temporal(batch)
        output = self.generate(flat)
        cfg = self.config.active_loss
        self.log_losses(
            {
                "pix": pixel_loss(output.image, flat["image"], cfg.pixel),
                "psnr": batch_psnr(output.image, flat["image"]),
            },
            prefix="val",
            prog_bar=False,
        )

    def sample_batch(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A plain (B, ...) batch from a training batch, for sample grids."""
        return {k: v for k, v in batch.items() if not k.startswith("prev_")}


def batch_psnr(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean PSNR (dB) over a batch of images in [-1, 1] (peak 2), for logging."""
    mse = (fake.clamp(-1, 1) - real).pow(2).flatten(1).mean(dim=1).clamp_min(1e-10)
    return (10.0 * torch.log10(4.0 / mse)).mean()


# ---------------------------------------------------------------------------------------- training


class SampleGrid(L.Callback):
    """Save a PNG grid of training samples every ``every_n_batches`` batches (and at the end).

    Each row: reference image | target landmark image | ground truth | generated (| attention map).
    Files: ``out_dir/samples/step=NNNNNNN.png``. The first training batch (up to ``rows`` samples)
    is kept and reused so that the grids show progress on the same faces.

    Args:
        out_dir: run folder.
        every_n_batches: period in training batches.
        rows: samples per grid.
    """

    def __init__(self, out_dir: str | os.PathLike[str], every_n_batches: int = 200, rows: int = 4) -> None:
        super().__init__()
        self.out_dir = Path(out_dir) / "samples"
        self.every = max(1, every_n_batches)
        self.rows = rows
        self._batch: dict[str, torch.Tensor] | None = None

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Keep the first batch; write a grid every ``every_n_batches`` batches."""
        assert isinstance(pl_module, TextureGAN)
        if self._batch is None:
            flat = pl_module.sample_batch(batch)
            self._batch = {k: v[: self.rows].detach().clone() for k, v in flat.items()}
        step = trainer.global_step // pl_module.optimizer_steps_per_batch
        if trainer.is_global_zero and (step % self.every == 0 or step == 1):
            self.write(pl_module, step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Write a final grid."""
        if trainer.is_global_zero and isinstance(pl_module, TextureGAN):
            self.write(pl_module, trainer.global_step // pl_module.optimizer_steps_per_batch)

    def write(self, module: TextureGAN, step: int) -> Path | None:
        """Render the kept batch with the current generator and save the grid; returns its path."""
        if self._batch is None:
            return None
        import cv2

        was_training = module.training
        module.eval()
        with torch.no_grad():
            batch = {k: v.to(module.device) for k, v in self._batch.items()}
            out = module.generate(batch)
        module.train(was_training)
        cols = [batch["reference_images"][:, 0], batch["landmark_image"], batch["image"], out.image]
        if out.attention is not None:
            cols.append(out.attention.expand(-1, 3, -1, -1) * 2 - 1)
        grid = torch.cat([torch.cat(list(c), dim=1) for c in cols], dim=2)  # (3, rows*S, cols*S)
        image = tensor_to_images(grid)
        path = self.out_dir / f"step={step:07d}.png"
        with atomic_path(path) as tmp:
            cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        return path


def init_config(init: str | os.PathLike[str], **changes: Any) -> TextureConfig:
    """The config of a texture checkpoint or export with some fields changed (for ``train_texture(init=...)``).

    Args:
        init: ``.ckpt`` or exported ``.pt`` of a texture generator.
        changes: :class:`TextureConfig` fields to replace, e.g. ``adversarial=True``.

    Raises:
        InputError: unreadable or not a texture model.
    """
    config = load_module_as(init, TextureGAN, "a texture-generator").config
    return replace(config, **changes)


def load_generator_weights(module: TextureGAN, init: str | os.PathLike[str]) -> None:
    """Copy the generator weights of a texture checkpoint or export into ``module`` (its discriminator is kept).

    Raises:
        InputError: ``init`` is unreadable, not a texture model, or its generator has another architecture.
    """
    source = load_module_as(init, TextureGAN, "a texture-generator")
    try:
        module.generator.load_state_dict(source.generator.state_dict())
    except RuntimeError as exc:
        raise InputError(init, "texture generator of another architecture than the one configured") from exc


def train_texture(
    out_dir: str | os.PathLike[str],
    data_config: Any,
    model_config: TextureConfig | None = None,
    train_config: Any = None,
    sample_every: int = 200,
    callbacks: list[L.Callback] | None = None,
    init: str | os.PathLike[str] | None = None,
) -> Path:
    """Train a texture generator (t-GAN, regression-only G_T or attention variant) with the training core.

    Args:
        out_dir: run folder (checkpoints, ``config.json``, ``metrics.csv``, ``samples/*.png``); resumes
            from ``out_dir/last.ckpt``.
        data_config: a :class:`talkface.texture.data.TextureDataConfig` (dataset roots and sampling).
        model_config: the model (default :class:`TextureConfig`).
        train_config: a :class:`talkface.train.core.TrainConfig` (default: lr 1e-4, batch 8).
        sample_every: write a sample grid every this many batches.
        callbacks: extra Lightning callbacks.
        init: a texture checkpoint or export (e.g. a bundle's ``texture.pt``) whose generator weights
            start the run, to fine-tune it (e.g. with the adversarial loss switched on); its architecture
            must match ``model_config`` (see :func:`init_config`). Ignored when the run resumes.

    Returns:
        Path of ``out_dir/last.ckpt``.

    Raises:
        InputError: ``init`` is unreadable, not a texture model, or of another architecture.
    """
    from talkface.texture.data import TextureDataModule  # lazy: loads cv2

    model_config = model_config or TextureConfig()
    train_config = train_config or TrainConfig(lr=1e-4, batch_size=8)
    torch.manual_seed(train_config.seed)  # same initial weights as meta_train_texture with the same seed
    module = TextureGAN(model_config)
    if init is not None and not (Path(out_dir) / "last.ckpt").is_file():
        load_generator_weights(module, init)
    datamodule = TextureDataModule(data_config, image_size=model_config.image_size)
    extra = [SampleGrid(out_dir, sample_every), *(callbacks or [])]
    return fit(module, datamodule, out_dir, train_config, callbacks=extra)
