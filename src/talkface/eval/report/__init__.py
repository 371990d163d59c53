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

The package: :mod:`~talkface.eval.report.table` (columns, :class:`EvalTable`, Markdown and CSV),
:mod:`~talkface.eval.report.config` (:class:`EvalConfig`), :mod:`~talkface.eval.report.inputs`
(samples, methods' frames), :mod:`~talkface.eval.report.scoring` (every metric of one clip),
:mod:`~talkface.eval.report.figures` (PNGs) and :mod:`~talkface.eval.report.run`
(:func:`evaluate_videos`).
"""

from __future__ import annotations

from talkface.eval.report.config import EvalConfig
from talkface.eval.report.inputs import (
    EvalSample,
    TalkingHeadModel,
    check_sources,
    copy_still_model,
    dataset_clip_ids,
    samples_from_dataset,
    samples_from_pairs,
)
from talkface.eval.report.run import evaluate_videos
from talkface.eval.report.table import (
    GROUND_TRUTH,
    LIPREAD_METRICS,
    METRICS,
    RENDER_METRICS,
    STILL_BASELINE,
    EvalTable,
    MetricSpec,
)

__all__ = [
    "GROUND_TRUTH",
    "LIPREAD_METRICS",
    "METRICS",
    "RENDER_METRICS",
    "STILL_BASELINE",
    "EvalConfig",
    "EvalSample",
    "EvalTable",
    "MetricSpec",
    "TalkingHeadModel",
    "copy_still_model",
    "check_sources",
    "dataset_clip_ids",
    "evaluate_videos",
    "samples_from_dataset",
    "samples_from_pairs",
]
