"""The report's columns and its table: :class:`MetricSpec`, :data:`METRICS` and the other column
sets, and :class:`EvalTable` (per-clip rows -> mean ± std summary, ``report.md``, ``summary.csv``,
``per_clip.csv``)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from talkface.io.atomic import atomic_path

#: Names of the two reference rows every report has.
GROUND_TRUTH = "ground truth"
STILL_BASELINE = "still baseline"


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
#: (n/a where the method does not say what it was asked to render), mouth-crop LPIPS, mouth LMD with the
#: head pose aligned on eyes and nose, blink closure at the requested blinks' apexes (dlib EAR over the
#: open eye's, all blinks / closing ones; share of the photo's open-eye pixels still showing).
RENDER_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("sharp_lap", "Sharp. Lap. (×real)", True, False, 3),
    MetricSpec("sharp_cpbd", "Sharp. CPBD (×real)", True, False, 3),
    MetricSpec("colour", "Colour Δ", False, False, 2),
    MetricSpec("colour_warp", "Colour Δ warp", False, True, 2),
    MetricSpec("open_ratio", "Open ratio", None, False, 3),
    MetricSpec("mouth_lpips", "Mouth LPIPS", False, True, 3),
    MetricSpec("mouth_lpips_own", "Mouth LPIPS own", False, True, 3),
    MetricSpec("lmd_pose", "LMD pose-al.", False, True, 3),
    MetricSpec("blink_ear", "Blink EAR", None, False, 3),
    MetricSpec("blink_closed", "Blink EAR closed", None, False, 3),
    MetricSpec("blink_vis", "Blink vis.", None, False, 3),
)
_ALL_METRICS = METRICS + LIPREAD_METRICS + RENDER_METRICS


@dataclass
class EvalTable:
    """Result of :func:`~talkface.eval.report.run.evaluate_videos`.

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

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``report.md``, ``summary.csv`` and ``per_clip.csv`` into ``out_dir`` (atomically).

        Returns:
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
        "the still, 0-255; warp: vs. the still warped by the same request with nothing painted (the issue's "
        "measure; n/a where the method cannot make it). Open ratio: mouth opening (dlib, inner lips) of the frames "
        "over the requested one, on "
        "frames where the request is open (1 = as asked); a model run's request is the landmarks it rendered, "
        "the still baseline's the real frames' (so it shows the still's opening over the real speaker's); n/a "
        "for videos made elsewhere and for ground truth. Mouth LPIPS: mouth crops (real landmarks) vs. the real "
        "frames'; own: each video's mouth cut at its own landmarks (a head turned otherwise than the real one "
        "does not move the mouth out of the box). LMD pose-al.: mouth landmark distance (128 px face crop) after "
        "aligning each frame onto its "
        "real frame on the eye corners and nose. Blink EAR: dlib's eye aspect ratio at the requested blinks' "
        "apexes over the open eye's (closed: only the blinks asked to close; dlib reads real closed eyes at "
        "~0.47); Blink vis.: share of the still's open-eye pixels still showing at those apexes over the open "
        "frames' (detector-free; real closed eyes ~0.22, the still 1); the real rows use the real blinks; n/a "
        "without a blink. See talkface.eval.render_metrics and docs/render.md.",
    ]
    return lines


def _lipread_markdown(
    methods: Sequence[str], summary: Mapping[str, Mapping[str, tuple[float, float, int]]]
) -> list[str]:
    """The lip-reading section: WER and per-slot accuracy per method (n/a without GRID clips)."""
    from talkface.eval.lipread import chance_wer  # lazy: loads torch

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
