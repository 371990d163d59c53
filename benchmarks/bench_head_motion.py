"""Cost of the head/brow prior and the mouth normalisation next to the motion model, on 10 minutes of speech.

    python3 benchmarks/bench_head_motion.py [seconds]

Speech: a GRID test fixture repeated; times are the median of 3 runs on one thread. "mouth
normalisation" is the gain about the neutral face (``mouth_request="neutral"``), "centred normalisation"
the default one about the speech mean posture (:func:`talkface.motion.amplitude.centred_motion`), "corner posture"
the default request's step after it (:func:`talkface.motion.amplitude.photo_corners`). "G_L prediction" is
:func:`talkface.motion.render.predict_canonical_landmarks` without its normalisation, as ``animate``
predicts (an ensemble's pause gate and the per-frame loudness it reads included).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from talkface.audio.features import get_extractor, num_video_frames
from talkface.audio.windows import audio_rms_per_frame
from talkface.face.align import Similarity, canonical_face
from talkface.io.media import read_audio
from talkface.models import load_lgan_net as load_lgan
from talkface.motion.amplitude import amplitude_gain, centred_motion, photo_corners, speech_presence
from talkface.motion.head import apply_head_motion, generate_head_motion
from talkface.motion.render import predict_canonical_landmarks
from talkface.motion.retarget import retarget
from talkface.pipeline import DEFAULT_MODEL


def timed(fn, runs: int = 3) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    out, times = None, []
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def main() -> None:
    torch.set_num_threads(1)
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
    clip = read_audio(Path(__file__).parent.parent / "tests" / "fixtures" / "bbaf2n.mpg")
    audio = np.tile(clip, int(np.ceil(seconds * 16000 / len(clip))))[: int(seconds * 16000)]
    lgan = load_lgan(DEFAULT_MODEL / "lgan.pt")
    fps = float(lgan.config.fps)
    frames = num_video_frames(len(audio), 16000, fps)
    features = get_extractor(lgan.config.feature_name)(audio, frames, fps)
    person = Similarity.from_params(80.0, 0.0, (320.0, 240.0)).apply(canonical_face())
    t_lgan, canonical = timed(lambda: predict_canonical_landmarks(audio, lgan, features=features,
                                                                  normalise_mouth=False))
    t_gain, _ = timed(lambda: amplitude_gain(canonical))  # type: ignore[arg-type]
    neutral = lgan.canonical_neutral.numpy()
    speech = speech_presence(audio_rms_per_frame(audio, frames, fps))
    t_centred, _ = timed(lambda: centred_motion(canonical, neutral, speech))  # type: ignore[arg-type]
    t_corners, _ = timed(lambda: photo_corners(canonical, neutral, speech))  # type: ignore[arg-type]
    landmarks = retarget(canonical, neutral, person)  # type: ignore[arg-type]
    t_gen, motion = timed(lambda: generate_head_motion(audio, frames, fps, seed=0))
    t_apply, _ = timed(lambda: apply_head_motion(landmarks, person, neutral, motion))  # type: ignore[arg-type]
    print(f"{seconds:g} s of speech, {frames} frames (features extracted beforehand)")
    for name, t in (("G_L prediction", t_lgan), ("mouth normalisation", t_gain),
                    ("centred normalisation", t_centred), ("corner posture", t_corners), ("head prior", t_gen),
                    ("apply head pose", t_apply)):
        print(f"{name:22s} {t:7.3f} s  {frames / t:10.0f} frames/s  ({t / t_lgan:.2f} x G_L)")


if __name__ == "__main__":
    main()
