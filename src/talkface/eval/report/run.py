"""The entry point :func:`evaluate_videos`: run the methods on the clips, score them, write the report."""

from __future__ import annotations

import datetime as _dt
import functools
import os
import platform
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from talkface.errors import InputError
from talkface.eval.render_metrics import real_reference
from talkface.eval.report.config import EvalConfig
from talkface.eval.report.figures import blink_histogram, strip_figure
from talkface.eval.report.inputs import (
    EvalSample,
    Made,
    PathLike,
    TalkingHeadModel,
    conform,
    conform_landmarks,
    copy_still_model,
    dataset_clip_ids,
    given,
    read_frames,
    run_model,
    samples_from_dataset,
    samples_from_pairs,
)
from talkface.eval.report.scoring import Scored, Scorers, score_clip, seed_all, track
from talkface.eval.report.table import GROUND_TRUTH, STILL_BASELINE, EvalTable


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

    Args:
        pairs: Video file pairs, or None.
        dataset, split: Prepared dataset and split, or None.
        models: Method name -> :data:`TalkingHeadModel`.
        generated: Method name -> folder of generated videos named by clip id.
        out_dir: Where to write the report files (nothing is written if None).
        config: Settings (:class:`EvalConfig`).
        command: The command line to record (default: this process's ``sys.argv``).
        progress: Show a progress bar.

    Returns:
        The :class:`EvalTable` (also written to ``out_dir``).

    Raises:
        InputError: Unreadable dataset or video files, a generated video missing for a clip.
    """
    from tqdm import tqdm

    cfg = config or EvalConfig()
    if (pairs is None) == (dataset is None):
        raise ValueError("give either pairs of videos or a prepared dataset")
    if cfg.still not in ("first", "neutral"):
        raise ValueError(f"still must be 'first' or 'neutral', got {cfg.still!r}")
    scorers = Scorers(cfg)
    run = _Run(methods=[GROUND_TRUTH, STILL_BASELINE])
    source, total, data_desc = _open_source(pairs, dataset, split, cfg, models or {}, generated or {}, run.methods)
    for clip_no, (sample, makers) in enumerate(tqdm(source, total=total, desc="evaluate", disable=not progress)):
        _evaluate_clip(clip_no, sample, makers, scorers, run)

    header = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(shlex.quote(a) for a in sys.argv),
        "seed": cfg.seed,
        "data": data_desc,
        "clips": len({r["clip"] for r in run.per_clip}),
        "sync_model": _sync_model_desc(cfg),
        "lip_reader": _lipreader_desc(cfg),
        "host": f"{platform.node()} python {platform.python_version()}",
        "config": asdict(cfg),
    }
    table = EvalTable(methods=run.methods, per_clip=run.per_clip, blink_durations=run.blinks, header=header,
                      notes=run.notes)
    if out_dir is not None:
        from talkface.io.images import write_image  # lazy: loads PIL

        out = Path(out_dir)
        table.write(out)
        if run.strip_rows:
            write_image(out / "strip.png", strip_figure(run.strip_rows, cfg.strip_frames))
        fps = float(np.median(run.fps_seen)) if run.fps_seen else 25.0
        blink_histogram(run.blinks, fps, out / "blink_durations.png")
    return table


#: A clip to evaluate and, per method, what makes its frames.
_Source = Iterator[tuple[EvalSample, dict[str, Callable[[], Made]]]]


@dataclass
class _Run:
    """What the clip loop of :func:`evaluate_videos` collects.

    Attributes:
        methods: row names (ground truth and the still baseline first).
        per_clip: one dict per (method, clip).
        blinks: method -> every blink's duration, seconds.
        notes: warnings, in the order met.
        strip_rows: the first clip's scored frames per method (for ``strip.png``).
        fps_seen: frame rate of each clip.
        open_na: methods already noted as having no requested landmarks.
    """

    methods: list[str]
    per_clip: list[dict[str, Any]] = field(default_factory=list)
    blinks: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    strip_rows: list[tuple[str, Scored]] = field(default_factory=list)
    fps_seen: list[float] = field(default_factory=list)
    open_na: list[str] = field(default_factory=list)


def _open_source(
    pairs: Sequence[tuple[PathLike, PathLike]] | None,
    dataset: PathLike | None,
    split: str,
    cfg: EvalConfig,
    models: Mapping[str, TalkingHeadModel],
    generated: Mapping[str, PathLike],
    methods: list[str],
) -> tuple[_Source, int, str]:
    """The clips and their frame makers, their count and the data's description; adds the method rows
    to ``methods``. A dataset's clip ids and generated videos are checked before any work."""
    if pairs is not None:
        source: _Source = (
            (sample, {"generated": functools.partial(given, gen)})
            for sample, gen, _ in samples_from_pairs(pairs, cfg.still)
        )
        methods.append("generated")
        return source, len(pairs), f"{len(pairs)} video pairs"
    assert dataset is not None
    method_names = list(models) + [m for m in generated if m not in models]
    clash = [m for m in method_names if m in methods]
    if clash:
        raise ValueError(f"method names {clash} are reserved for the reference rows")
    methods += method_names
    _, ids = dataset_clip_ids(dataset, split, cfg.max_clips)
    for name, folder in generated.items():  # fail before any work, not at clip 40
        if name in models:
            continue
        missing = [c for c in ids if not (Path(folder) / f"{c}.mp4").is_file()]
        if missing:
            raise InputError(
                folder, f"no generated video for {len(missing)} of {len(ids)} clips (e.g. {missing[0]}.mp4)"
            )
    source = _dataset_source(dataset, split, cfg, models, generated)
    return source, len(ids), f"{os.fspath(dataset)} split {split}"


def _evaluate_clip(
    clip_no: int, sample: EvalSample, makers: Mapping[str, Callable[[], Made]], scorers: Scorers, run: _Run
) -> None:
    """Run every method on one clip, score each row (reference rows included) and add them to ``run``."""
    cfg = scorers.config
    notes = run.notes
    run.fps_seen.append(sample.fps)
    real_landmarks = track(sample.frames, sample.fps, scorers)
    if real_landmarks is None:
        notes.append(f"{sample.clip_id}: no face found in the real frames; clip skipped")
        return
    # the still baseline is measured against what the real speaker did (its opening: the photo's
    # over the real one); methods against the landmarks they were asked to render, if they say
    outputs: list[tuple[str, np.ndarray, np.ndarray | None, np.ndarray | None]] = [
        (GROUND_TRUTH, sample.frames, None, None),
        (STILL_BASELINE, copy_still_model(sample.frames.shape[0])(sample.still, sample.audio), real_landmarks, None),
    ]
    if cfg.lipread:
        from talkface.eval.lipread import grid_sentence  # lazy: loads torch

        if grid_sentence(sample.clip_id, sample.source) is None:
            notes.append(f"{sample.clip_id}: not a GRID sentence (name or .align file): WER n/a")
    for name, make in makers.items():
        seed_all(cfg.seed + clip_no)
        raw, requested, warped = make()
        conformed, extra = conform(raw, sample.frames, name, sample.clip_id)
        notes += [n for n in extra if n not in notes]
        if warped is not None:
            warped, _ = conform(warped, sample.frames, name, sample.clip_id)
        if requested is not None:
            requested = conform_landmarks(requested, np.shape(raw), sample.frames)
        elif cfg.render and name not in run.open_na:
            run.open_na.append(name)
            notes.append(f"{name}: no requested landmarks (a video made elsewhere): Open ratio n/a")
        outputs.append((name, conformed, requested, warped))
    render_ref = None
    if cfg.render:
        render_ref = real_reference(sample.frames, real_landmarks, max(1, cfg.render_stride))
    for name, frames, requested, warped in outputs:
        scored = score_clip(frames, sample, real_landmarks, scorers, is_real=name == GROUND_TRUTH,
                            requested=requested, render_ref=render_ref, real_request=name == STILL_BASELINE,
                            warped=warped)
        notes += scored.notes
        run.per_clip.append({"method": name, "clip": sample.clip_id, **scored.values})
        run.blinks.setdefault(name, []).extend(scored.blink_durations)
        if clip_no == 0:
            run.strip_rows.append((name, scored))


def _dataset_source(
    dataset: PathLike,
    split: str,
    cfg: EvalConfig,
    models: Mapping[str, TalkingHeadModel],
    generated: Mapping[str, PathLike],
) -> _Source:
    """Samples of a prepared split with a frame maker per method."""
    for sample in samples_from_dataset(dataset, split, still=cfg.still, max_clips=cfg.max_clips, whole=cfg.whole_frames,
                                       max_side=cfg.max_side, seconds=cfg.seconds):
        makers: dict[str, Callable[[], Made]] = {}
        for name, model in models.items():
            makers[name] = functools.partial(run_model, model, sample)
        for name, folder in generated.items():
            if name in makers:
                continue
            path = Path(folder) / f"{sample.clip_id}.mp4"
            if not path.is_file():
                raise InputError(path, f"generated video for clip {sample.clip_id} not found")
            makers[name] = functools.partial(read_frames, path, sample.fps)
        yield sample, makers


def _sync_model_desc(cfg: EvalConfig) -> str:
    if not cfg.sync:
        return "not used"
    from talkface.eval.sync import default_syncnet_path  # lazy: loads torch

    path = Path(cfg.sync_model) if cfg.sync_model else default_syncnet_path()
    return f"{path.name} ({path.stat().st_size // 1024} KiB)" if path.is_file() else f"{path} (missing)"


def _lipreader_desc(cfg: EvalConfig) -> str:
    if not cfg.lipread:
        return "not used"
    from talkface.eval.lipread import default_lipreader_path  # lazy: loads torch

    path = Path(cfg.lipreader) if cfg.lipreader else default_lipreader_path()
    return f"{path.name} ({path.stat().st_size // 1024} KiB)" if path.is_file() else f"{path} (missing)"
