"""ONNX export of the attention generator's map network, run with onnxruntime on the CPU.

The attention generator (:class:`talkface.texture.attention.AttentionGenerator`) spends nearly all its
time in :meth:`~talkface.texture.attention.AttentionGenerator.maps` (landmark encoder + encoder-decoder);
the thin-plate warp, resizing and composition around it are cheap and stay in torch. On a CPU,
onnxruntime runs the map network about 1.5x faster than eager PyTorch (BENCHMARKS.md), so a model
bundle carries an ONNX copy of it and :class:`talkface.pipeline.Animator` uses it when onnxruntime is
installed (``AnimateConfig.backend``).

Exporting needs the ``onnx`` package (extra ``dev``); running needs ``onnxruntime`` (a dependency).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from talkface.io.atomic import atomic_path

__all__ = ["OnnxMaps", "export_maps", "onnx_available"]

_INPUTS = ("landmark_image", "identity_image", "identity_landmark_image")


def onnx_available() -> bool:
    """Whether onnxruntime can be imported (the ONNX backend can run)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class _MapsOnly(nn.Module):
    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, landmark_image: torch.Tensor, identity: torch.Tensor, identity_lm: torch.Tensor) -> Any:
        maps = cast(Any, self.generator).maps
        return maps(landmark_image, identity, identity_lm)


def export_maps(generator: nn.Module, path: str | os.PathLike[str], opset: int = 17) -> Path:
    """Export ``generator.maps`` (an attention generator) to ONNX with a dynamic batch axis.

    The generator is copied and the copy's spectral-norm parametrisations are folded into plain weights
    (inference gives identical outputs), so the export is a plain convolutional graph.

    Args:
        generator: an :class:`~talkface.texture.attention.AttentionGenerator` (eval mode).
        path: ``.onnx`` file to write (atomically).
        opset: ONNX opset.

    Returns:
        ``path``.
    """
    from torch.nn.utils import parametrize

    from talkface.texture.tgan import build_generator  # lazy: loads lightning, matplotlib

    if not hasattr(generator, "maps") or not hasattr(generator, "map_size"):
        raise TypeError(f"only attention generators have a map network, got {type(generator).__name__}")
    # a fresh copy (deepcopy of parametrised modules does not survive removing the parametrisation)
    work = build_generator(generator.config)  # type: ignore[arg-type]
    work.load_state_dict({k: v.detach().cpu().float() for k, v in generator.state_dict().items()})
    work.eval()
    for module in list(work.modules()):
        if parametrize.is_parametrized(module):
            for name in list(cast(Any, module).parametrizations.keys()):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    size = int(cast(int, generator.map_size))
    example = tuple(torch.rand(2, 3, size, size) * 2 - 1 for _ in _INPUTS)
    axes = {name: {0: "batch"} for name in (*_INPUTS, "attention", "colour")}
    with atomic_path(path) as tmp, torch.no_grad():
        torch.onnx.export(
            _MapsOnly(work), example, str(tmp), input_names=list(_INPUTS), output_names=["attention", "colour"],
            dynamic_axes=axes, opset_version=opset, dynamo=False,
        )
    return Path(path)


class OnnxMaps:
    """``maps(landmark_image, identity_image, identity_landmark_image) -> (attention, colour)`` via onnxruntime.

    Drop-in for :meth:`AttentionGenerator.maps` (set ``generator.maps_backend = OnnxMaps(path)``):
    takes and returns torch tensors on the CPU.

    Args:
        path: the ``.onnx`` file from :func:`export_maps`.
        threads: intra-op threads (None: torch's current thread count).
    """

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(
        self, landmark_image: torch.Tensor, identity_image: torch.Tensor, identity_landmark_image: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        feeds = {
            name: np.ascontiguousarray(t.detach().cpu().float().numpy())
            for name, t in zip(_INPUTS, (landmark_image, identity_image, identity_landmark_image), strict=True)
        }
        attention, colour = self.session.run(None, feeds)
        return torch.from_numpy(attention), torch.from_numpy(colour)
