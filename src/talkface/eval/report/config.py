"""Settings of an evaluation run (:class:`EvalConfig`)."""

from __future__ import annotations

from dataclasses import dataclass


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
        render: compute the rendering columns (:data:`~talkface.eval.report.table.RENDER_METRICS`).
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
