"""Live mode motion parity with ``animate``: mouth amplitude (running vs fixed gain) and head motion.

Measured on the predicted **landmarks** (no texture), first frame + each clip's own speech, as
``talkface evaluate-motion --liveliness`` does offline: opening std ratio (generated / real) and
opening correlation with the real clip, per variant:

* ``offline`` / ``offline raw``: ``predict_landmarks`` with / without the per-utterance normalisation;
* ``stream raw``: the streaming model without a gain; ``stream running``: the causal running std
  (:class:`talkface.live.online_motion.OnlineMouthGain`); ``stream fixed G``: a fixed gain G
  calibrated as the median offline gain (``amplitude_gain``) of the streaming model on GRID s1
  utterances (training speaker);
* head motion (strength 1) offline vs online: per-axis pose std / real, head-energy vs speech-energy
  correlation.

    python3 benchmarks/bench_live_motion.py /work/prepared/grid7 --calibrate /work/shared/data/grid_s1/video
    python3 benchmarks/bench_live_motion.py --head-long /work/shared/data/grid_s1/video   # online vs offline prior
    python3 benchmarks/bench_live_motion.py --head-clips /work/prepared/wild /work/prepared/grid7  # per recording

``--head-clips``: the online vs the offline head prior on each prepared clip's audio (3 seeds), the
stream with its running speaking rate and as before it had one (always the lively amplitudes).
"""

from __future__ import annotations

import argparse
import glob
import json
from typing import Any

import numpy as np


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    d = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / d) if d > 1e-12 else float("nan")


def stream_landmarks(animator: Any, person: np.ndarray, audio: np.ndarray, chunk: int = 640,
                     gain: Any = None, **options: Any) -> np.ndarray:
    from talkface.live.stream import FaceStream

    animator._face = lambda image, where: person  # the clip's tracked first-frame landmarks
    face = FaceStream(animator, np.zeros((128, 128, 3), np.uint8), renderer=lambda *a: lambda lm: list(lm),
                      **options)
    if gain is not None:
        face.mouth_gain = gain()
    frames = []
    for i in range(0, len(audio), chunk):
        frames += face.push(audio[i:i + chunk])
    frames += face.finish()
    del animator._face
    return np.stack([f for _, f in frames])


def calibrate(animator: Any, files: list[str]) -> float:
    from talkface.io.media import read_audio
    from talkface.live.stream import load_stream_model
    from talkface.motion.amplitude import amplitude_gain

    model = load_stream_model(animator)
    gains = [amplitude_gain(model.predict_canonical(read_audio(f, sample_rate=16000))) for f in files]
    print(f"calibration on {len(files)} utterances: gains median {np.median(gains):.3f}, "
          f"quartiles {np.percentile(gains, 25):.3f}-{np.percentile(gains, 75):.3f}", flush=True)
    return float(np.median(gains))


def _online_pose(audio: np.ndarray, seed: int, config: Any = None, chunk: int = 1234) -> np.ndarray:
    """The online head prior's pose for ``audio`` fed in ``chunk``-sample pieces (25 frames/s)."""
    from talkface.live.online_motion import OnlineHeadMotion

    total = round(len(audio) / 640)
    h = OnlineHeadMotion(25.0, seed=seed, config=config)
    poses = []
    for i in range(0, len(audio), chunk):
        h.push_audio(audio[i:i + chunk])
        poses.append(h.step(max(0, min(total, (h.samples - 1920) // 640) - h.next_frame)).pose)
    h.push_audio(np.zeros(4000, np.float32))
    return np.concatenate([*poses, h.step(total - h.next_frame).pose])


def head_clips(roots: list[str], seeds: int = 3, skip: tuple[str, ...] = ("bbaf2n/bbaf2n",)) -> None:
    """Online vs offline head prior per recording: median ratio per axis, mean |log| (yaw-ty), energy corr."""
    from talkface.data.dataset import PreparedDataset
    from talkface.motion.head import HeadMotionConfig, generate_head_motion, motion_energy_correlation

    for root in roots:
        clips = [c.audio for c in PreparedDataset(root).clips(None) if c.clip_id not in skip]
        offline = [[generate_head_motion(a, round(len(a) / 640), 25.0, seed=s).pose for s in range(seeds)]
                   for a in clips]
        print(f"{root}: {len(clips)} recordings, median {np.median([len(a) / 16000 for a in clips]):.1f} s")
        for name, cfg in (("before (always lively)", HeadMotionConfig(calm_std=None)), ("running rate", None)):
            ratios, e_on, e_off = [], [], []
            for audio, off in zip(clips, offline, strict=True):
                on = [_online_pose(audio, s, cfg) for s in range(seeds)]
                ratios.append(np.mean([p.std(0) for p in on], 0) / np.mean([p.std(0) for p in off], 0))
                e_on.append(np.nanmean([motion_energy_correlation(p, audio, 25.0) for p in on]))
                e_off.append(np.nanmean([motion_energy_correlation(p, audio, 25.0) for p in off]))
            r = np.array(ratios)
            print(f"  {name:24s} online/offline " + " ".join(f"{x:.2f}" for x in np.median(r, 0))
                  + f" | mean |log| (yaw-ty) {np.mean(np.abs(np.log(r[:, :5]))):.2f} | energy corr. online "
                  f"{np.nanmedian(e_on):.2f}, offline {np.nanmedian(e_off):.2f}", flush=True)


def head_long(folder: str, files: int = 20, seeds: int = 6, chunk: int = 1234) -> None:
    """Online vs offline head prior on the same long audio (``files`` utterances concatenated)."""
    from talkface.io.media import read_audio
    from talkface.live.online_motion import OnlineHeadMotion
    from talkface.motion.head import generate_head_motion, motion_energy_correlation

    paths = sorted(glob.glob(f"{folder}/*.mp4"))[::50][:files]
    audio = np.concatenate([read_audio(f, sample_rate=16000) for f in paths])
    total = round(len(audio) / 640)
    off, on, e_off, e_on, b_off, b_on, late = [], [], [], [], [], [], []
    for seed in range(seeds):
        m = generate_head_motion(audio, total, 25.0, seed=seed)
        h = OnlineHeadMotion(25.0, seed=seed)
        poses, brows = [], []
        for i in range(0, len(audio), chunk):
            h.push_audio(audio[i:i + chunk])
            got = h.step(max(0, min(total, (h.samples - 1920) // 640) - h.next_frame))
            poses.append(got.pose)
            brows.append(got.brow)
        h.push_audio(np.zeros(4000, np.float32))
        got = h.step(total - h.next_frame)
        pose, brow = np.concatenate([*poses, got.pose]), np.concatenate([*brows, got.brow])
        off.append(m.pose.std(0))
        on.append(pose.std(0))
        e_off.append(motion_energy_correlation(m.pose, audio, 25.0))
        e_on.append(motion_energy_correlation(pose, audio, 25.0))
        late.append((motion_energy_correlation(pose[250:], audio[250 * 640:], 25.0),
                     motion_energy_correlation(m.pose[250:], audio[250 * 640:], 25.0)))
        b_off.append(np.sum(np.diff((m.brow > 0).astype(int)) == 1) / (total / 25))
        b_on.append(np.sum(np.diff((brow > 0).astype(int)) == 1) / (total / 25))
    print(f"{len(audio) / 16000:.0f} s of speech, {seeds} seeds")
    print("pose std online / offline (yaw, pitch, roll, tx, ty, scale):",
          np.round(np.mean(on, 0) / np.mean(off, 0), 2).tolist())
    print(f"energy corr. online {np.mean(e_on):.2f}, offline {np.mean(e_off):.2f} (from 10 s on: "
          f"{np.mean([a for a, _ in late]):.2f}, {np.mean([b for _, b in late]):.2f}); brow raises/s online "
          f"{np.mean(b_on):.2f}, offline {np.mean(b_off):.2f}")


def main() -> int:
    import torch

    from talkface.data.dataset import PreparedDataset
    from talkface.eval.motion_metrics import mouth_opening
    from talkface.motion.head import estimate_pose, motion_energy_correlation
    from talkface.motion.render import predict_landmarks
    from talkface.pipeline import AnimateConfig, Animator

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="*", help="prepared dataset folders")
    p.add_argument("--head-long", default=None, help="folder of GRID s1 videos: online vs offline head prior")
    p.add_argument("--head-clips", nargs="*", default=None, help="prepared folders: online vs offline head prior "
                   "per recording")
    p.add_argument("--calibrate", default=None, help="folder of GRID s1 videos for the fixed gain")
    p.add_argument("--calibrate-n", type=int, default=40)
    p.add_argument("--fixed-gain", type=float, default=None, help="use this fixed gain (skip calibration)")
    p.add_argument("--max-clips", type=int, default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--seconds", type=float, default=None, help="also a running variant with this time constant")
    p.add_argument("--no-head", action="store_true", help="skip the head-motion comparison")
    a = p.parse_args()
    if a.head_long or a.head_clips:
        if a.head_long:
            head_long(a.head_long)
        if a.head_clips:
            head_clips(a.head_clips)
        if not a.data:
            return 0
    torch.set_num_threads(1)
    animator = Animator(AnimateConfig(threads=1))
    fixed = a.fixed_gain
    if fixed is None and a.calibrate:
        files = sorted(glob.glob(f"{a.calibrate}/*.mp4"))[:: max(1, len(sorted(glob.glob(f"{a.calibrate}/*.mp4")))
                                                               // a.calibrate_n)][: a.calibrate_n]
        fixed = calibrate(animator, files)
    lgan, blink = animator.bundle.lgan, animator.bundle.blink
    variants: dict[str, Any] = {
        "offline": lambda c, lm: predict_landmarks(np.zeros((1, 1, 3), np.uint8), c.audio, lgan, blink,
                                                   person_landmarks=lm, head_motion=0.0, features=c.features),
        "offline raw": lambda c, lm: predict_landmarks(np.zeros((1, 1, 3), np.uint8), c.audio, lgan, blink,
                                                       person_landmarks=lm, head_motion=0.0, features=c.features,
                                                       normalise_mouth=False),
        "stream raw": lambda c, lm: stream_landmarks(animator, lm, c.audio, head_motion=0.0, normalise_mouth=False),
        "stream running (default)": lambda c, lm: stream_landmarks(animator, lm, c.audio, head_motion=0.0),
    }
    if fixed is not None:
        from talkface.live.online_motion import OnlineMouthGain
        from talkface.motion.amplitude import TARGET_OPENING_STD

        variants["stream running, prior std = target"] = lambda c, lm: stream_landmarks(
            animator, lm, c.audio, head_motion=0.0, gain=lambda: OnlineMouthGain(prior_std=TARGET_OPENING_STD))
        variants[f"stream fixed {fixed:.2f}"] = lambda c, lm: stream_landmarks(animator, lm, c.audio,
                                                                               head_motion=0.0, mouth_gain=fixed)
    if a.seconds:
        from talkface.live.online_motion import OnlineMouthGain

        variants[f"stream running, {a.seconds:g} s"] = lambda c, lm: stream_landmarks(
            animator, lm, c.audio, head_motion=0.0, gain=lambda: OnlineMouthGain(seconds=a.seconds))
    head_variants: dict[str, Any] = {
        "offline head 1": lambda c, lm: predict_landmarks(np.zeros((1, 1, 3), np.uint8), c.audio, lgan, blink,
                                                          person_landmarks=lm, head_motion=1.0, features=c.features),
        "stream head 1": lambda c, lm: stream_landmarks(animator, lm, c.audio, head_motion=1.0),
    }
    rows: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    head_rows: dict[str, list[Any]] = {k: [] for k in head_variants}
    for root in a.data:
        for n, clip in enumerate(PreparedDataset(root).clips(None)):
            if a.max_clips is not None and n >= a.max_clips:
                break
            if abs(clip.fps - 25.0) > 1e-3:  # compared frame by frame: only clips at the model's 25 fps
                continue
            real = mouth_opening(clip.landmarks)
            for name, fn in variants.items():
                op = mouth_opening(fn(clip, clip.landmarks[0])[: len(real)])
                rows[name].append((float(op.std() / max(real.std(), 1e-9)), _corr(op, real[: len(op)])))
            rpose = estimate_pose(clip.landmarks)
            for name, fn in ({} if a.no_head else head_variants).items():
                pose = estimate_pose(fn(clip, clip.landmarks[0])[: len(rpose)])
                head_rows[name].append((pose.std(0) / np.maximum(rpose.std(0), 1e-9),
                                        motion_energy_correlation(pose, clip.audio, clip.fps, clip.sample_rate)))
            print(clip.clip_id, {k: np.round(v[-1], 3).tolist() for k, v in rows.items()}, flush=True)
    out: dict[str, Any] = {"fixed_gain": fixed}
    print("\n| variant | opening std ratio (median) | opening corr. (median) |\n|---|---|---|")
    for name, v in rows.items():
        arr = np.array(v)
        out[name] = {"std_ratio": float(np.nanmedian(arr[:, 0])), "corr": float(np.nanmedian(arr[:, 1]))}
        print(f"| {name} | {out[name]['std_ratio']:.2f} | {out[name]['corr']:.2f} |")
    print("\n| head motion | pose std / real (yaw, pitch, roll, tx, ty, scale; medians) | energy corr. |")
    print("|---|---|---|")
    for name, v in head_rows.items():
        if not v:
            continue
        ratio = np.median(np.stack([r for r, _ in v]), axis=0)
        ec = float(np.nanmedian([e for _, e in v]))
        out[name] = {"pose_std_ratio": ratio.tolist(), "energy_corr": ec}
        print(f"| {name} | {', '.join(f'{x:.2f}' for x in ratio)} | {ec:.2f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
