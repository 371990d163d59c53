"""What a user sees, measured on whole frames: native renderer vs. the crop generator (issue 14).

For every clip of a prepared dataset (``manifest.jsonl`` names each clip's source video) the first
frame of the source is the photo and the clip's own speech drives it, as ``talkface animate`` would.
Each variant renders the clip (:meth:`talkface.pipeline.Animator.talking_head`); the real frames are
the reference. Per variant, means over clips:

* ``sharp_lap``: variance of the Laplacian of the face box (each frame's tracked landmarks' box), as
  a ratio to the real frames' (1 = as sharp as the real video);
* ``sharp_lap_i``: the same over the real *intra-coded* frames only (the photo, frame 0, is one):
  compressed video adds quantisation noise to the predicted frames, which the Laplacian counts as
  detail (GRID's MPEG-1: I-frames 0.79-0.92 of a clip's mean, P-frames 1.01-1.02), so this compares
  like with like (:func:`talkface.io.media.picture_types`);
* ``sharp_cpbd``: CPBD of the face box, ratio to the real frames';
* ``colour``: mean colour shift (0-255) of the face outside mouth and eyes vs. the photo: the
  absolute difference of the per-channel means of the face region (jaw/brow hull minus the mouth
  and eyes, grown), averaged over channels and frames: a tint, not motion;
* ``colour_warp``: the same colour change, but against the photo warped by the variant's own requested
  landmarks with nothing painted and no learned shading (``native:warp:shade0`` at the same head motion;
  the issue's "vs. the warped photo"), so head motion and the photo's own shading cancel
  (:func:`talkface.eval.render_metrics.colour_change`);
* ``open_ratio``: mouth opening measured by dlib on the rendered frames over the requested
  (landmark) opening, frames where the request is open (> 0.05 of the eye distance);
* ``lmd``: landmark distance (mouth, 128 px face crop) of the rendered frames' dlib landmarks to the
  real frames' (each frame aligned onto the canonical face on the stable points, jaw top included:
  :func:`talkface.eval.motion_metrics.landmark_distance`);
* ``lmd_pose``: the same mouth distance after aligning each rendered frame onto *its real frame* on
  the eye corners and nose only (:func:`talkface.eval.render_metrics.pose_aligned_lmd`);
* ``lse_c`` / ``lse_d``: sync confidence / distance of the rendered frames' mouths against the speech
  (talkface's sync model, :class:`talkface.eval.sync.SyncScorer`, mouth crops from the tracked
  landmarks, as ``talkface evaluate``);
* ``acd_ratio``: ACD (dlib descriptor distance to the photo) of the output over that of the real
  frames;
* ``mouth_lpips``: LPIPS of a mouth crop (box from the real frame's landmarks) vs. the real frame;
  ``mouth_lpips_own`` the same with each video's mouth cut at its own tracked landmarks (a head turned
  otherwise than the real one no longer moves the mouth out of the real box: the interior's look alone);
* ``blink_ear``: eye aspect ratio (dlib, rendered) at the requested blinks' apexes over the
  rendered open eye's (NaN without a requested blink; :func:`talkface.eval.render_metrics.blink_apex_ratio`);
  ``blink_closed`` the same over the blinks whose request closes the eye (apex < 0.4 of open, not the
  half-blinks); ``blink_vis`` the detector-free closure at those apexes (share of the photo's open-eye
  pixels still showing, over the open frames': :func:`talkface.eval.render_metrics.blink_visible_share`);
  ``blink_req`` the requested landmarks' own ``blink_ear`` (what the blink stage asks for). The
  ``real`` row's blink columns are the real frames' own blinks (where dlib's EAR dips under 0.6 of
  its median; ``blink_closed`` and ``blink_vis`` over all of them).

Usage::

    python3 benchmarks/render_quality.py --data /work/prepared/grid7 --out /work/scratch/q_grid7 \\
        --variants still crop native native:cavity native:warp native:generator --strip strip.png

Variants: ``real`` (the real frames themselves: the reference row), ``still`` (the photo repeated),
``crop`` (the previous default renderer), ``native`` (default: painted mouth) and ``native:STYLE`` for
another mouth interior; ``VARIANT@H`` renders with head motion strength H (e.g. ``native@0``: no head
motion; default: ``AnimateConfig``'s). The requested landmarks of a variant are those its animator
rendered (``Animator.last_requested_landmarks``); the still's are the default configuration's.
``VARIANT:oracle`` (e.g. ``native:oracle@0``, ``crop:oracle@0``, ``native:warp:oracle``) renders from
the real clip's own tracked landmarks instead of the motion model's (:func:`oracle_landmarks`; ``@0``:
its pose-free motion retargeted onto the photo, otherwise the real track with its head pose): what
the renderer makes of a perfect request.
``VARIANT:rs=KERNEL`` (e.g. ``native:rs=cubic``) resamples the photo with ``AnimateConfig.resample = KERNEL``.
``VARIANT:req=NAME`` (e.g. ``native:req=neutral``) makes the motion model's request with
``AnimateConfig.mouth_request = NAME`` (:data:`talkface.motion.amplitude.MOUTH_REQUESTS`), to compare
requests in one run; the still's and the default rows' request is the default one.
the renderer makes of a perfect request. ``native:shade`` (``native:shadeS``, ``native:cavity:shade@0``, ...)
sets the learned lower-face shading to strength S (default 1; ``RenderConfig.shading``,
:mod:`talkface.render.shading`); the shading is on in every variant by default since 2026-12-01
(``AnimateConfig.shading``), so ``native:shade0`` is the renderer without it.

``--save DIR`` keeps each clip's frames, tracked landmarks and speech per variant (``DIR/<clip>.npz``,
for ``benchmarks/sync_probe.py``; never commit the wild clips' outputs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from talkface.eval.report.inputs import at_rate
from talkface.photo_video import resize_to

ROOT = Path(__file__).resolve().parents[1]


def clip_sources(data: Path, max_clips: int, skip: int = 0) -> list[tuple[str, Path, Path]]:
    """(clip name, source video, prepared arrays ``clips/<id>.npz``) of the manifest's finished clips.

    The name is the clip id's utterance part (``Obama/styletalk_Obama_clip2`` -> ``styletalk_Obama_clip2``;
    a GRID clip's is its sentence), unique within a prepared folder.
    """
    out = []
    for line in (data / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("status") == "ok" and Path(row["source"]).is_file():
            out.append((row["id"].split("/")[-1], Path(row["source"]), data / "clips" / f"{row['id']}.npz"))
    out = out[skip:]
    return out[:max_clips] if max_clips else out


def speech_sources(data: Path) -> dict[Path, Path]:
    """Source video -> the file its speech was read from by ``talkface preprocess``: the side-car audio the
    manifest names (``audio_source``: the styletalk clips' ``.wav`` beside a silent ``.mp4``), else the video."""
    out: dict[Path, Path] = {}
    for line in (data / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        out[Path(row["source"])] = Path(row.get("audio_source") or row["source"])
    return out


def oracle_landmarks(arrays: Path, photo_lm: np.ndarray, frames: np.ndarray, scale: float, head: bool) -> np.ndarray:
    """The real clip's own tracked landmarks as the request (the oracle motion), in the photo's pixels.

    With ``head`` the prepared track itself (source pixels times ``scale``: real head pose included);
    without, the clip's pose-free ``canonical`` motion retargeted onto the photo's landmarks around its
    first frame (the photo), as the animate path retargets the motion model's canonical landmarks
    (:func:`talkface.motion.retarget.retarget`): frame 0 maps exactly onto the photo's landmarks.

    Args:
        arrays: the clip's prepared ``.npz`` (``landmarks``, ``canonical``).
        photo_lm: (68, 2) the photo's (frame 0's) dlib landmarks, photo pixels.
        frames: (n,) the source video's frames wanted (``at_rate``: the rendered frames' times).
        scale: photo pixels per source-video pixel (``--max-side`` downscaling).
        head: keep the real head motion.

    Returns:
        (n, 68, 2) float32 (the last frame repeated if the prepared track is shorter).
    """
    from talkface.motion.retarget import retarget

    with np.load(arrays) as z:
        if head:
            track = z["landmarks"].astype(np.float64) * scale
        else:
            track = retarget(z["canonical"], z["canonical"][0], photo_lm)
    track = track[np.minimum(np.asarray(frames), len(track) - 1)]
    return np.asarray(track, np.float32)


def downscale(frames: np.ndarray, max_side: int) -> np.ndarray:
    """(N, H, W, 3) frames with the longer side at most ``max_side`` (:func:`talkface.photo_video.resize_to`)."""
    if max(frames.shape[1:3]) <= max_side:
        return frames
    return np.stack([resize_to(f, max_side) for f in frames])


def _head_of(variant: str) -> str:
    """The head-motion part of a variant name ("" = the default strength)."""
    return variant.split("@", 1)[1] if "@" in variant else ""


def _warp_key(variant: str) -> tuple[str, str]:
    """The head-motion part and the resampling part (``":rs=KERNEL"`` or "") of a variant name: its
    ``colour_warp`` reference is the photo warped at that head motion with that kernel."""
    rs = [x for x in variant.split("@", 1)[0].split(":") if x.startswith("rs=")]
    return _head_of(variant), f":{rs[0]}" if rs else ""


def _is_oracle(variant: str) -> bool:
    """``RENDERER[:STYLE]:oracle[@H]``: rendered from the real clip's own landmarks (:func:`oracle_landmarks`)."""
    return "oracle" in variant.split("@", 1)[0].split(":")[1:]


def variant_config(name: str, seed: int) -> dict[str, object]:
    extra: dict[str, object] = {}
    if "@" in name:
        name, head = name.split("@", 1)
        if head:
            extra["head_motion"] = float(head)
    parts = [x for x in name.split(":") if x != "oracle"]
    for x in [x for x in parts if x.startswith("req=")]:  # the mouth request (AnimateConfig.mouth_request)
        extra["mouth_request"] = x[4:]
        parts.remove(x)
    for x in [x for x in parts if x.startswith("rs=")]:  # the photo's resampling kernel (AnimateConfig.resample)
        extra["resample"] = x[3:]
        parts.remove(x)
    shade = [x for x in parts if x.startswith("shade")]
    if shade:  # ``shade`` / ``shadeS``: the learned lower-face shading at strength S (default 1)
        extra["shading"] = float(shade[0][5:] or 1.0)
        parts = [x for x in parts if not x.startswith("shade")]
    if parts == ["crop"]:
        return {"renderer": "crop", "seed": seed, **extra}
    if parts[0] == "native" and len(parts) <= 2:
        style = parts[1] if len(parts) == 2 else "painted"
        return {"renderer": "native", "mouth": style, "seed": seed, **extra}
    raise ValueError(name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="prepared dataset folder (with manifest.jsonl)")
    p.add_argument("--out", required=True, type=Path, help="folder for results.json and table.md")
    p.add_argument("--variants", nargs="+", default=["still", "crop", "native"])
    p.add_argument("--seconds", type=float, default=3.0, help="first N seconds of each clip")
    p.add_argument("--max-clips", type=int, default=0, help="0: all")
    p.add_argument("--skip-clips", type=int, default=0, help="start after this many clips of the manifest")
    p.add_argument("--max-side", type=int, default=1280, help="frames are downscaled to this longer side")
    p.add_argument("--lpips-stride", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--strip", type=Path, default=None, help="write a real / variants strip PNG of the first clip")
    p.add_argument("--save", type=Path, default=None,
                   help="folder for each clip's frames, tracked landmarks and speech per variant (<clip>.npz)")
    args = p.parse_args()

    from talkface.eval.identity import FaceEmbedder, acd
    from talkface.eval.metrics import lpips
    from talkface.eval.motion_metrics import landmark_distance
    from talkface.eval.render_metrics import (
        blink_apex_ratio,
        blink_visible_share,
        colour_change,
        colour_shift,
        face_cpbd,
        laplacian_var,
        mouth_crops,
        opening_ratio,
        pose_aligned_lmd,
    )
    from talkface.eval.sync import SyncScorer
    from talkface.eval.sync import mouth_crops as sync_mouths
    from talkface.face.detect import FaceDetector
    from talkface.face.landmarks import LandmarkDetector, track_landmarks
    from talkface.io.media import picture_types, read_audio, read_video
    from talkface.motion.render import predict_landmarks
    from talkface.nets.vgg import LPIPS
    from talkface.pipeline import AnimateConfig, Animator

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    animators = {v: Animator(AnimateConfig(threads=args.threads, **variant_config(v, args.seed)))  # type: ignore[arg-type]
                 for v in args.variants if v not in ("still", "real")}
    base = next(iter(animators.values())) if animators else Animator(AnimateConfig(threads=args.threads))
    # the warped photo (nothing painted, no shading, same motion) per head-motion strength: colour_warp's
    # reference (the shading, on by default since 2026-12-01, is a colour change, so it must not be in it)
    warps = {key: Animator(AnimateConfig(threads=args.threads,  # type: ignore[arg-type]
                                         **{**variant_config(f"native:warp{key[1]}@{key[0]}", args.seed),
                                            "shading": 0.0}))
             for key in {_warp_key(v) for v in args.variants if v not in ("still", "real")}}
    detector, predictor = FaceDetector(), LandmarkDetector()
    embedder = FaceEmbedder()
    lp = LPIPS()
    sync = SyncScorer()
    rows: list[dict[str, object]] = []
    speech = speech_sources(args.data)
    model_fps = float(base.bundle.lgan.config.fps)
    for clip, source, arrays in clip_sources(args.data, args.max_clips, args.skip_clips):
        t0 = time.perf_counter()
        real, fps = read_video(source, max_duration_s=args.seconds)
        source_width = real.shape[2]
        real = downscale(real, args.max_side)
        # the renderer makes frames at the motion model's rate: compare with the real frame nearest each
        # rendered frame's time (a 30 fps clip's frames 0, 1, 2, 4, 5, 6, 7, 8, 10, ...), not index by index
        picked = at_rate(len(real), fps, model_fps)
        real, fps = real[picked], model_fps
        try:  # no speech (styletalk_KristiNoem.mp4: no track, no side-car): cannot be animated, say so, go on
            audio = read_audio(speech.get(source, source), max_duration_s=len(real) / fps)
            photo = real[0]
            photo_lm = base._face(photo, source)
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"{clip}: skipped ({exc})", flush=True)
            continue
        cfg = base.config
        requested = predict_landmarks(photo, audio, base.bundle.lgan, base.bundle.blink, seed=args.seed,
                                      blink_rate=cfg.blink_rate, person_landmarks=photo_lm,
                                      extractor=base._features(), close_mouth=cfg.close_mouth,
                                      head_motion=cfg.head_motion, normalise_mouth=cfg.normalise_mouth,
                                      mouth=cfg.mouth_request)
        real_lm = track_landmarks(real, fps=fps, detector=detector, predictor=predictor).landmarks
        n = min(len(real), len(requested))
        real, real_lm, requested = real[:n], real_lm[:n], requested[:n]
        types = picture_types(source, max_frames=int(picked[n - 1]) + 1)
        intra = [i for i, j in enumerate(picked[:n]) if types[j] == "I"]  # the photo (frame 0) is one of them
        ref = {
            "lap": laplacian_var(real, real_lm), "cpbd": face_cpbd(real, real_lm, 5),
            "lap_i": laplacian_var(real[intra], real_lm[intra]) if intra else float("nan"),
            "acd": acd(real, real_lm, photo, photo_lm, embedder=embedder, stride=5),
        }
        real_mouths = mouth_crops(real, real_lm)
        outputs: dict[str, np.ndarray] = {}
        saved: dict[str, np.ndarray] = {"real": real, "real_lm": real_lm, "audio": audio, "fps": np.float32(fps),
                                        "photo_lm": photo_lm}
        warped = {key: (w.talking_head(photo, audio)[:n], w.last_requested_landmarks) for key, w in warps.items()}
        for v in args.variants:
            if v in ("still", "real"):
                frames = np.repeat(photo[None], n, 0) if v == "still" else real
            elif _is_oracle(v):
                a = animators[v]
                oracle = oracle_landmarks(arrays, photo_lm, picked[:n], real.shape[2] / source_width,
                                          head=a.config.head_motion > 0)
                _, it = a._frames(photo, photo_lm, audio, blink_rate=None, motion_scale=1.0, seed=args.seed, size=0,
                                  timer={}, progress=None, requested=oracle)
                frames = np.stack(list(it))[:n]
            else:
                frames = animators[v].talking_head(photo, audio)[:n]
            if v != "real":
                outputs[v] = frames
            req = requested if v in ("still", "real") else animators[v].last_requested_landmarks
            req = requested if req is None else req[:n]
            lm = track_landmarks(frames, fps=fps, detector=detector, predictor=predictor).landmarks
            if args.save is not None and v != "real":
                saved[v], saved[f"{v}/lm"], saved[f"{v}/req"] = frames, lm, req
            # the real row: the real blinks as dlib finds them (it reads a closed real eye at ~0.47 of open)
            blinks, closed = (real_lm, None) if v == "real" else (req, 0.4)
            try:
                lse = sync.score(sync_mouths(frames, lm), audio, 16000, fps)
                lse_c, lse_d = float(lse.lse_c), float(lse.lse_d)
            except ValueError:
                lse_c = lse_d = float("nan")
            lap = laplacian_var(frames, lm)
            colour_warp = float("nan")
            if v not in ("still", "real"):
                ref_frames, ref_req = warped[_warp_key(v)]
                if ref_req is not None and np.array_equal(ref_req[:n], req):  # same motion: comparable
                    colour_warp = colour_change(frames, ref_frames, req)
            row = {
                "clip": clip, "variant": v, "frames": n, "size": f"{photo.shape[1]}x{photo.shape[0]}",
                "sharp_lap": lap / ref["lap"],
                "sharp_lap_i": lap / ref["lap_i"],
                "sharp_cpbd": face_cpbd(frames, lm, 5) / ref["cpbd"],
                "colour": colour_shift(frames, photo, photo_lm, req),
                "colour_warp": colour_warp,
                "open_ratio": opening_ratio(lm, req),
                "lmd": landmark_distance(lm, real_lm),
                "lmd_pose": pose_aligned_lmd(lm, real_lm),
                "lse_c": lse_c, "lse_d": lse_d,
                "acd_ratio": acd(frames, lm, photo, photo_lm, embedder=embedder, stride=5) / max(ref["acd"], 1e-6),
                "mouth_lpips": lpips(real_mouths, mouth_crops(frames, real_lm), model=lp, stride=args.lpips_stride),
                "mouth_lpips_own": lpips(real_mouths, mouth_crops(frames, lm), model=lp, stride=args.lpips_stride),
                "blink_ear": blink_apex_ratio(lm, blinks),
                "blink_closed": blink_apex_ratio(lm, blinks, closed_below=closed),
                "blink_vis": blink_visible_share(frames, lm, photo, photo_lm, blinks, closed_below=closed),
                "blink_req": blink_apex_ratio(req, req),
            }
            rows.append(row)
            print({k: round(x, 3) if isinstance(x, float) else x for k, x in row.items()}, flush=True)
        print(f"{clip}: {time.perf_counter() - t0:.0f} s", flush=True)
        if args.save is not None:
            args.save.mkdir(parents=True, exist_ok=True)
            np.savez(args.save / f"{clip}.npz", **saved)  # type: ignore[arg-type]
        if args.strip is not None and not args.strip.exists():
            write_strip(args.strip, real, real_lm, requested, outputs)
        write_results(args, rows)  # after every clip: a long run can be read while it goes


KEYS = ["sharp_lap", "sharp_lap_i", "sharp_cpbd", "colour", "colour_warp", "open_ratio", "lmd", "lmd_pose", "lse_c",
        "lse_d", "acd_ratio", "mouth_lpips", "mouth_lpips_own", "blink_ear", "blink_closed", "blink_vis", "blink_req"]


def write_results(args: argparse.Namespace, rows: list[dict[str, object]]) -> None:
    lines = ["| variant | clips | " + " | ".join(KEYS) + " |", "|---" * (len(KEYS) + 2) + "|"]
    summary = {}
    for v in args.variants:
        sel = [r for r in rows if r["variant"] == v]
        means = {k: float(np.nanmean([float(r[k]) for r in sel])) if sel else float("nan")  # type: ignore[arg-type]
                 for k in KEYS}
        summary[v] = means
        lines.append(f"| {v} | {len(sel)} | " + " | ".join(f"{means[k]:.3f}" for k in KEYS) + " |")
    table = "\n".join(lines)
    print(table, flush=True)
    meta = {"command": " ".join(sys.argv), "load_average": os.getloadavg(), "summary": summary, "rows": rows}
    (args.out / "results.json").write_text(json.dumps(meta, indent=1, default=float) + "\n")
    (args.out / "table.md").write_text(table + "\n")


def write_strip(path: Path, real: np.ndarray, real_lm: np.ndarray, requested: np.ndarray,
                outputs: dict[str, np.ndarray]) -> None:
    """Face boxes at the three widest requested openings and a blink: real, then each variant, one row each."""
    from talkface.eval.motion_metrics import mouth_opening
    from talkface.eval.render_metrics import face_box
    from talkface.face.eyes import eye_aspect_ratio

    op = mouth_opening(requested)
    picks = [int(i) for i in np.argsort(op)[::-1][:3]] + [int(np.argmin(eye_aspect_ratio(requested)))]
    x0, y0, x1, y1 = face_box(np.concatenate([real_lm, requested]).reshape(-1, 2), real.shape[1:], grow=0.15)
    height = 200
    rows = []
    for name, frames in [("real", real), *outputs.items()]:
        tiles = []
        for i in picks:
            tile = frames[i, y0:y1, x0:x1]
            tile = cv2.resize(tile, (round(tile.shape[1] * height / tile.shape[0]), height),
                              interpolation=cv2.INTER_CUBIC)
            tiles.append(tile)
        row = np.concatenate(tiles, 1).copy()
        cv2.putText(row, name, (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        rows.append(row)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
