"""Reading talkface checkpoints without Lightning: the checkpoint dict, configs, plain networks.

Training (:mod:`talkface.train.core`) writes checkpoints of LightningModules; inference rebuilds only
the plain ``nn.Module`` networks from them (:func:`load_network`), so loading a model bundle never
imports Lightning (a second or more of start-up).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import torch
from torch import nn

from talkface.errors import InputError
from talkface.io.atomic import save_torch

__all__ = ["EXPORT_KEY", "MODULE_CLASS_KEY", "dataclass_from_dict", "load_network", "read_checkpoint"]

MODULE_CLASS_KEY = "talkface_module_class"
EXPORT_KEY = "talkface_export"

T = TypeVar("T")
N = TypeVar("N", bound=nn.Module)


def dataclass_from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Rebuild a (possibly nested) config dataclass from :func:`dataclasses.asdict` output.

    Lists are turned back into tuples where the field is a tuple, nested dataclass fields are rebuilt
    recursively, and keys the dataclass does not know are ignored (older checkpoints stay loadable).

    Args:
        cls: the dataclass type.
        data: a mapping as written by ``asdict`` (e.g. read back from JSON or a checkpoint).

    Returns:
        An instance of ``cls``.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _convert(hints.get(f.name, Any), data[f.name])
    return cls(**kwargs)


def _convert(tp: Any, value: Any) -> Any:
    """Convert a JSON-ish ``value`` to the annotated type ``tp`` where that is unambiguous."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is not type(None) and (
                (dataclasses.is_dataclass(arg) and isinstance(value, Mapping))
                or (typing.get_origin(arg) is tuple and isinstance(value, list | tuple))
            ):
                return _convert(arg, value)
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        return dataclass_from_dict(tp, value)
    if origin is tuple and isinstance(value, list | tuple):
        return tuple(value)
    return value


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint file written by :func:`fit` (a dict with ``state_dict``, ``hyper_parameters``, ...)."""

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint not found")
    try:
        # weights only: tensors and plain data; a pickle that would import or run code is refused
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the file is not a checkpoint
        raise InputError(path, f"not a readable checkpoint ({exc.__class__.__name__})") from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or MODULE_CLASS_KEY not in ckpt:
        raise InputError(path, "not a talkface training checkpoint")
    return cast(dict[str, Any], ckpt)


def load_network(
    path: str | os.PathLike[str],
    module_classes: Sequence[str],
    config_class: type[T],
    build: Callable[[T], N],
    what: str,
    map_location: str | torch.device = "cpu",
    drop: Sequence[str] = ("discriminator.", "perceptual."),
) -> N | None:
    """The inference network of a checkpoint or export, built by ``build(config)`` (eval mode).

    The checkpoint's weights load into the network by name; the training-only parts named by ``drop``
    (discriminators, loss networks) are skipped, and weights stored in reduced precision are cast to
    the network's dtype, exactly as :func:`talkface.train.core.load_module` does.

    Args:
        path: a ``.ckpt`` or an export (``.pt`` of a bundle).
        module_classes: the ``module:qualname`` LightningModule classes whose checkpoints this network
            reads.
        config_class: the model's config dataclass.
        build: config -> the plain network.
        what: the model's name with its article, for the error, e.g. ``"an l-GAN"``.
        map_location: device to load the tensors onto.
        drop: state-dict key prefixes that are not part of the network.

    Returns:
        The network, or None when the checkpoint holds another class (the caller then loads it the
        training way, which also gives the error for a wrong model).

    Raises:
        InputError: missing/unreadable file, or weights that do not fit the network.
    """

    ckpt = read_checkpoint(path, map_location)
    if str(ckpt[MODULE_CLASS_KEY]) not in module_classes:
        return None
    stored = ckpt.get("hyper_parameters", {}).get("config")
    config = dataclass_from_dict(config_class, stored) if stored is not None else config_class()
    network = build(config)
    reference = network.state_dict()
    skip = tuple(drop)
    state = {k: v.to(reference[k].dtype) if k in reference else v for k, v in ckpt["state_dict"].items()
             if not k.startswith(skip)}
    result = network.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise InputError(path, f"weights do not match {what} ({len(result.missing_keys)} missing, "
                         f"{len(result.unexpected_keys)} unexpected tensors)")
    return cast(N, network.eval())


def save_inference_file(model: nn.Module, fmt: str, dest: str | os.PathLike[str],
                        meta: Mapping[str, Any] | None = None) -> Path:
    """Write a small stand-alone inference file, atomically: fp16 weights, ``model.config`` and ``meta``.

    Read back with :func:`load_inference_file` and the same ``fmt`` (e.g. ``"talkface-syncnet"``).
    """

    state = {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu())
             for k, v in model.state_dict().items()}
    config = dataclasses.asdict(cast(Any, model).config)
    payload = {"format": fmt, "version": 1, "config": config, "state_dict": state, "meta": dict(meta or {})}
    return save_torch(payload, dest)


def load_inference_file(path: str | os.PathLike[str], fmt: str, what: str, config_class: type[T],
                        build: Callable[[T], N], device: str | torch.device = "cpu") -> N:
    """Load a file of :func:`save_inference_file`: ``build(config)`` with the weights, fp32, eval mode.

    Args:
        path: the file.
        fmt: its expected ``format`` field.
        what: the model's name for errors, e.g. ``"sync model"``.
        config_class: the config dataclass (keys it does not know are ignored; lists become tuples).
        build: config -> the network.
        device: where to put it.

    Raises:
        InputError: the file is missing, unreadable or of another format.
    """

    p = Path(path)
    if not p.is_file():
        raise InputError(p, f"{what} not found")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling failure: not our file
        raise InputError(p, f"not a readable {what} ({exc.__class__.__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise InputError(p, f"not a talkface {what}")
    known = {f.name for f in dataclasses.fields(cast(Any, config_class))}
    stored: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in dict(payload["config"]).items() if k in known
    }
    model = build(config_class(**stored))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
    return model.to(device).eval()
