"""The live stream's mouth request against the real track and against ``animate``'s (docs/live.md).

For every 25-fps clip of prepared datasets (the ``whisper-tiny.en+hama`` copies in ``/work/scratch/mot15/``, so
that the offline request reads the shipped ensemble's feature; the stream reads the clip's audio): the clip's
first frame is the photo (its prepared ``landmarks[0]``) and its own speech drives

* ``still``: frame 0 repeated;
* ``offline``: the request as ``talkface animate`` makes it (:func:`talkface.motion.render.predict_landmarks`,
  the default ``mouth_request="centred"``);
* ``live (neutral)`` / ``live (centred)``: :class:`talkface.live.stream.FaceStream` fed in 640-sample chunks
  (40 ms, a microphone's), its renderer replaced by the identity, with ``AnimateConfig.mouth_request`` =
  ``neutral`` (the live request before it followed the offline one) / ``centred``; ``live raw``: the
  stream without the mouth normalisation (``--raw-mouth``; an open photo closed to the model's rest gap);

all with head motion 0 (``--head-motion``: another strength), AnimateConfig's blink rate, seed 0. Each row is
scored as :mod:`lmd_decomposition` scores the offline request (its ``describe``: LMD of the 20 mouth points in
the 128-px aligned crop, static bias and dynamics, opening std / mean over the real one's, correlation);
``vs offline`` is the LMD between the row and the offline request (0 = the same mouth), ``vs law`` the LMD to
the ``stream model, whole-utterance centred`` row.

``stream model, whole-utterance centred`` (head motion 0 only): the streaming model's motion with the offline,
non-causal centred request (its utterance's mean and gain), no blinks: how far the causal estimate is from the law.

``--calibrate PATH[:SPLIT]`` instead prints the streaming model's whole-utterance opening moments (the warm-up
prior :data:`talkface.live.online_motion.CENTRED_PRIOR`) and checks the online gain law (a quadratic in the
first-order opening) against the offline bisection (:func:`talkface.motion.amplitude.centred_motion`) on the
same tracks.

Usage::

    python3 benchmarks/live_mouth_request.py /work/scratch/mot15/grid6_mix /work/scratch/mot15/wild_mix
    python3 benchmarks/live_mouth_request.py --calibrate /work/scratch/mot15/grid_s1_mix:train --max-clips 40
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lmd_decomposition import aligned, describe, lmd  # the sibling script (benchmarks/ is on sys.path when run)

from talkface.audio.windows import audio_rms_per_frame
from talkface.data.dataset import Clip, PreparedDataset
from talkface.face.geometry import SPEECH_POINTS, mouth_opening
from talkface.motion.amplitude import MOUTH_REQUESTS, TARGET_OPENING_STD, centred_motion, speech_presence
from talkface.motion.render import predict_landmarks
from talkface.pipeline import AnimateConfig, Animator

COLUMNS = ["LMD", "bias", "dyn", "open std", "open mean", "corr", "vs offline", "vs law"]
MEDIAN = {"open std", "open mean"}


def live_request(animator: Animator, photo: np.ndarray, audio: np.ndarray, request: str, head_motion: float,
                 chunk: int = 640, normalise_mouth: bool = True, law: dict[str, Any] | None = None) -> np.ndarray:
    """The live stream's landmarks for one photo (its landmarks) and speech, with ``mouth_request=request``."""
    from talkface.live.stream import FaceStream

    config = animator.config
    animator.config = dataclasses.replace(config, mouth_request=request)
    animator._face = lambda image, where: photo  # type: ignore[method-assign]
    try:
        face = FaceStream(animator, np.zeros((128, 128, 3), np.uint8), head_motion=head_motion,
                          normalise_mouth=normalise_mouth, renderer=lambda *a: lambda lm: list(lm))
        if law is not None:  # another time constant / prior weight / mean cap of the running estimate
            from talkface.live.online_motion import OnlineCentredMouth, corner_share

            law = dict(law)
            if law.get("mean_cap"):  # the mean-opening cap about the model's rest opening, as FaceStream sets it
                law["rest_opening"] = float(mouth_opening(face.canonical_neutral[None].astype(np.float64))[0])
            face.mouth_gain = OnlineCentredMouth(fps=face.fps, corners=corner_share(
                face.canonical_neutral, face.request.corner_posture), **law)
        frames = []
        for i in range(0, len(audio), chunk):
            frames += face.push(audio[i:i + chunk])
        frames += face.finish()
    finally:
        animator.config = config
        del animator._face
    return np.stack([f for _, f in frames]).astype(np.float64)


def stream_oracle(animator: Animator, photo: np.ndarray, clip: Clip) -> np.ndarray:
    """The streaming model's motion with the offline, non-causal centred request (whole-utterance mean and gain,
    :func:`talkface.motion.amplitude.centred_motion`), retargeted onto the photo closed to the rest gap; no
    blinks, head motion 0: what a perfect causal estimate of the offline law would give."""
    from talkface.live.stream import load_stream_model
    from talkface.motion.amplitude import MouthRequest, photo_corners
    from talkface.motion.retarget import close_mouth, mouth_is_open, retarget

    model = load_stream_model(animator)
    neutral = model.canonical_neutral.cpu().numpy().astype(np.float64)
    canonical = np.asarray(model.predict_canonical(clip.audio), np.float64)
    speech = speech_presence(audio_rms_per_frame(clip.audio, len(canonical), clip.fps))
    canonical, _ = centred_motion(canonical, neutral, speech)
    canonical = photo_corners(canonical, neutral, speech, MouthRequest().corner_posture)
    rest = close_mouth(photo, MouthRequest().rest_opening(neutral)) if mouth_is_open(photo) else photo
    return retarget(canonical, neutral, rest).astype(np.float64)


def rows_of_clip(animator: Animator, clip: Clip, head_motion: float,
                 laws: list[tuple[float, float, float, float]] = ()) -> dict[str, dict[str, float]]:  # type: ignore[assignment]
    """The scores of every row of one clip."""
    bundle = animator.bundle
    real = np.asarray(clip.landmarks, np.float64)
    photo = real[0]
    offline = predict_landmarks(np.zeros((8, 8, 3), np.uint8), clip.audio, bundle.lgan, bundle.blink, seed=0,
                                person_landmarks=photo, features=np.asarray(clip.features, np.float32),
                                blink_rate=animator.config.blink_rate, head_motion=head_motion)
    made = {"still": np.repeat(photo[None], len(real), 0), "offline": offline}
    for name in MOUTH_REQUESTS:
        made[f"live ({name})"] = live_request(animator, photo, clip.audio, name, head_motion)
    made["live raw (no normalisation)"] = live_request(animator, photo, clip.audio, "centred", head_motion,
                                                       normalise_mouth=False)
    for seconds, prior, prior_gain, mean_cap in laws:
        law: dict[str, Any] = {"seconds": seconds, "prior_seconds": prior, "mean_cap": mean_cap or None}
        label = f"live (centred), {seconds:g} s, prior {prior:g} s"
        if prior_gain > 0:  # all three prior moments (target / gain)^2: the prior alone gives this gain
            law["prior"] = ((TARGET_OPENING_STD / prior_gain) ** 2,) * 3
            label += f" at gain {prior_gain:g}"
        label += f", mean cap {mean_cap:g}" if mean_cap > 0 else ", no mean cap"
        made[label] = live_request(animator, photo, clip.audio, "centred", head_motion, law=law)
    if head_motion == 0:
        made["stream model, whole-utterance centred"] = stream_oracle(animator, photo, clip)
    n = min(len(real), *(len(x) for x in made.values()))
    speech = speech_presence(audio_rms_per_frame(clip.audio, n, clip.fps))
    ref = aligned(offline[:n])
    oracle = made.get("stream model, whole-utterance centred")
    rows = {}
    for k, x in made.items():
        rows[k] = describe(x[:n], real[:n], speech, None)
        rows[k]["vs offline"] = lmd(aligned(x[:n]), ref)
        rows[k]["vs law"] = float("nan") if oracle is None else lmd(aligned(x[:n]), aligned(oracle[:n]))
    return rows


def calibrate(animator: Animator, spec: str, max_clips: int) -> None:
    """Whole-utterance moments of the streaming model's opening; online gain law vs offline bisection."""
    from talkface.live.online_motion import CENTRED_PRIOR, OnlineCentredMouth
    from talkface.live.stream import load_stream_model

    model = load_stream_model(animator)
    neutral = model.canonical_neutral.cpu().numpy().astype(np.float64)
    root, _, split = spec.partition(":")
    moments, gains = [], []
    for k, clip in enumerate(PreparedDataset(root).clips(split or None)):
        if max_clips and k >= max_clips:
            break
        canonical = np.asarray(model.predict_canonical(clip.audio), np.float64)
        s = speech_presence(audio_rms_per_frame(clip.audio, len(canonical), clip.fps)).astype(np.float64)
        o = mouth_opening(canonical).astype(np.float64)
        om = float((s * o).sum() / max(s.sum(), 1e-9))
        u = s * (o - om)
        moments.append((o.var(), u.var(), float(np.mean((o - o.mean()) * (u - u.mean())))))
        _, offline_gain = centred_motion(canonical, neutral, s)
        # the online law on the whole utterance at once (no decay, no prior): does the quadratic find the gain?
        law = OnlineCentredMouth(seconds=1e9, prior_seconds=0.0)
        law.step(canonical[:, list(SPEECH_POINTS)] - neutral[list(SPEECH_POINTS)], o, s, np.ones(len(o), bool))
        gains.append((offline_gain, law.gain()))
    m, g = np.array(moments), np.array(gains)
    med = np.median(m, axis=0)
    print(f"{spec}: {len(m)} utterances; median var(o) {med[0]:.3g} (std {np.sqrt(med[0]):.4f}), "
          f"var(u) {med[1]:.3g} (std {np.sqrt(med[1]):.4f}), cov(o, u) {med[2]:.3g}")
    print(f"CENTRED_PRIOR now: {tuple(round(x, 7) for x in CENTRED_PRIOR)}")
    print(f"offline centred gain median {np.median(g[:, 0]):.3f} (quartiles {np.percentile(g[:, 0], 25):.3f}-"
          f"{np.percentile(g[:, 0], 75):.3f}); online law on whole utterances: median {np.median(g[:, 1]):.3f}, "
          f"|difference| median {np.median(np.abs(g[:, 0] - g[:, 1])):.3f}, max {np.abs(g[:, 0] - g[:, 1]).max():.3f}")


def main() -> None:
    """Print the live-vs-offline table of each dataset (``PATH[:SPLIT]``), or calibrate."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="*", help="prepared dataset with the shipped model's feature, PATH or PATH:SPLIT")
    ap.add_argument("--max-clips", type=int, default=0, help="per dataset, 0: all")
    ap.add_argument("--head-motion", type=float, default=0.0, help="head-motion strength of every row")
    ap.add_argument("--calibrate", default=None, help="PATH[:SPLIT]: moments of the streaming model (prior)")
    ap.add_argument("--law", action="append", default=[], metavar="SECONDS:PRIOR_SECONDS[:PRIOR_GAIN[:MEAN_CAP]]",
                    help="also a live (centred) row with this time constant, prior weight, prior gain (0: the default "
                         "prior) and mean-opening cap (0: none; default 0.085) (repeatable)")
    ap.add_argument("--json", type=Path, default=None, help="also write the summaries here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Mean of empty slice")
    animator = Animator(AnimateConfig(threads=1))
    if args.calibrate:
        calibrate(animator, args.calibrate, args.max_clips)
    fps = float(animator.bundle.lgan.config.fps)
    results: dict[str, Any] = {}
    for spec in args.data:
        root, _, split = spec.partition(":")
        per: dict[str, list[dict[str, float]]] = {}
        for clip in PreparedDataset(root).clips(split or None):
            if args.max_clips and len(per.get("still", [])) >= args.max_clips:
                break
            if abs(clip.fps - fps) > 1e-3:
                continue
            laws = [tuple(float(v) for v in (x.split(":") + ["0", "0"])[:4]) for x in args.law]
            for k, v in rows_of_clip(animator, clip, args.head_motion, laws).items():
                per.setdefault(k, []).append(v)
        summary = {k: {c: float(np.nanmedian([r[c] for r in v]) if c in MEDIAN else np.nanmean([r[c] for r in v]))
                       for c in COLUMNS} for k, v in per.items()}
        print(f"\n{spec}: {len(per.get('still', []))} clips, head motion {args.head_motion:g}\n")
        print("| row | " + " | ".join(COLUMNS) + " |\n|---|" + "---|" * len(COLUMNS))
        for k, r in summary.items():
            print(f"| {k} | " + " | ".join(f"{r[c]:.3f}" for c in COLUMNS) + " |", flush=True)
        results[spec] = summary
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
