"""Settings of an evaluation run (:class:`EvalConfig`)."""

from __future__ import annotations

from dataclasses import dataclass

from talkface.config_checks import DEFAULT_MAX_SIDE, check_value


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
        whole_frames: compare whole frames: each clip's source video at its own resolution (downscaled to
            ``max_side``), the methods getting the whole first (or neutral) frame as a user's photo and the metrics
            reading whole frames; False: the prepared 128² aligned face crops (the papers' protocol).
        max_side: ``whole_frames``: the source frames' longer side is downscaled to at most this many pixels
            (0: never; the ``--model`` runs' :attr:`talkface.animate_config.AnimateConfig.max_side` too).
        seconds: evaluate only each clip's first ``seconds`` of video and speech (None: the whole clip).
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
    whole_frames: bool = False
    max_side: int = DEFAULT_MAX_SIDE
    seconds: float | None = None

    def __post_init__(self) -> None:
        check_value("max_side", self.max_side)
        if self.seconds is not None:
            check_value("max_duration_s", self.seconds, option="--seconds")
