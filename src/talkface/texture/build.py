"""Building the texture stage's networks from their config, and the plain inference model.

:func:`build_generator` / :func:`build_discriminator` pick the t-GAN or the attention variant from
``TextureConfig.variant``; :class:`TextureNet` is a trained texture model for inference (the
generator only, same state-dict keys as the LightningModule :class:`talkface.texture.tgan.TextureGAN`),
so loading a bundle never imports Lightning.
"""

from __future__ import annotations

from torch import nn

from talkface.texture.attention import AttentionGenerator, PatchDiscriminator
from talkface.texture.networks import TextureConfig, TextureDiscriminator, TextureGenerator

__all__ = ["TextureNet", "build_discriminator", "build_generator"]


def build_generator(config: TextureConfig) -> nn.Module:
    """The generator of ``config.variant`` (:class:`TextureGenerator` or the attention generator)."""
    if config.variant == "attention":
        return AttentionGenerator(config)
    return TextureGenerator(config)


def build_discriminator(config: TextureConfig) -> nn.Module:
    """D_T for ``"adain"``; the PatchGAN discriminator for ``"attention"``."""
    if config.variant == "attention":
        return PatchDiscriminator(config)
    return TextureDiscriminator(config)



class TextureNet(nn.Module):
    """The generator of a trained texture model, for inference (no discriminator, no Lightning).

    Args:
        config: the model's :class:`~talkface.texture.networks.TextureConfig`.
    """

    def __init__(self, config: TextureConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = build_generator(config)
