"""Model bundles: a folder with ``talkface-model.json`` naming the cascade's trained parts.

A *model bundle* is a folder with ``talkface-model.json`` naming its three files (l-GAN, blink
generator, texture generator: :func:`talkface.train.core.export_module` exports, or training
checkpoints). The default bundle ships inside the package (``talkface/assets/default_model``); see
its ``MODEL_CARD.md``. :func:`make_bundle` builds one from training runs; :func:`load_bundle` loads
one for :class:`talkface.pipeline.Animator`.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from talkface.errors import InputError
from talkface.models import load_blink_net, load_lgan_net, load_texture_net
from talkface.motion.ensemble import is_ensemble_file
from talkface.texture.attention import AttentionGenerator
from talkface.texture.onnx import export_maps

__all__ = ["BUNDLE_FILE", "DEFAULT_MODEL", "ModelBundle", "load_bundle", "make_bundle", "read_bundle_info"]

PathLike = str | os.PathLike[str]

BUNDLE_FILE = "talkface-model.json"
DEFAULT_MODEL = Path(__file__).resolve().parent / "assets" / "default_model"


@dataclass
class ModelBundle:
    """The three trained parts of the cascade.

    Attributes:
        lgan: speech -> canonical landmark motion (:class:`talkface.motion.lgan_net.LGANNet`; with
            ``load_bundle(trainable=True)`` the LightningModule :class:`talkface.motion.lgan.LGAN`).
        blink: blink generator (:class:`talkface.motion.blink_net.BlinkNet` /
            :class:`talkface.motion.blink.BlinkModel`), or None (no blinks).
        texture: texture generator module (:class:`talkface.texture.build.TextureNet` /
            :class:`talkface.texture.tgan.TextureGAN`); None while not loaded (``load_bundle(texture=False)``).
        info: the bundle's ``talkface-model.json``.
        path: the bundle folder.
    """

    lgan: Any
    blink: Any
    texture: Any
    info: dict[str, Any]
    path: Path


def read_bundle_info(folder: Path) -> dict[str, Any]:
    """The checked ``talkface-model.json`` of a bundle folder (it names at least the l-GAN and texture files).

    Raises:
        InputError: no such folder, no or unreadable description, or a required part not named.
    """
    meta_path = folder / BUNDLE_FILE
    if not folder.is_dir():
        raise InputError(folder, "model folder not found")
    if not meta_path.is_file():
        raise InputError(folder, f"not a talkface model bundle (no {BUNDLE_FILE})")
    try:
        info: dict[str, Any] = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(meta_path, f"unreadable model description ({exc.__class__.__name__})") from exc
    for key in ("lgan", "texture"):
        if key not in info:
            raise InputError(meta_path, f"model description names no '{key}' file")
    return info


def load_bundle(path: PathLike | None = None, device: str | torch.device = "cpu", *,
                trainable: bool = False, texture: bool = True) -> ModelBundle:
    """Load a model bundle (default: the one shipped in the package).

    Args:
        path: bundle folder (None: the shipped one).
        device: device of the models.
        trainable: load the training LightningModules (to fine-tune, e.g. ``adapt``) instead of the
            plain inference networks (:mod:`talkface.models`; no Lightning import).
        texture: load the texture generator now; False leaves ``texture`` None until
            :func:`load_bundle_texture` (the native renderer's painted mouth never uses it).

    Raises:
        InputError: the folder, its ``talkface-model.json`` or one of its files is missing or unreadable.
    """
    folder = Path(path) if path is not None else DEFAULT_MODEL
    info = read_bundle_info(folder)
    lgan = load_lgan_net(folder / info["lgan"], device, trainable=trainable)
    blink = load_blink_net(folder / info["blink"], device, trainable=trainable) if info.get("blink") else None
    net = load_texture_net(folder / info["texture"], device, trainable=trainable) if texture else None
    return ModelBundle(lgan=lgan, blink=blink, texture=net, info=info, path=folder)


def load_bundle_texture(bundle: ModelBundle, device: str | torch.device = "cpu") -> Any:
    """The bundle's texture generator (inference network), loaded now if :func:`load_bundle` left it out.

    Raises:
        InputError: its file is missing, unreadable or not a texture model.
    """
    if bundle.texture is None:
        bundle.texture = load_texture_net(bundle.path / bundle.info["texture"], device)
    return bundle.texture


def make_bundle(
    out_dir: PathLike,
    lgan: PathLike,
    texture: PathLike,
    blink: PathLike | None = None,
    *,
    name: str = "talkface",
    half: bool = True,
    extra: dict[str, Any] | None = None,
    card: PathLike | None = None,
    stream_motion: PathLike | None = None,
) -> Path:
    """Export training checkpoints into a model bundle folder (fp16 weights, no optimiser state).

    Args:
        out_dir: bundle folder to create (replaced if it exists).
        lgan: l-GAN checkpoint (``talkface train motion``), or a motion ensemble file
            (:mod:`talkface.motion.ensemble`, copied as it is).
        texture: texture checkpoint (``talkface train texture``).
        blink: blink-generator checkpoint (``talkface train blink``), optional.
        name: model name recorded in the description.
        half: store weights as float16 (half the size; outputs differ by < 1/255 on the pixels).
        extra: more facts to record in ``talkface-model.json`` (data, metrics, licence).
        card: a Markdown model card to copy into the bundle as ``MODEL_CARD.md``.
        stream_motion: streaming motion checkpoint (:mod:`talkface.live.train`), optional (live mode).

    Returns:
        ``out_dir``.
    """
    from talkface.train.core import export_module, load_module  # lazy: loads lightning, matplotlib

    out = Path(out_dir)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    dtype = torch.float16 if half else torch.float32
    info: dict[str, Any] = {"format": 1, "name": name}
    try:
        for key, src in (("lgan", lgan), ("blink", blink), ("texture", texture),
                         ("stream_motion", stream_motion)):
            if src is None:
                continue
            if key == "lgan" and is_ensemble_file(src):  # already an inference file (talkface.motion.ensemble)
                shutil.copyfile(src, tmp / f"{key}.pt")
            else:
                export_module(src, tmp / f"{key}.pt", dtype=dtype)
            info[key] = f"{key}.pt"
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a refused checkpoint leaves nothing behind
        raise

    texture_module = load_module(tmp / "texture.pt")
    if isinstance(texture_module.generator, AttentionGenerator):
        try:
            export_maps(texture_module.generator, tmp / "texture_maps.onnx")
            info["texture_onnx"] = "texture_maps.onnx"
        except ImportError:  # the onnx package (extra 'dev') is needed to export, not to run
            info["texture_onnx"] = None
    info.update(extra or {})
    if card is not None:
        shutil.copyfile(card, tmp / "MODEL_CARD.md")
    (tmp / BUNDLE_FILE).write_text(json.dumps(info, indent=2) + "\n")
    load_bundle(tmp)  # refuse to install a bundle that does not load
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
