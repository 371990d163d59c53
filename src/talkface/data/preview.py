"""Preview PNGs of prepared clips, so a person can check the data by eye."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from talkface.data.dataset import Clip
from talkface.face.eyes import detect_blinks
from talkface.io.atomic import atomic_path


def render_preview(clip: Clip, out_path: str | os.PathLike[str], *, frame: int | None = None) -> Path:
    """Write a PNG: the aligned crop of one frame with its 68 landmarks, the landmark image, and the EAR curve.

    Args:
        clip: a prepared clip.
        out_path: PNG to write (atomically).
        frame: frame to show; default the clip's neutral frame.

    Returns:
        The PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from talkface.face.draw import draw_landmarks  # lazy: loads cv2

    t = clip.neutral_index if frame is None else int(frame)
    crops = clip.crops() if clip.crop_path is not None else None
    fig = plt.figure(figsize=(11, 3.6), dpi=100)
    grid = fig.add_gridspec(1, 3, width_ratios=[1, 1, 2.2])
    ax0 = fig.add_subplot(grid[0])
    if crops is not None:
        ax0.imshow(crops[t])
        pts = clip.crop_landmarks[t]
        size = crops.shape[1]
    else:
        pts = clip.landmarks[t] - clip.landmarks[t].min(axis=0) + 10
        size = int(pts.max()) + 10
        ax0.imshow(np.zeros((size, size, 3), np.uint8))
    ax0.scatter(pts[:, 0], pts[:, 1], s=4, c="lime")
    ax0.set_title(f"frame {t} (neutral={clip.neutral_index})", fontsize=9)
    ax0.axis("off")
    ax1 = fig.add_subplot(grid[1])
    ax1.imshow(draw_landmarks(pts, size))
    ax1.set_title("landmark image", fontsize=9)
    ax1.axis("off")
    ax2 = fig.add_subplot(grid[2])
    time_s = np.arange(clip.num_frames) / clip.fps
    ax2.plot(time_s, clip.ear, lw=1.2, label="EAR")
    for start, end in detect_blinks(clip.ear, clip.fps):
        ax2.axvspan(start / clip.fps, end / clip.fps, color="orange", alpha=0.3)
    missing = ~clip.detected
    if missing.any():
        ax2.plot(time_s[missing], clip.ear[missing], "rx", ms=4, label="face not detected")
    ax2.axvline(t / clip.fps, color="k", lw=0.8, ls="--")
    ax2.set_xlabel("time (s)")
    ax2.set_ylabel("eye aspect ratio")
    ax2.set_title(f"{clip.clip_id}: {clip.num_frames} frames @ {clip.fps:g} fps (blinks shaded)", fontsize=9)
    ax2.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    out = Path(out_path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out
