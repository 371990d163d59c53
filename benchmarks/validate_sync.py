"""Validate the sync model (issue #6): does it find known audio shifts on real clips?

    python3 benchmarks/validate_sync.py /work/prepared/grid7 /work/prepared/grid_s1:test \\
        -o docs/reports/sync_validation

For every real clip of each prepared dataset (``PATH`` = every clip, ``PATH:SPLIT`` = one split)
the clip's mouth crops are scored with :class:`talkface.eval.sync.SyncScorer` exactly as
``talkface evaluate`` scores them

* against its own speech shifted by k = -5..+5 frames (:func:`talkface.eval.sync.shift_audio`,
  k > 0 = audio late; k = 0 is the real clip): *absolute* success when the detected offset is k,
  *relative* success when it moved by exactly k from the clip's own (k = 0) offset — the fair test
  when a recording is itself not perfectly in sync;
* with the mouth frozen (first mouth crop repeated, speech unchanged): LSE-D / LSE-C of the
  frozen copy vs the real clip.

Prints a Markdown summary and writes ``validate_sync.json`` (every number, per clip too) and
``validate_sync.md`` into ``-o``. Per clip it also records the sub-frame offset of the real clip
(parabola through the distance minimum) and the leading / trailing silence, to diagnose failures.
Not a test: it needs prepared datasets (``talkface preprocess``); it takes ~1 s per 3-s clip
(12 scorings) on one CPU thread: 30 s for the 30 ``grid_s1`` test clips, 3 min for the wild set.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from talkface.data.dataset import SPLITS, PreparedDataset
from talkface.eval.sync import (
    AUDIO_SAMPLE_RATE,
    MAX_OFFSET,
    SyncClip,
    SyncScorer,
    default_syncnet_path,
    offset_search,
    prepare_sync_arrays,
    shift_audio,
)


@dataclass
class ClipResult:
    """Validation numbers of one clip.

    Attributes:
        clip_id: ``<speaker>/<utterance>``.
        frames: frames at 25 fps.
        offsets: applied shift k -> detected offset.
        subframe_offset: sub-frame offset of the real clip (k = 0), frames.
        lse_d, lse_c: real clip.
        frozen_lse_d, frozen_lse_c, frozen_offset: mouth-frozen copy.
        lead_silence_s, trail_silence_s: silence before the first / after the last speech, seconds.
    """

    clip_id: str
    frames: int
    offsets: dict[int, int]
    subframe_offset: float
    lse_d: float
    lse_c: float
    frozen_lse_d: float
    frozen_lse_c: float
    frozen_offset: int
    lead_silence_s: float
    trail_silence_s: float
    notes: list[str] = field(default_factory=list)


def speech_bounds(
    audio: np.ndarray, sample_rate: int = AUDIO_SAMPLE_RATE, floor_db: float = -35.0
) -> tuple[float, float]:
    """Silence before the first and after the last speech, seconds.

    Speech = 20 ms frames whose RMS is within ``floor_db`` dB of the clip's loudest frame.

    Args:
        audio: (N,) float mono speech.
        sample_rate: Hz.
        floor_db: threshold relative to the loudest frame, dB.

    Returns:
        ``(leading, trailing)`` silence in seconds (the whole clip when nothing passes).
    """
    hop = sample_rate // 50
    n = audio.shape[0] // hop
    if n == 0:
        return 0.0, 0.0
    rms = np.sqrt(np.mean(audio[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-12)
    db = 20 * np.log10(rms / rms.max())
    speech = np.flatnonzero(db > floor_db)
    if speech.size == 0:
        return n * hop / sample_rate, n * hop / sample_rate
    return speech[0] * hop / sample_rate, (n - 1 - speech[-1]) * hop / sample_rate


def validate_clip(scorer: SyncScorer, clip: SyncClip, shifts: list[int]) -> ClipResult:
    """Score one clip at every shift and frozen (see the module docstring).

    The video embedding is computed once and reused for every shift; the result is identical to
    calling :meth:`SyncScorer.score` for each shifted speech.
    """
    audio = clip.audio_float()
    video, real_audio = scorer.embeddings(clip.mouths, audio, AUDIO_SAMPLE_RATE)
    real = offset_search(video, real_audio, scorer.max_offset)
    offsets: dict[int, int] = {}
    for k in shifts:
        if k == 0:
            offsets[k] = real.offset
            continue
        _, a = scorer.embeddings(clip.mouths, shift_audio(audio, k, AUDIO_SAMPLE_RATE), AUDIO_SAMPLE_RATE)
        offsets[k] = offset_search(video, a, scorer.max_offset).offset
    frozen_mouths = np.repeat(clip.mouths[:1], clip.mouths.shape[0], axis=0)
    frozen_video, _ = scorer.embeddings(frozen_mouths, audio, AUDIO_SAMPLE_RATE)
    frozen = offset_search(frozen_video, real_audio, scorer.max_offset)
    lead, trail = speech_bounds(audio)
    notes = []
    if real.offsets.size < 2 * MAX_OFFSET + 1:
        notes.append(f"short clip: offsets searched only within +-{real.offsets.max()}")
    return ClipResult(
        clip_id=clip.clip_id, frames=int(clip.mouths.shape[0]), offsets=offsets,
        subframe_offset=real.subframe_offset, lse_d=real.lse_d, lse_c=real.lse_c,
        frozen_lse_d=frozen.lse_d, frozen_lse_c=frozen.lse_c, frozen_offset=frozen.offset,
        lead_silence_s=lead, trail_silence_s=trail, notes=notes,
    )


def summarize(results: list[ClipResult], shifts: list[int]) -> dict[str, Any]:
    """Accuracy per shift and overall, and mean scores of real vs frozen clips.

    Returns:
        ``clips``; ``per_shift``: k -> {"absolute", "relative", "within1"} fractions of clips;
        ``absolute`` / ``relative`` / ``within1``: the same over every (clip, k) pair (``relative``
        over k != 0 only, where it is not trivially true);
        ``clips_all_shifts_absolute`` / ``_relative``: fraction of clips right at *every* shift;
        ``offset0``: fraction of real clips detected at 0; ``real`` / ``frozen``: mean LSE-D and
        LSE-C; ``frozen_below_real``: fraction of clips whose frozen copy has the lower LSE-C.
    """
    if not results:
        return {"clips": 0}

    def frac(values: list[bool]) -> float:
        return float(np.mean(values)) if values else math.nan

    per_shift: dict[str, dict[str, float]] = {}
    absolute, relative, within1 = [], [], []
    for k in shifts:
        a = [r.offsets[k] == k for r in results]
        rel = [r.offsets[k] - r.offsets[0] == k for r in results] if k else []  # trivially true at k = 0
        w = [abs(r.offsets[k] - k) <= 1 for r in results]
        per_shift[str(k)] = {"absolute": frac(a), "relative": frac(rel), "within1": frac(w)}
        absolute += a
        relative += rel
        within1 += w
    return {
        "clips": len(results),
        "per_shift": per_shift,
        "absolute": frac(absolute),
        "relative": frac(relative),
        "within1": frac(within1),
        "clips_all_shifts_absolute": frac([all(r.offsets[k] == k for k in shifts) for r in results]),
        "clips_all_shifts_relative": frac(
            [all(r.offsets[k] - r.offsets[0] == k for k in shifts if k) for r in results]
        ),
        "offset0": frac([r.offsets[0] == 0 for r in results]),
        "real": {
            "lse_d": float(np.mean([r.lse_d for r in results])),
            "lse_c": float(np.mean([r.lse_c for r in results])),
        },
        "frozen": {
            "lse_d": float(np.mean([r.frozen_lse_d for r in results])),
            "lse_c": float(np.mean([r.frozen_lse_c for r in results])),
        },
        "frozen_below_real": frac([r.frozen_lse_c < r.lse_c for r in results]),
        "subframe_offset": {
            "mean": float(np.mean([r.subframe_offset for r in results])),
            "std": float(np.std([r.subframe_offset for r in results])),
        },
        "frames": {"min": min(r.frames for r in results), "max": max(r.frames for r in results)},
    }


def load_clips(spec: str, max_clips: int | None, exclude: set[str]) -> tuple[str, list[SyncClip], int]:
    """Clips of ``PATH`` (all splits) or ``PATH:SPLIT``; also the number of clips listed."""
    root, split = spec, ""
    head, sep, tail = spec.rpartition(":")
    if sep and tail in (*SPLITS, "all"):
        root, split = head, tail
    ds = PreparedDataset(root)
    splits = [split] if split and split != "all" else [s for s in SPLITS if ds.splits.get(s)]
    if not splits:  # no split file: everything is "train"
        splits = ["train"]
    clips: list[SyncClip] = []
    listed = 0
    for s in splits:
        ids = [i for i in ds.ids(s) if i.rsplit("/", 1)[-1] not in exclude]
        listed += len(ids)
        clips += prepare_sync_arrays(root, s, limit=None, exclude=sorted(exclude))
    if max_clips is not None:
        clips = clips[:max_clips]
        listed = min(listed, max_clips)
    name = f"{Path(root).name}" + (f" ({split})" if split and split != "all" else " (all splits)")
    return name, clips, listed


def _jsonable(value: Any) -> Any:
    """``value`` with NaN / inf floats replaced by None (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.1f} %"


def to_markdown(report: dict[str, Any]) -> str:
    """The summary as Markdown: one table of accuracies, one of scores, per-shift rows, failing clips."""
    lines = [
        "# Sync model validation",
        "",
        f"- **date**: {report['date']}",
        f"- **command**: `{report['command']}`",
        f"- **model**: {report['model']}",
        f"- **shifts**: {report['shifts'][0]}..{report['shifts'][-1]} frames (25 fps), > 0 = audio late",
        "",
        "| data | clips | abs. acc. | rel. acc. | ±1 acc. | clips right at every shift (abs. / rel.) "
        "| real at 0 | LSE-D real / frozen | LSE-C real / frozen | frozen LSE-C < real |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, data in report["datasets"].items():
        s = data["summary"]
        if not s.get("clips"):
            lines.append(f"| {name} | 0 | | | | | | | | |")
            continue
        lines.append(
            f"| {name} | {s['clips']} | {_pct(s['absolute'])} | {_pct(s['relative'])} | {_pct(s['within1'])} | "
            f"{_pct(s['clips_all_shifts_absolute'])} / {_pct(s['clips_all_shifts_relative'])} | {_pct(s['offset0'])} | "
            f"{s['real']['lse_d']:.3f} / {s['frozen']['lse_d']:.3f} | {s['real']['lse_c']:.3f} / "
            f"{s['frozen']['lse_c']:.3f} | {_pct(s['frozen_below_real'])} |"
        )
    lines += [
        "",
        "abs. acc.: detected offset = applied shift, over every (clip, shift); rel. acc.: the offset moved by "
        "exactly the shift from the clip's own (unshifted) offset, over the shifts != 0; ±1: within one frame of "
        "the shift; real at 0: unshifted real clips detected at offset 0.",
        "",
        "## Accuracy per applied shift, % of clips (absolute / relative)",
        "",
    ]
    shifts = report["shifts"]
    lines.append("| data | " + " | ".join(f"{k:+d}" if k else "0" for k in shifts) + " |")
    lines.append("|---" * (len(shifts) + 1) + "|")
    for name, data in report["datasets"].items():
        s = data["summary"]
        if s.get("clips"):
            cells = []
            for k in shifts:
                acc = s["per_shift"][str(k)]
                rel = f"{100 * acc['relative']:.0f}" if np.isfinite(acc["relative"]) else "-"
                cells.append(f"{100 * acc['absolute']:.0f} / {rel}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Clips not detected at the applied shift", ""]
    any_bad = False
    for name, data in report["datasets"].items():
        for c in data["clips"]:
            wrong = {int(k): v for k, v in c["offsets"].items() if v != int(k)}
            if wrong:
                any_bad = True
                errs = sorted({v - k for k, v in wrong.items()})
                lines.append(
                    f"- {name} `{c['clip_id']}`: wrong at {len(wrong)}/{len(c['offsets'])} shifts, error "
                    f"{', '.join(f'{e:+d}' for e in errs)} frames; real clip's sub-frame offset "
                    f"{c['subframe_offset']:+.2f}, LSE-C {c['lse_c']:.3f}, {c['frames']} frames, silence "
                    f"{c['lead_silence_s']:.2f} s / {c['trail_silence_s']:.2f} s"
                )
    if not any_bad:
        lines.append("(none)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the validation; returns the exit status (0; 2 for unusable input)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+", help="prepared dataset folders, PATH (all clips) or PATH:SPLIT")
    parser.add_argument("--model", default=None, help="sync model file (default: the bundled assets/syncnet.pt)")
    parser.add_argument("--max-shift", type=int, default=5, help="test shifts -N..N frames")
    parser.add_argument("--max-clips", type=int, default=None, help="at most this many clips per dataset")
    parser.add_argument("--exclude", default=None, help="text file of utterance names (one a line) to leave "
                        "out, e.g. the clips the sync model was trained on")
    parser.add_argument("-o", "--output", default=None, help="folder for validate_sync.json / validate_sync.md")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    cli_args = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(cli_args)
    torch.set_num_threads(args.threads)
    from talkface.errors import TalkfaceError

    exclude = set(Path(args.exclude).read_text().split()) if args.exclude else set()
    shifts = list(range(-abs(args.max_shift), abs(args.max_shift) + 1))
    model_path = Path(args.model) if args.model else default_syncnet_path()
    scorer = SyncScorer(model_path)
    report: dict[str, Any] = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(a) for a in ["python3", "benchmarks/validate_sync.py", *cli_args]),
        "model": f"{model_path.name} ({model_path.stat().st_size // 1024} KiB)"
        if model_path.is_file()
        else str(model_path),
        "shifts": shifts,
        "host": f"{platform.node()} python {platform.python_version()} torch {torch.__version__}",
        "excluded": sorted(exclude),
        "datasets": {},
    }
    try:
        scorer.model  # noqa: B018 - load now so that a bad model file fails before any work
        for spec in args.datasets:
            t0 = time.perf_counter()
            name, clips, listed = load_clips(spec, args.max_clips, exclude)
            results = []
            for i, clip in enumerate(clips):
                results.append(validate_clip(scorer, clip, shifts))
                print(f"\r{name}: {i + 1}/{len(clips)} clips", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
            report["datasets"][name] = {
                "path": spec,
                "listed_clips": listed,
                "scored_clips": len(clips),
                "seconds": round(time.perf_counter() - t0, 1),
                "summary": summarize(results, shifts),
                "clips": [
                    {**r.__dict__, "offsets": {str(k): v for k, v in r.offsets.items()}} for r in results
                ],
            }
    except TalkfaceError as exc:
        print(f"validate_sync: error: {exc}", file=sys.stderr)
        return 2
    text = to_markdown(report)
    print(text)
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "validate_sync.json").write_text(json.dumps(_jsonable(report), indent=1, allow_nan=False) + "\n")
        (out / "validate_sync.md").write_text(text)
        print(f"wrote {out / 'validate_sync.json'} and {out / 'validate_sync.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
