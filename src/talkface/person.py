"""Person models: the texture generator fine-tuned on a few frames of one person (``talkface adapt``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from talkface.bundle import load_bundle, read_bundle_info
from talkface.config_checks import check_output_file, check_value
from talkface.errors import InputError

__all__ = ["IMAGE_SUFFIXES", "adapt_person"]

PathLike = str | os.PathLike[str]
ProgressFn = Callable[[str, float], None]  # as :data:`talkface.pipeline.ProgressFn`


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def adapt_person(
    inputs: list[PathLike],
    output: PathLike,
    *,
    model: PathLike | None = None,
    frames: int = 20,
    steps: int = 40,
    lr: float = 1e-4,
    seed: int = 0,
    threads: int | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Fine-tune the texture generator on K frames of one person (Das et al. Sec. 3.5, few-shot adaptation).

    Args:
        inputs: one video of the person (K frames are taken evenly spaced), or K photos of the person.
        output: person model file to write (``.pt``, atomically); use it with ``AnimateConfig.person``.
        model: model bundle (default: the bundled one).
        frames: K, frames taken from a video.
        steps: fine-tuning steps (batches of 4 frames).
        lr: Adam learning rate.
        seed: seed of the batch order.
        threads: torch CPU threads.
        progress: called with ("adapt", fraction).

    Returns:
        Facts: ``K``, ``steps``, ``seconds`` (fine-tuning only), ``loss_first``, ``loss_last``.

    Raises:
        InputError: unreadable input, no face, several faces.
    """
    from talkface.io.images import read_image  # lazy: loads PIL
    from talkface.io.media import read_video  # lazy: loads av
    from talkface.texture.adapt import (  # lazy: loads lightning, cv2
        AdaptConfig,
        adapt,
        person_frames_from_photos,
        person_frames_from_video,
        save_person_model,
    )

    if not inputs:
        raise ValueError("adapt_person needs a video or photos")
    for name, value in (("frames", frames), ("steps", steps), ("lr", lr), ("seed", seed), ("threads", threads)):
        if value is not None:
            check_value(name, value)
    for src in inputs:
        if not Path(src).is_file():
            raise InputError(src, "is a folder, not a video or photo" if Path(src).is_dir() else "no such file")
    out = check_output_file(output, suffixes=(".pt", ".pth"), kind="person model file", inputs=inputs)
    if model is not None:
        read_bundle_info(Path(model))
    if threads:
        torch.set_num_threads(threads)
    bundle = load_bundle(model, trainable=True)  # fine-tunes the texture generator
    size = int(bundle.texture.config.image_size)
    paths = [Path(x) for x in inputs]
    if len(paths) == 1 and paths[0].suffix.lower() not in IMAGE_SUFFIXES:
        video, _ = read_video(paths[0])
        crops, points = person_frames_from_video(video, size, frames, path=paths[0])
    else:
        crops, points = person_frames_from_photos([read_image(x) for x in paths], size, paths)
    losses: list[float] = []

    def callback(step: int, person: Any, logs: dict[str, float]) -> None:
        if logs:
            losses.append(float(logs.get("total", logs.get("pix", 0.0))))
        if progress:
            progress("adapt", step / max(1, steps))

    # bundles ship generators only (export_module drops D_T), so fine-tuning uses the pixel losses
    config = AdaptConfig(steps=steps, lr=lr, seed=seed, adversarial=False, num_threads=threads)
    person = adapt(bundle.texture, crops, points, config, callback=callback)
    save_person_model(out, person)
    return {"K": len(crops), "steps": steps, "seconds": float(person.info.get("seconds", 0.0)),
            "loss_first": losses[0] if losses else float("nan"), "loss_last": losses[-1] if losses else float("nan")}
