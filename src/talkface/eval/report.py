"""The evaluation report: every metric of the papers' tables for every method, as Markdown + CSV + PNGs.

A *method* is anything that makes a talking-head video: a callable ``model(still, audio)``
(:data:`TalkingHeadModel`), or a folder of videos it already generated. :func:`evaluate_videos`
runs the methods on held-out clips of a prepared dataset (or takes pairs of generated and real
video files), scores each clip and writes

* ``report.md`` — header (date, the exact command, seed, settings, sync model), one row per
  method with mean ± std over clips, then a row per clip;
* ``summary.csv`` (method, metric, mean, std, n) and ``per_clip.csv`` (method, clip, metrics);
* ``strip.png`` — frames of the first clip: ground truth, then each method, each followed by its
  mouth crops (what the sync model sees);
* ``blink_durations.png`` — histogram of blink durations in frames per method (Das et al. Fig. 5).

Rows always include **ground truth** (the real frames scored as if generated: the reference
level of the no-reference metrics, sync and blinks; full-reference metrics are n/a) and the
**still baseline** (the still repeated for every frame, audio unchanged: what a model that does
not move scores).

Metrics per clip (generated frames G vs real frames R, still S; see the modules for definitions):

==============  ===========================================================  ==========
column          definition                                                   better
==============  ===========================================================  ==========
PSNR            :func:`talkface.eval.metrics.psnr` (dB, 100 = identical)     higher
SSIM            :func:`talkface.eval.metrics.ssim`                           higher
CPBD            :func:`talkface.eval.metrics.cpbd` of G                      higher
FDBM            :func:`talkface.eval.metrics.fdbm` of G                      higher
LPIPS           :func:`talkface.eval.metrics.lpips` (every k-th frame)       lower
LMD             :func:`talkface.eval.motion_metrics.landmark_distance`       lower
Mouth corr.     :func:`talkface.eval.motion_metrics.mouth_opening_correlation` higher
ACD             :func:`talkface.eval.identity.acd` vs S (dlib units)         lower
FaceNet         :func:`talkface.eval.identity.facenet_distance` vs S         lower
AV off.         \\|offset\\| of :class:`talkface.eval.sync.SyncScorer`, frames  lower
LSE-D           sync distance at the best offset                             lower
LSE-C           sync confidence (median - min distance)                      higher
Blink/s         blinks per second (:mod:`talkface.face.eyes`)                ~0.28-0.4
Blink dur.      mean blink duration, seconds, pooled over all blinks         ~0.1-0.4
WER             word error rate of :class:`talkface.eval.lipread.LipReader`  lower
                (GRID clips only; per-slot accuracy beside it)
==============  ===========================================================  ==========

Landmarks of every row (ground truth included) are tracked on the frames being scored with
:func:`talkface.face.landmarks.track_landmarks`, so all rows are measured the same way.
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import io
import json
import math
import os
import platform
import random
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from talkface.errors import InputError
from talkface.io.atomic import atomic_path

if TYPE_CHECKING:
    from talkface.data.dataset import PreparedDataset

__all__ = [
    "LIPREAD_METRICS",
    "METRICS",
    "RENDER_METRICS",
    "EvalConfig",
    "EvalSample",
    "EvalTable",
    "MetricSpec",
    "TalkingHeadModel",
    "copy_still_model",
    "dataset_clip_ids",
    "evaluate_videos",
    "samples_from_dataset",
    "samples_from_pairs",
]

PathLike = str | os.PathLike[str]

#: A talking-head method: ``model(still, audio) -> frames`` where ``still`` is (H, W, 3) uint8
#: RGB (for a prepared dataset: the aligned face crop of the still frame), ``audio`` is (N,)
#: float32 mono speech at 16 kHz, and the result is (T, H', W', 3) uint8 RGB at the clip's frame
#: rate (25 fps for GRID), ideally T = the clip's frame count and H' x W' = H x W. Other lengths
#: are cut or padded with the last frame, other sizes resized (both reported in ``notes``).
TalkingHeadModel = Callable[[np.ndarray, np.ndarray], np.ndarray]

GROUND_TRUTH = "ground truth"
STILL_BASELINE = "still baseline"
_SAMPLE_RATE = 16000


@dataclass(frozen=True)
class MetricSpec:
    """One column of the report.

    Attributes:
        key: CSV name.
        label: Markdown column title.
        higher_is_better: direction (None: closest to natural is best).
        full_reference: needs the real frames (n/a for the ground-truth row).
        digits: decimals shown in Markdown.
    """

    key: str
    label: str
    higher_is_better: bool | None
    full_reference: bool = False
    digits: int = 3


#: The report's columns, in order.
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("psnr", "PSNR", True, True, 2),
    MetricSpec("ssim", "SSIM", True, True, 3),
    MetricSpec("cpbd", "CPBD", True, False, 3),
    MetricSpec("fdbm", "FDBM", True, False, 4),
    MetricSpec("lpips", "LPIPS", False, True, 3),
    MetricSpec("lmd", "LMD", False, True, 2),
    MetricSpec("mouth_corr", "Mouth corr.", True, True, 2),
    MetricSpec("acd", "ACD", False, False, 3),
    MetricSpec("facenet", "FaceNet", False, False, 3),
    MetricSpec("av_offset", "AV off.", False, False, 2),
    MetricSpec("lse_d", "LSE-D", False, False, 3),
    MetricSpec("lse_c", "LSE-C", True, False, 3),
    MetricSpec("blink_rate", "Blink/s", None, False, 2),
    MetricSpec("blink_dur", "Blink dur. (s)", None, False, 2),
)

#: Lip-reading columns (GRID clips only, n/a elsewhere): WER and per-slot accuracy, in %.
LIPREAD_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("wer", "WER (%)", False, False, 1),
    *(MetricSpec(f"acc_{slot}", slot, True, False, 1)
      for slot in ("command", "colour", "preposition", "letter", "digit", "adverb")),
)
#: Rendering columns (issue 14; :func:`talkface.eval.render_metrics.render_scores`): face sharpness as a
#: ratio to the real frames', colour change outside mouth and eyes, rendered / requested mouth opening
#: (n/a where the method does not say what it was asked to render), mouth-crop LPIPS.
RENDER_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("sharp_lap", "Sharp. Lap. (×real)", True, False, 3),
    MetricSpec("sharp_cpbd", "Sharp. CPBD (×real)", True, False, 3),
    MetricSpec("colour", "Colour Δ", False, False, 2),
    MetricSpec("open_ratio", "Open ratio", None, False, 3),
    MetricSpec("mouth_lpips", "Mouth LPIPS", False, True, 3),
)
_ALL_METRICS = METRICS + LIPREAD_METRICS + RENDER_METRICS


@dataclass
class EvalConfig:
    """Settings of an evaluation run (all recorded in the report header).

    Attributes:
        still: identity frame given to the models and used by ACD/FaceNet: ``"first"`` (the
            papers: first ground-truth frame) or ``"neutral"`` (the prepared clip's neutral frame).
        max_clips: evaluate at most this many clips (in split order).
        seed: seed of Python, NumPy and torch, reset before each model call (clip i: seed + i).
        lpips_stride: LPIPS on every k-th frame (it costs ~0.5 s per 128 px frame pair on CPU).
        identity_stride: ACD / FaceNet on every k-th frame.
        sharpness_stride: CPBD / FDBM on every k-th frame (CPBD: ~20 ms per 128 px frame).
        lpips: compute LPIPS (the slowest metric on CPU).
        identity: compute ACD / FaceNet.
        sync: compute AV offset / LSE-D / LSE-C.
        sync_model: sync model file (default the bundled ``assets/syncnet.pt``).
        lipread: compute WER and per-slot accuracy of the GRID lip reader (GRID clips only).
        lipreader: lip reader file (default the bundled ``assets/lipreader.pt``).
        render: compute the rendering columns (:data:`RENDER_METRICS`).
        render_stride: CPBD of the face box and mouth-crop LPIPS of the rendering columns on every
            k-th frame.
        strip_frames: frames shown per row of ``strip.png``.
        device: torch device for LPIPS and the sync model.
    """

    still: str = "first"
    max_clips: int | None = None
    seed: int = 0
    lpips_stride: int = 5
    identity_stride: int = 1
    sharpness_stride: int = 1
    lpips: bool = True
    identity: bool = True
    sync: bool = True
    sync_model: str | None = None
    lipread: bool = True
    lipreader: str | None = None
    render: bool = True
    render_stride: int = 5
    strip_frames: int = 8
    device: str = "cpu"


@dataclass
class EvalSample:
    """One ground-truth clip to evaluate against.

    Attributes:
        clip_id: name of the clip.
        frames: (T, H, W, 3) uint8 RGB real frames.
        audio: (N,) float32 mono speech at 16 kHz, aligned with frame 0.
        fps: frame rate, frames/s.
        still_index: index of the identity frame given to the models.
        source: the clip's source video, if known (GRID ``.align`` files are looked for beside it).
    """

    clip_id: str
    frames: np.ndarray
    audio: np.ndarray
    fps: float
    still_index: int = 0
    source: str | None = None

    @property
    def still(self) -> np.ndarray:
        """(H, W, 3) uint8 identity frame."""
        return self.frames[self.still_index]


@dataclass
class _Scored:
    """Scores of one method on one clip, plus what the figures need."""

    values: dict[str, float]
    blink_durations: list[float]
    frames: np.ndarray
    mouths: np.ndarray | None
    notes: list[str] = field(default_factory=list)


@dataclass
class EvalTable:
    """Result of :func:`evaluate_videos`.

    Attributes:
        methods: method names in row order (ground truth and the still baseline first).
        per_clip: one dict per (method, clip): ``{"method", "clip", <metric key>: float, ...}``.
        blink_durations: method -> every detected blink's duration, seconds.
        header: run facts (date, command, seed, config, data, sync model).
        notes: warnings collected while scoring (resized or padded outputs, failed tracking).
    """

    methods: list[str]
    per_clip: list[dict[str, Any]]
    blink_durations: dict[str, list[float]]
    header: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, tuple[float, float, int]]]:
        """method -> metric key -> (mean, std, n) over clips (NaNs skipped).

        ``av_offset`` is summarised as the mean absolute offset; ``blink_dur`` pools every blink
        of the method (mean and std over blinks, n = number of blinks).
        """
        out: dict[str, dict[str, tuple[float, float, int]]] = {}
        for method in self.methods:
            rows = [r for r in self.per_clip if r["method"] == method]
            stats: dict[str, tuple[float, float, int]] = {}
            for spec in _ALL_METRICS:
                if spec.key == "blink_dur":
                    vals = np.asarray(self.blink_durations.get(method, []), dtype=np.float64)
                else:
                    vals = np.asarray([r.get(spec.key, math.nan) for r in rows], dtype=np.float64)
                    if spec.key == "av_offset":
                        vals = np.abs(vals)
                vals = vals[np.isfinite(vals)]
                stats[spec.key] = (
                    (float(vals.mean()), float(vals.std()), int(vals.size)) if vals.size else (math.nan, math.nan, 0)
                )
            out[method] = stats
        return out

    def to_markdown(self, per_clip: bool = True) -> str:
        """The report as Markdown: header, summary table (mean ± std), notes, per-clip table."""
        lines = ["# talkface evaluation", ""]
        for key in ("date", "command", "seed", "data", "clips", "sync_model", "lip_reader", "host"):
            if key in self.header:
                value = f"`{self.header[key]}`" if key == "command" else str(self.header[key])
                lines.append(f"- **{key}**: {value}")
        lines.append(f"- **config**: `{json.dumps(self.header.get('config', {}), sort_keys=True)}`")
        lines += ["", "## Summary (mean ± std over clips)", ""]
        summary = self.summary()
        lines += _mean_std_table(self.methods, METRICS, summary,
                                 not_applicable=lambda method, spec: method == GROUND_TRUTH and spec.full_reference)
        lines += [
            "",
            "↑ higher is better, ↓ lower is better. AV off. is the mean |offset| in 25 fps frames; Blink dur. pools "
            "all blinks of a method. ACD is in dlib descriptor units (same person < 0.6) and LSE-D/LSE-C come from "
            "talkface's own sync model (distances in [0, 2]): compare rows with each other and with ground truth, "
            "not with the papers' numbers (OpenFace ACD, original SyncNet).",
        ]
        lines += _lipread_markdown(self.methods, summary)
        if any(summary[m][spec.key][2] for m in self.methods for spec in RENDER_METRICS):
            lines += _render_markdown(self.methods, summary)
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        if per_clip:
            row_cols = METRICS + LIPREAD_METRICS[:1] + RENDER_METRICS
            lines += ["", "## Per clip", ""]
            lines.append("| Method | Clip | " + " | ".join(spec.label for spec in row_cols) + " |")
            lines.append("|---" * (len(row_cols) + 2) + "|")
            for row in self.per_clip:
                cells = [_fmt(row.get(spec.key, math.nan), spec.digits) for spec in row_cols]
                lines.append(f"| {row['method']} | {row['clip']} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def write(self, out_dir: PathLike) -> dict[str, Path]:
        """Write ``report.md``, ``summary.csv`` and ``per_clip.csv`` into ``out_dir`` (atomically).

        Returns
        -------
        name -> path of each file written.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"report": out / "report.md", "summary": out / "summary.csv", "per_clip": out / "per_clip.csv"}
        with atomic_path(paths["report"]) as tmp:
            tmp.write_text(self.to_markdown())
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["method", "metric", "mean", "std", "n"])
        for method, stats in self.summary().items():
            for key, (mean, std, n) in stats.items():
                writer.writerow([method, key, _csv_num(mean), _csv_num(std), n])
        with atomic_path(paths["summary"]) as tmp:
            tmp.write_text(buf.getvalue())
        buf = io.StringIO()
        keys = [spec.key for spec in _ALL_METRICS]
        writer = csv.writer(buf)
        writer.writerow(["method", "clip", *keys])
        for row in self.per_clip:
            writer.writerow([row["method"], row["clip"], *[_csv_num(row.get(k, math.nan)) for k in keys]])
        with atomic_path(paths["per_clip"]) as tmp:
            tmp.write_text(buf.getvalue())
        return paths


def _render_markdown(
    methods: Sequence[str], summary: Mapping[str, Mapping[str, tuple[float, float, int]]]
) -> list[str]:
    """The rendering section (issue 14): sharpness ratios, colour change, opening ratio, mouth LPIPS."""
    lines = ["", "## Rendering (mean ± std over clips)", ""]
    lines += _mean_std_table(methods, RENDER_METRICS, summary)
    lines += [
        "",
        "Sharp.: variance of the Laplacian / CPBD of the face box (tracked landmarks) over the real frames' "
        "(1 = as sharp as the real video). Colour Δ: change of the face's mean colour outside mouth and eyes vs. "
        "the still, 0-255. Open ratio: mouth opening (dlib, inner lips) of the frames over the requested one, on "
        "frames where the request is open (1 = as asked); a model run's request is the landmarks it rendered, "
        "the still baseline's the real frames' (so it shows the still's opening over the real speaker's); n/a "
        "for videos made elsewhere and for ground truth. Mouth LPIPS: mouth crops (real landmarks) vs. the real "
        "frames'. See talkface.eval.render_metrics and docs/render.md.",
    ]
    return lines


def _lipread_markdown(
    methods: Sequence[str], summary: Mapping[str, Mapping[str, tuple[float, float, int]]]
) -> list[str]:
    """The lip-reading section: WER and per-slot accuracy per method (n/a without GRID clips)."""
    from talkface.eval.lipread import chance_wer

    lines = ["", "## Lip reading (GRID clips)", ""]
    lines.append("| Method | clips | " + " | ".join(spec.label + _arrow(spec) for spec in LIPREAD_METRICS) + " |")
    lines.append("|---" * (len(LIPREAD_METRICS) + 2) + "|")
    for method in methods:
        n = summary[method]["wer"][2]
        cells = []
        for spec in LIPREAD_METRICS:
            mean, std, count = summary[method][spec.key]
            cells.append("n/a" if count == 0 else f"{mean:.1f} ± {std:.1f}" if spec.key == "wer" else f"{mean:.1f}")
        lines.append(f"| {method} | {n} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "WER: word error rate (%) of talkface's GRID lip reader (trained on GRID speaker s1 only; docs/evaluation.md) "
        "on the mouth crops of the frames being scored; per-slot columns: % of clips whose word in that slot is "
        f"read right. Chance (guessing every slot from the grammar alone): WER {100 * chance_wer():.1f} %. "
        "n/a: no GRID sentence (file name or .align) for the clips.",
    ]
    return lines


def _mean_std_table(
    methods: Sequence[str],
    specs: Sequence[MetricSpec],
    summary: Mapping[str, Mapping[str, tuple[float, float, int]]],
    not_applicable: Callable[[str, MetricSpec], bool] = lambda method, spec: False,
) -> list[str]:
    """A markdown table, one row per method, one "mean ± std" column per metric ("n/a" where no clip
    had a value or ``not_applicable(method, spec)``)."""
    lines = ["| Method | " + " | ".join(spec.label + _arrow(spec) for spec in specs) + " |",
             "|---" * (len(specs) + 1) + "|"]
    for method in methods:
        cells = []
        for spec in specs:
            mean, std, n = summary[method][spec.key]
            na = n == 0 or not_applicable(method, spec)
            cells.append("n/a" if na else f"{mean:.{spec.digits}f} ± {std:.{spec.digits}f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def _arrow(spec: MetricSpec) -> str:
    return "" if spec.higher_is_better is None else (" ↑" if spec.higher_is_better else " ↓")


def _fmt(value: float, digits: int) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _csv_num(value: float) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:.6g}"


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def copy_still_model(num_frames: int) -> TalkingHeadModel:
    """The still baseline: the still repeated ``num_frames`` times (audio ignored)."""

    def model(still: np.ndarray, audio: np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(still)[None], num_frames, axis=0)

    return model


def samples_from_dataset(
    dataset: PathLike, split: str = "test", *, still: str = "first", max_clips: int | None = None
) -> Iterator[EvalSample]:
    """Ground-truth samples from a prepared dataset: aligned crops, speech, still frame.

    Parameters
    ----------
    dataset:
        Folder written by ``talkface preprocess`` (needs the crop videos).
    split:
        Split to evaluate (``"train"``, ``"val"``, ``"test"``), or ``"all"`` for every clip.
    still:
        ``"first"`` or ``"neutral"`` (see :class:`EvalConfig`).
    max_clips:
        At most this many clips.

    Yields
    ------
    :class:`EvalSample` with (T, S, S, 3) crops and 16 kHz audio.

    Raises
    ------
    InputError
        Not a prepared dataset, no such split, an empty split, a clip without its crop video.
    """
    from talkface.data.dataset import load_clip
    from talkface.eval.lipread import clip_sources

    ds, ids = dataset_clip_ids(dataset, split, max_clips)
    sources = clip_sources(dataset)
    for clip_id in ids:
        clip = load_clip(ds.clip_path(clip_id))
        if clip.crop_path is None:
            raise InputError(ds.clip_path(clip_id), "prepared clip has no crop video")
        audio = _to_16k(clip.audio, clip.sample_rate)
        index = clip.neutral_index if still == "neutral" else 0
        yield EvalSample(clip_id, clip.crops(), audio, clip.fps, index, sources.get(clip_id))


def dataset_clip_ids(
    dataset: PathLike, split: str = "test", max_clips: int | None = None
) -> tuple[PreparedDataset, list[str]]:
    """The clip ids a dataset evaluation covers, checked before any work is done.

    Parameters
    ----------
    dataset:
        Folder written by ``talkface preprocess``.
    split:
        ``"train"``, ``"val"``, ``"test"`` (as listed in the dataset's ``splits.json``) or
        ``"all"`` (every prepared clip).
    max_clips:
        Keep at most this many (the first, in split order).

    Returns
    -------
    The opened :class:`~talkface.data.dataset.PreparedDataset` and the clip ids.

    Raises
    ------
    InputError
        Not a prepared dataset, an unknown split, no clips.
    """
    from talkface.data.dataset import SPLITS, PreparedDataset

    ds = PreparedDataset(dataset)
    if split == "all":
        ids = ds.ids()
    else:
        known = [s for s in SPLITS if isinstance(ds.splits.get(s), list)]
        if split not in known:
            listed = ", ".join(f"{s} ({len(ds.splits[s])} clips)" for s in known) or "none"
            raise InputError(dataset, f"no split {split!r} (splits: {listed}; 'all' = every clip)")
        ids = ds.ids(split)
    if not ids:
        raise InputError(dataset, f"split {split!r} has no clips")
    if max_clips is not None:
        if max_clips < 1:
            raise ValueError(f"max_clips must be >= 1, got {max_clips}")
        ids = ids[:max_clips]
    return ds, ids


def samples_from_pairs(
    pairs: Sequence[tuple[PathLike, PathLike]], still: str = "first"
) -> Iterator[tuple[EvalSample, np.ndarray, str]]:
    """Ground truth and generated frames from pairs of video files.

    Parameters
    ----------
    pairs:
        ``(generated video, real video)`` files; the speech is read from the real video, and a
        generated video at another frame rate is resampled to the real one (nearest frame).
    still:
        Only ``"first"`` is possible for files (the real video's first frame).

    Yields
    ------
    ``(sample, generated frames (T', H', W', 3) uint8, name)``.
    """
    from talkface.io.media import read_audio, read_video

    if still != "first":
        raise ValueError("video pairs are evaluated with the first real frame as the still")
    for generated, real in pairs:
        frames, fps = read_video(real)
        audio = read_audio(real, sample_rate=_SAMPLE_RATE)
        gen, gen_fps = read_video(generated)
        if abs(gen_fps - fps) > 1e-3:  # nearest generated frame at each real frame time
            idx = np.minimum(np.round(np.arange(round(gen.shape[0] * fps / gen_fps)) * gen_fps / fps), gen.shape[0] - 1)
            gen = gen[idx.astype(np.int64)]
        sample = EvalSample(Path(real).stem, frames, audio.astype(np.float32), fps, 0, os.fspath(real))
        yield sample, gen, Path(generated).stem


def _to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    a = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sample_rate == _SAMPLE_RATE:
        return a
    import librosa

    return np.asarray(librosa.resample(a, orig_sr=sample_rate, target_sr=_SAMPLE_RATE), dtype=np.float32)


def _conform(frames: np.ndarray, like: np.ndarray, method: str, clip_id: str) -> tuple[np.ndarray, list[str]]:
    """Make generated frames the shape of the real ones (cut/pad time, resize space)."""
    f = np.asarray(frames)
    notes: list[str] = []
    if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8 or f.shape[0] == 0:
        raise ValueError(f"{method} on {clip_id}: frames must be (T, H, W, 3) uint8, got {f.shape} {f.dtype}")
    t, h, w = like.shape[:3]
    if f.shape[1:3] != (h, w):
        notes.append(f"{method}: frames {f.shape[2]}x{f.shape[1]} resized to {w}x{h}")
        f = np.stack([cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA) for x in f])
    if f.shape[0] != t:
        notes.append(f"{method} on {clip_id}: {f.shape[0]} frames for {t} real ones (cut / last frame repeated)")
        f = f[:t] if f.shape[0] > t else np.concatenate([f, np.repeat(f[-1:], t - f.shape[0], axis=0)])
    return f, notes


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


class _Scorers:
    """The networks, loaded once per run."""

    def __init__(self, config: EvalConfig) -> None:
        from talkface.face.detect import FaceDetector
        from talkface.face.landmarks import LandmarkDetector

        self.config = config
        self.detector = FaceDetector()
        self.predictor = LandmarkDetector()
        self._dlib: Any = None
        self._facenet: Any = None
        self._lpips: Any = None
        self._sync: Any = None
        self._lipreader: Any = None

    @property
    def dlib(self) -> Any:
        if self._dlib is None:
            from talkface.face.embed import FaceEmbedder

            self._dlib = FaceEmbedder()
        return self._dlib

    @property
    def facenet(self) -> Any:
        if self._facenet is None:
            from talkface.eval.identity import FaceNetEmbedder

            self._facenet = FaceNetEmbedder()
        return self._facenet

    @property
    def lpips(self) -> Any:
        if self._lpips is None:
            from talkface.nets.vgg import LPIPS

            self._lpips = LPIPS().to(self.config.device).eval()
        return self._lpips

    @property
    def sync(self) -> Any:
        if self._sync is None:
            from talkface.eval.sync import SyncScorer

            self._sync = SyncScorer(self.config.sync_model, device=self.config.device)
        return self._sync

    @property
    def lipreader(self) -> Any:
        if self._lipreader is None:
            from talkface.eval.lipread import LipReader

            self._lipreader = LipReader(self.config.lipreader, device=self.config.device)
        return self._lipreader


def _track(frames: np.ndarray, fps: float, scorers: _Scorers) -> np.ndarray | None:
    """(T, 68, 2) landmarks tracked on the frames, or None when no face is found."""
    from talkface.face.landmarks import NoFaceError, track_landmarks

    try:
        result = track_landmarks(frames, fps=fps, detector=scorers.detector, predictor=scorers.predictor)
    except (NoFaceError, InputError):
        return None
    return result.landmarks.astype(np.float32)


def _score_clip(
    frames: np.ndarray,
    sample: EvalSample,
    real_landmarks: np.ndarray | None,
    scorers: _Scorers,
    *,
    is_real: bool,
    requested: np.ndarray | None = None,
    render_ref: dict[str, float] | None = None,
) -> _Scored:
    """All metrics of generated ``frames`` (already conformed) on one sample.

    ``requested``: the (T, 68, 2) landmarks the method was asked to render (for the opening ratio);
    ``render_ref``: the real frames' sharpness (:func:`talkface.eval.render_metrics.real_reference`).
    """
    from talkface.eval import identity, metrics, motion_metrics
    from talkface.eval.lipread import grid_sentence
    from talkface.face.eyes import detect_blinks, eye_aspect_ratio

    cfg = scorers.config
    values: dict[str, float] = {}
    notes: list[str] = []
    real = sample.frames
    if not is_real:
        values["psnr"] = metrics.psnr(real, frames)
        values["ssim"] = metrics.ssim(real, frames)
        if cfg.lpips:
            values["lpips"] = metrics.lpips(real, frames, model=scorers.lpips, stride=cfg.lpips_stride)
    sharp = frames[:: max(1, cfg.sharpness_stride)]
    values["cpbd"] = metrics.cpbd(sharp) if min(frames.shape[1:3]) >= 64 else math.nan
    values["fdbm"] = metrics.fdbm(sharp)
    landmarks = real_landmarks if is_real else _track(frames, sample.fps, scorers)
    blink_durations: list[float] = []
    mouths = None
    if landmarks is None:
        notes.append(f"no face found in the frames of {sample.clip_id}: landmark metrics skipped")
    else:
        if real_landmarks is not None and not is_real:
            values["lmd"] = motion_metrics.landmark_distance(landmarks, real_landmarks)
            values["mouth_corr"] = motion_metrics.mouth_opening_correlation(landmarks, real_landmarks)
        if real_landmarks is not None and cfg.identity:
            still_lm = real_landmarks[sample.still_index]
            step = cfg.identity_stride
            values["acd"] = identity.acd(frames, landmarks, sample.still, still_lm, embedder=scorers.dlib, stride=step)
            values["facenet"] = identity.facenet_distance(
                frames, landmarks, sample.still, still_lm, embedder=scorers.facenet, stride=step
            )
        if cfg.sync:
            from talkface.eval.sync import mouth_crops

            mouths = mouth_crops(frames, landmarks)
            try:
                sync = scorers.sync.score(mouths, sample.audio, _SAMPLE_RATE, sample.fps)
            except ValueError as exc:
                notes.append(f"{sample.clip_id}: sync not scored ({exc})")
            else:
                values.update(av_offset=float(sync.offset), lse_d=sync.lse_d, lse_c=sync.lse_c)
        sentence = grid_sentence(sample.clip_id, sample.source) if cfg.lipread else None
        if sentence is not None:
            reading = scorers.lipreader.read(frames, landmarks, sample.fps)
            values.update({k: 100.0 * v for k, v in reading.score(sentence).items()})
        if cfg.render and real_landmarks is not None:
            from talkface.eval.render_metrics import render_scores

            values.update(render_scores(
                frames, landmarks, real, real_landmarks, sample.still_index, requested,
                lpips_model=scorers.lpips if cfg.lpips and not is_real else None,
                cpbd_stride=max(1, cfg.render_stride), lpips_stride=max(1, cfg.render_stride), reference=render_ref,
            ))
            if is_real:
                values["open_ratio"] = math.nan  # the reference itself: 1 by definition
        blinks = detect_blinks(eye_aspect_ratio(landmarks), sample.fps)
        values["blink_rate"] = len(blinks) / (frames.shape[0] / sample.fps)
        blink_durations = [(e - s) / sample.fps for s, e in blinks]
        values["blink_dur"] = float(np.mean(blink_durations)) if blink_durations else math.nan
    return _Scored(values, blink_durations, frames, mouths, notes)


def _seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _label(image: np.ndarray, text: str) -> np.ndarray:
    """Image with a caption bar above it."""
    bar = np.full((18, image.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, image], axis=0)


def _strip(rows: list[tuple[str, _Scored]], count: int) -> np.ndarray:
    """One image: per method a row of frames and a row of mouth crops (same frame indices)."""
    t = rows[0][1].frames.shape[0]
    idx = np.linspace(0, t - 1, num=max(1, min(count, t))).round().astype(int)
    h = rows[0][1].frames.shape[1]
    blocks = []
    for name, scored in rows:
        frames = np.concatenate([scored.frames[i] for i in idx], axis=1)
        blocks.append(_label(frames, name))
        if scored.mouths is not None:
            cell_w = scored.frames.shape[2]
            mouths = [cv2.resize(scored.mouths[i], (cell_w, cell_w // 2), interpolation=cv2.INTER_LINEAR) for i in idx]
            blocks.append(np.repeat(np.concatenate(mouths, axis=1)[:, :, None], 3, axis=2))
    del h
    width = max(b.shape[1] for b in blocks)
    blocks = [np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0)), constant_values=255) for b in blocks]
    return np.concatenate(blocks, axis=0)


def _blink_histogram(durations: Mapping[str, list[float]], fps: float, path: Path) -> None:
    """Histogram of blink durations in frames per method (Das et al. Fig. 5)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    frames = {m: np.round(np.asarray(d) * fps).astype(int) for m, d in durations.items() if len(d)}
    top = max([int(v.max()) for v in frames.values()], default=10)
    bins = [b + 0.5 for b in range(top + 1)]
    for method, values in frames.items():
        ax.hist(values, bins=bins, alpha=0.5, label=f"{method} ({len(values)} blinks)")
    ax.set_xlabel("blink duration (frames)")
    ax.set_ylabel("blinks")
    ax.set_title("Blink durations")
    if frames:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no blinks detected", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def evaluate_videos(
    pairs: Sequence[tuple[PathLike, PathLike]] | None = None,
    *,
    dataset: PathLike | None = None,
    split: str = "test",
    models: Mapping[str, TalkingHeadModel] | None = None,
    generated: Mapping[str, PathLike] | None = None,
    out_dir: PathLike | None = None,
    config: EvalConfig | None = None,
    command: str | None = None,
    progress: bool = True,
) -> EvalTable:
    """Evaluate talking-head methods against real clips and write the report.

    Two ways in:

    * ``pairs``: ``(generated video, real video)`` files (one method, named "generated");
    * ``dataset`` (+ ``split``): held-out clips of a prepared dataset, scored on their aligned
      face crops; the methods are ``models`` (callables, run here with fixed seeds) and/or
      ``generated`` (method name -> folder with ``<speaker>/<utterance>.mp4`` per clip id).

    Ground truth and the still baseline are always added.

    Parameters
    ----------
    pairs:
        Video file pairs, or None.
    dataset, split:
        Prepared dataset and split, or None.
    models:
        Method name -> :data:`TalkingHeadModel`.
    generated:
        Method name -> folder of generated videos named by clip id.
    out_dir:
        Where to write the report files (nothing is written if None).
    config:
        Settings (:class:`EvalConfig`).
    command:
        The command line to record (default: this process's ``sys.argv``).
    progress:
        Show a progress bar.

    Returns
    -------
    The :class:`EvalTable` (also written to ``out_dir``).

    Raises
    ------
    InputError
        Unreadable dataset or video files, a generated video missing for a clip.
    """
    from tqdm import tqdm

    cfg = config or EvalConfig()
    if (pairs is None) == (dataset is None):
        raise ValueError("give either pairs of videos or a prepared dataset")
    if cfg.still not in ("first", "neutral"):
        raise ValueError(f"still must be 'first' or 'neutral', got {cfg.still!r}")
    scorers = _Scorers(cfg)
    methods: list[str] = [GROUND_TRUTH, STILL_BASELINE]
    per_clip: list[dict[str, Any]] = []
    blinks: dict[str, list[float]] = {}
    notes: list[str] = []
    strip_rows: list[tuple[str, _Scored]] = []
    fps_seen: list[float] = []
    open_na: list[str] = []

    if pairs is not None:
        source: Iterator[tuple[EvalSample, dict[str, Callable[[], _Made]]]] = (
            (sample, {"generated": functools.partial(_given, gen)})
            for sample, gen, _ in samples_from_pairs(pairs, cfg.still)
        )
        methods.append("generated")
        total = len(pairs)
        data_desc = f"{len(pairs)} video pairs"
    else:
        assert dataset is not None
        method_names = list(models or {}) + [m for m in (generated or {}) if m not in (models or {})]
        clash = [m for m in method_names if m in methods]
        if clash:
            raise ValueError(f"method names {clash} are reserved for the reference rows")
        methods += method_names
        _, ids = dataset_clip_ids(dataset, split, cfg.max_clips)
        for name, folder in (generated or {}).items():  # fail before any work, not at clip 40
            if name in (models or {}):
                continue
            missing = [c for c in ids if not (Path(folder) / f"{c}.mp4").is_file()]
            if missing:
                raise InputError(
                    folder, f"no generated video for {len(missing)} of {len(ids)} clips (e.g. {missing[0]}.mp4)"
                )
        source = _dataset_source(dataset, split, cfg, models or {}, generated or {})
        total = len(ids)
        data_desc = f"{os.fspath(dataset)} split {split}"

    for clip_no, (sample, makers) in enumerate(tqdm(source, total=total, desc="evaluate", disable=not progress)):
        fps_seen.append(sample.fps)
        real_landmarks = _track(sample.frames, sample.fps, scorers)
        if real_landmarks is None:
            notes.append(f"{sample.clip_id}: no face found in the real frames; clip skipped")
            continue
        # the still baseline is measured against what the real speaker did (its opening: the photo's
        # over the real one); methods against the landmarks they were asked to render, if they say
        outputs: list[tuple[str, np.ndarray, np.ndarray | None]] = [
            (GROUND_TRUTH, sample.frames, None),
            (STILL_BASELINE, copy_still_model(sample.frames.shape[0])(sample.still, sample.audio), real_landmarks),
        ]
        if cfg.lipread:
            from talkface.eval.lipread import grid_sentence

            if grid_sentence(sample.clip_id, sample.source) is None:
                notes.append(f"{sample.clip_id}: not a GRID sentence (name or .align file): WER n/a")
        for name, make in makers.items():
            _seed_all(cfg.seed + clip_no)
            raw, requested = make()
            conformed, extra = _conform(raw, sample.frames, name, sample.clip_id)
            notes += [n for n in extra if n not in notes]
            if requested is not None:
                requested = _conform_landmarks(requested, np.shape(raw), sample.frames)
            elif cfg.render and name not in open_na:
                open_na.append(name)
                notes.append(f"{name}: no requested landmarks (a video made elsewhere): Open ratio n/a")
            outputs.append((name, conformed, requested))
        render_ref = None
        if cfg.render:
            from talkface.eval.render_metrics import real_reference

            render_ref = real_reference(sample.frames, real_landmarks, max(1, cfg.render_stride))
        for name, frames, requested in outputs:
            scored = _score_clip(frames, sample, real_landmarks, scorers, is_real=name == GROUND_TRUTH,
                                 requested=requested, render_ref=render_ref)
            notes += scored.notes
            per_clip.append({"method": name, "clip": sample.clip_id, **scored.values})
            blinks.setdefault(name, []).extend(scored.blink_durations)
            if clip_no == 0:
                strip_rows.append((name, scored))

    header = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(shlex.quote(a) for a in sys.argv),
        "seed": cfg.seed,
        "data": data_desc,
        "clips": len({r["clip"] for r in per_clip}),
        "sync_model": _sync_model_desc(cfg),
        "lip_reader": _lipreader_desc(cfg),
        "host": f"{platform.node()} python {platform.python_version()}",
        "config": asdict(cfg),
    }
    table = EvalTable(methods=methods, per_clip=per_clip, blink_durations=blinks, header=header, notes=notes)
    if out_dir is not None:
        from talkface.io.images import write_image

        out = Path(out_dir)
        table.write(out)
        if strip_rows:
            write_image(out / "strip.png", _strip(strip_rows, cfg.strip_frames))
        _blink_histogram(blinks, float(np.median(fps_seen)) if fps_seen else 25.0, out / "blink_durations.png")
    return table


def _dataset_source(
    dataset: PathLike,
    split: str,
    cfg: EvalConfig,
    models: Mapping[str, TalkingHeadModel],
    generated: Mapping[str, PathLike],
) -> Iterator[tuple[EvalSample, dict[str, Callable[[], _Made]]]]:
    """Samples of a prepared split with a frame maker per method."""
    for sample in samples_from_dataset(dataset, split, still=cfg.still, max_clips=cfg.max_clips):
        makers: dict[str, Callable[[], _Made]] = {}
        for name, model in models.items():
            makers[name] = functools.partial(_run_model, model, sample)
        for name, folder in generated.items():
            if name in makers:
                continue
            path = Path(folder) / f"{sample.clip_id}.mp4"
            if not path.is_file():
                raise InputError(path, f"generated video for clip {sample.clip_id} not found")
            makers[name] = functools.partial(_read_frames, path)
        yield sample, makers


#: What a method made: frames and, where the method says so, the landmarks it was asked to render.
_Made = tuple[np.ndarray, np.ndarray | None]


def _run_model(model: TalkingHeadModel, sample: EvalSample) -> _Made:
    """Run a model; its requested landmarks come from ``last_requested_landmarks`` of the model's owner
    (:meth:`talkface.pipeline.Animator.talking_head` sets it), if it has one."""
    owner = getattr(model, "__self__", model)
    if hasattr(owner, "last_requested_landmarks"):
        owner.last_requested_landmarks = None
    frames = np.asarray(model(sample.still.copy(), sample.audio.copy()))
    requested = getattr(owner, "last_requested_landmarks", None)
    if requested is not None:
        requested = np.asarray(requested, np.float32)
        if requested.ndim != 3 or requested.shape[1:] != (68, 2) or len(requested) != len(frames):
            requested = None
    return frames, requested


def _given(frames: np.ndarray) -> _Made:
    return np.asarray(frames), None


def _read_frames(path: Path) -> _Made:
    from talkface.io.media import read_video

    return read_video(path)[0], None


def _conform_landmarks(requested: np.ndarray, raw_shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
    """Requested landmarks of frames of ``raw_shape`` moved with :func:`_conform` (scaled, cut/padded)."""
    t, h, w = like.shape[:3]
    lm = requested * np.array([w / raw_shape[2], h / raw_shape[1]], np.float32)
    return lm[:t] if len(lm) >= t else np.concatenate([lm, np.repeat(lm[-1:], t - len(lm), axis=0)])


def _sync_model_desc(cfg: EvalConfig) -> str:
    if not cfg.sync:
        return "not used"
    from talkface.eval.sync import default_syncnet_path

    path = Path(cfg.sync_model) if cfg.sync_model else default_syncnet_path()
    return f"{path.name} ({path.stat().st_size // 1024} KiB)" if path.is_file() else f"{path} (missing)"


def _lipreader_desc(cfg: EvalConfig) -> str:
    if not cfg.lipread:
        return "not used"
    from talkface.eval.lipread import default_lipreader_path

    path = Path(cfg.lipreader) if cfg.lipreader else default_lipreader_path()
    return f"{path.name} ({path.stat().st_size // 1024} KiB)" if path.is_file() else f"{path} (missing)"
