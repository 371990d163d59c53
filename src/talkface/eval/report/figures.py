"""The report's figures: ``strip.png`` (frames and mouth crops per method) and
``blink_durations.png`` (Das et al. Fig. 5)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from talkface.eval.report.scoring import Scored
from talkface.io.atomic import atomic_path

#: Rows of ``strip.png`` show frames at most this many pixels tall (whole frames are downscaled; crops are smaller).
STRIP_HEIGHT = 256


def _label(image: np.ndarray, text: str) -> np.ndarray:
    """Image with a caption bar above it."""
    bar = np.full((18, image.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, image], axis=0)


def strip_figure(rows: list[tuple[str, Scored]], count: int) -> np.ndarray:
    """One image: per method a row of frames and a row of mouth crops (same frame indices)."""
    t = rows[0][1].frames.shape[0]
    idx = np.linspace(0, t - 1, num=max(1, min(count, t))).round().astype(int)
    h = rows[0][1].frames.shape[1]
    blocks = []
    scale = min(1.0, STRIP_HEIGHT / max(1, h))  # whole frames (--whole-frames) are shown at most this tall
    for name, scored in rows:
        shown = [scored.frames[i] for i in idx]
        if scale < 1.0:
            size = (max(1, round(shown[0].shape[1] * scale)), max(1, round(shown[0].shape[0] * scale)))
            shown = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in shown]
        frames = np.concatenate(shown, axis=1)
        blocks.append(_label(frames, name))
        if scored.mouths is not None:
            cell_w = shown[0].shape[1]
            mouths = [cv2.resize(scored.mouths[i], (cell_w, cell_w // 2), interpolation=cv2.INTER_LINEAR) for i in idx]
            blocks.append(np.repeat(np.concatenate(mouths, axis=1)[:, :, None], 3, axis=2))
    del h
    width = max(b.shape[1] for b in blocks)
    blocks = [np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0)), constant_values=255) for b in blocks]
    return np.concatenate(blocks, axis=0)


def blink_histogram(durations: Mapping[str, list[float]], fps: float, path: Path) -> None:
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
