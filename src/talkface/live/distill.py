"""Distillation targets for the streaming motion model: the offline motion model's output on speech.

The streaming model (:mod:`talkface.live.model`) learns to reproduce, from causal log-mel frames
with a short look-ahead, what the offline l-GAN generator predicts from Whisper features of the
whole utterance. Its targets therefore need no landmarks, only speech: every file of a corpus is
decoded to 16 kHz mono, its offline motion computed once with the bundle's l-GAN
(:func:`talkface.motion.render.predict_canonical_landmarks` without blinks), and both are stored in
one ``.npz`` per file:

======================  =====================  ===============================================
key                     shape, dtype           meaning
======================  =====================  ===============================================
``audio``               (N,) int16             speech, 16 kHz, cut/padded to T / fps seconds
``motion``              (T, 46, 2) float32     teacher displacement of the speech points
                                               (:data:`talkface.motion.lgan.SPEECH_POINTS`)
                                               from the canonical neutral face, canonical units
``fps``                 () float64             video frame rate of ``motion``
======================  =====================  ===============================================

Building is resumable: files already present are skipped; each ``.npz`` is written atomically.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from talkface.audio.features import get_extractor, num_video_frames
from talkface.errors import InputError
from talkface.io.atomic import atomic_path

__all__ = ["build_distillation_set", "list_distillation_set"]

SAMPLE_RATE = 16000


def list_distillation_set(folder: str | os.PathLike[str]) -> list[Path]:
    """The finished ``.npz`` files of a distillation folder, sorted."""
    return sorted(Path(folder).glob("*.npz"))


def build_distillation_set(
    sources: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    threads: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Decode each speech file, compute the offline motion model's output, store both.

    Args:
        sources: speech files (any format :func:`talkface.io.media.read_audio` reads, videos too).
        out_dir: folder of ``<stem>.npz`` files (created).
        model: model bundle whose l-GAN is the teacher (default: the shipped one).
        threads: torch and Whisper threads.
        progress: print one line per 50 files.

    Returns:
        ``{"written", "skipped", "failed"}`` counts.
    """
    import torch

    from talkface.io.media import read_audio  # lazy: loads av
    from talkface.motion.lgan import SPEECH_POINTS  # lazy: loads lightning, torch
    from talkface.motion.render import predict_canonical_landmarks  # lazy: loads torch, cv2
    from talkface.pipeline import load_bundle  # lazy: loads torch

    torch.set_num_threads(max(1, threads))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle(model)
    lgan = bundle.lgan.eval()
    fps = float(lgan.config.fps)
    extractor = get_extractor(lgan.config.feature_name, threads=threads) if lgan.config.feature_name.startswith(
        "whisper") else get_extractor(lgan.config.feature_name)
    neutral = lgan.canonical_neutral.cpu().numpy()
    counts = {"written": 0, "skipped": 0, "failed": 0}
    files = [Path(s) for s in sources]
    for i, src in enumerate(files):
        dest = out / f"{src.stem}.npz"
        if dest.exists():
            counts["skipped"] += 1
            continue
        try:
            audio = read_audio(src, sample_rate=SAMPLE_RATE, max_duration_s=60.0)
        except InputError as exc:
            print(f"skip {exc}", file=sys.stderr)
            counts["failed"] += 1
            continue
        frames = num_video_frames(len(audio), SAMPLE_RATE, fps)
        want = int(round(frames / fps * SAMPLE_RATE))
        audio = audio[:want] if len(audio) >= want else np.pad(audio, (0, want - len(audio)))
        canonical = predict_canonical_landmarks(audio, lgan, None, extractor=extractor)
        motion = (canonical - neutral)[:, list(SPEECH_POINTS)].astype(np.float32)
        pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
        with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, audio=pcm, motion=motion, fps=np.float64(fps))
        counts["written"] += 1
        if progress and (i + 1) % 50 == 0:
            print(f"{i + 1}/{len(files)} {counts}", flush=True)
    return counts


def main(argv: list[str] | None = None) -> int:
    """``python -m talkface.live.distill OUT_DIR FILE...`` (or a folder of files)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out_dir")
    parser.add_argument("inputs", nargs="+", help="speech/video files or folders of them")
    parser.add_argument("--model", default=None, help="model bundle folder (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    files: list[Path] = []
    for item in args.inputs:
        p = Path(item)
        if p.is_dir():
            files += sorted(x for x in p.rglob("*") if x.suffix.lower() in (".mp4", ".mpg", ".wav", ".flac"))
        else:
            files.append(p)
    print(build_distillation_set(files, args.out_dir, model=args.model, threads=args.threads))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
