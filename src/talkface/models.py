"""Loading trained models for inference: plain ``nn.Module`` networks, without Lightning.

Checkpoints and bundle exports are written by the training LightningModules
(:class:`~talkface.motion.lgan.LGAN`, :class:`~talkface.motion.blink.BlinkModel`,
:class:`~talkface.texture.tgan.TextureGAN`); inference needs only their networks, which live in
modules of their own (:mod:`talkface.motion.lgan_net`, :mod:`talkface.motion.blink_net`,
:mod:`talkface.texture.build`) with the same state-dict keys and the same inference methods. Loading
those keeps Lightning (and the training code) off the start-up path of ``talkface animate``.

A checkpoint of another class (e.g. a subclass used in research) is loaded the training way, which
also gives the error for a file of the wrong model.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from talkface.errors import InputError
from talkface.io.checkpoint import load_network
from talkface.motion.blink_net import BlinkConfig, BlinkNet
from talkface.motion.ensemble import is_ensemble_file, load_ensemble
from talkface.motion.lgan_net import LGANConfig, LGANNet
from talkface.texture.build import TextureNet
from talkface.texture.networks import TextureConfig

__all__ = ["load_blink_net", "load_lgan_net", "load_texture_net"]

PathLike = str | os.PathLike[str]


def load_lgan_net(path: PathLike, map_location: str | torch.device = "cpu", *, trainable: bool = False) -> Any:
    """An l-GAN for inference (:class:`LGANNet`), or the LightningModule with ``trainable``.

    A motion-model ensemble file (:mod:`talkface.motion.ensemble`) loads as an
    :class:`~talkface.motion.ensemble.LGANEnsemble`, also with ``trainable`` (it is never fine-tuned).

    Raises:
        InputError: the file is missing, unreadable or not an l-GAN.
    """
    try:
        net = None if trainable else load_network(path, ("talkface.motion.lgan:LGAN",), LGANConfig, LGANNet,
                                                  "an l-GAN", map_location)
    except InputError:
        if is_ensemble_file(path):  # checked only when the file is no checkpoint: no cost for those
            return load_ensemble(path, map_location)
        raise
    if net is not None:
        return net
    if is_ensemble_file(path):  # with ``trainable`` too: an ensemble is not fine-tuned (adapt trains the texture)
        return load_ensemble(path, map_location)
    from talkface.motion.lgan import load_lgan  # lazy: loads lightning, matplotlib

    return load_lgan(path, map_location)


def load_blink_net(path: PathLike, map_location: str | torch.device = "cpu", *, trainable: bool = False) -> Any:
    """A blink generator for inference (:class:`BlinkNet`), or the LightningModule with ``trainable``.

    Raises:
        InputError: the file is missing, unreadable or not a blink model.
    """
    if not trainable:
        net = load_network(path, ("talkface.motion.blink:BlinkModel",), BlinkConfig, BlinkNet, "a blink-generator",
                           map_location)
        if net is not None:
            return net
    from talkface.motion.blink import load_blink  # lazy: loads lightning, matplotlib

    return load_blink(path, map_location)


def load_texture_net(path: PathLike, map_location: str | torch.device = "cpu", *, trainable: bool = False) -> Any:
    """A texture generator for inference (:class:`TextureNet`), or the LightningModule with ``trainable``.

    Raises:
        InputError: the file is missing, unreadable or not a texture model.
    """
    if not trainable:
        net = load_network(path, ("talkface.texture.tgan:TextureGAN",), TextureConfig, TextureNet,
                           "a texture-generator", map_location)
        if net is not None:
            return net
    from talkface.texture.tgan import TextureGAN  # lazy: loads lightning, matplotlib
    from talkface.train.core import load_module_as  # lazy: loads lightning, matplotlib

    return load_module_as(path, TextureGAN, "a texture-generator", map_location)
