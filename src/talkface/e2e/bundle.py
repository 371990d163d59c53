"""The bundled end-to-end generator: which weights ``talkface animate-e2e`` uses, and how they are made.

``talkface animate-e2e face.jpg speech.wav -o out.mp4`` needs no ``--checkpoint``: it uses the
generator shipped in ``talkface/assets/e2e/`` (trained on GRID speaker s1 only, CC BY 4.0; see its
``MODEL_CARD.md``). ``--checkpoint`` overrides it with either

* a training checkpoint of ``talkface train e2e`` (``last.ckpt``, ``step=N.ckpt``: generator and
  discriminators, optimiser states), or
* a stand-alone generator file written by :func:`export_generator` (fp16 inference weights and
  the :class:`~talkface.e2e.temporal_gan.E2EConfig`, a few MB: what is bundled).

``python -m talkface.e2e.bundle RUN/last.ckpt -o generator.pt`` exports one.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from talkface.e2e.config import E2EConfig
from talkface.e2e.networks import Generator
from talkface.e2e.temporal_gan import TemporalGAN
from talkface.errors import InputError
from talkface.io.checkpoint import load_inference_file, save_inference_file
from talkface.train.core import load_module_as

__all__ = ["BUNDLED_GENERATOR", "FORMAT", "export_generator", "is_generator_file", "load_e2e_generator",
           "load_generator"]

FORMAT = "talkface-e2e-generator"
"""``format`` field of a stand-alone generator file."""

BUNDLED_GENERATOR = Path(__file__).resolve().parent.parent / "assets" / "e2e" / "generator.pt"
"""The generator ``animate-e2e`` uses without ``--checkpoint``."""


def is_generator_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a stand-alone generator file (:func:`export_generator`), not a training checkpoint."""
    try:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception:  # a Lightning checkpoint (pickled objects) or not a torch file at all
        return False
    return isinstance(payload, dict) and payload.get("format") == FORMAT


def load_generator(checkpoint: str | os.PathLike[str], device: str | torch.device = "cpu") -> Generator:
    """The generator of a temporal-GAN training checkpoint, in eval mode.

    Args:
        checkpoint: a ``.ckpt`` written by :func:`talkface.e2e.data.train_e2e`.
        device: torch device to put it on.

    Raises:
        InputError: the file is missing, not a checkpoint, or of another model.
    """

    module = load_module_as(checkpoint, TemporalGAN, "an end-to-end temporal GAN", device)
    return module.generator.to(device).eval()


def load_e2e_generator(checkpoint: str | os.PathLike[str] | None = None,
                       device: str | torch.device = "cpu") -> Generator:
    """The temporal-GAN generator to animate with, in eval mode.

    Args:
        checkpoint: a stand-alone generator file or a ``talkface train e2e`` checkpoint; None: the
            bundled generator (:data:`BUNDLED_GENERATOR`).
        device: torch device.

    Raises:
        InputError: the file is missing, unreadable or of another model; no bundled generator in
            this installation.
    """
    if checkpoint is None:
        if not BUNDLED_GENERATOR.is_file():
            raise InputError(BUNDLED_GENERATOR, "no bundled end-to-end generator in this installation; "
                             "give --checkpoint (talkface train e2e)")
        checkpoint = BUNDLED_GENERATOR
    path = Path(checkpoint)
    if not path.is_file():
        raise InputError(path, "checkpoint not found")
    if is_generator_file(path):
        return load_inference_file(path, FORMAT, "end-to-end generator", E2EConfig, Generator, device)

    return load_generator(path, device)


def export_generator(checkpoint: str | os.PathLike[str], dest: str | os.PathLike[str],
                     meta: Mapping[str, Any] | None = None) -> Path:
    """Write the generator of a training checkpoint as a stand-alone fp16 inference file (atomically).

    Args:
        checkpoint: ``talkface train e2e`` checkpoint (or an exported generator file).
        dest: file to write.
        meta: free-form facts stored beside the weights (data, steps, metrics).

    Returns:
        ``dest`` as a path.
    """
    import json

    generator = load_e2e_generator(checkpoint)
    found: dict[str, Any] = {"source": Path(checkpoint).name}
    if not is_generator_file(checkpoint):  # a training checkpoint: its step and its run's config.json
        ckpt = torch.load(Path(checkpoint), map_location="cpu", weights_only=False)
        found["steps"] = int(ckpt.get("global_step", 0)) // 2  # two optimiser steps per batch (G and D)
        run_config = Path(checkpoint).parent / "config.json"
        if run_config.is_file():
            found["training"] = json.loads(run_config.read_text())
    return save_inference_file(generator, FORMAT, dest, meta={**found, **dict(meta or {})})


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m talkface.e2e.bundle CKPT -o FILE``: export a generator file."""
    parser = argparse.ArgumentParser(prog="python -m talkface.e2e.bundle", description=export_generator.__doc__)
    parser.add_argument("checkpoint", help="talkface train e2e checkpoint (last.ckpt, step=N.ckpt)")
    parser.add_argument("-o", "--output", required=True, help="generator file to write (.pt)")
    parser.add_argument("--data", required=True, help="what it was trained on (stored in the file's meta)")
    parser.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="more facts to store")
    args = parser.parse_args(argv)
    meta = dict(m.partition("=")[::2] for m in args.meta)
    try:
        out = export_generator(args.checkpoint, args.output, {"data": args.data, **meta})
    except InputError as exc:
        parser.exit(2, f"talkface: {exc}\n")
    print(f"{out}: {out.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
