"""The settings of :class:`talkface.pipeline.Animator`, apart from it so that the CLI and the server read their
defaults and checks without importing torch (:class:`talkface.serve.jobs.JobOptions` takes its defaults from
:class:`AnimateConfig`'s fields; ``talkface.pipeline`` re-exports it).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any

from talkface.config_checks import (
    DEFAULT_MAX_SIDE,
    MAX_SPEECH_S,
    X264_PRESETS,
    check_choice,
    check_device,
    check_fields,
)
from talkface.motion.amplitude import MOUTH_REQUESTS
from talkface.render import MOUTH_STYLES, RESAMPLE_KERNELS

__all__ = ["ANIMATE_CHECKED_FIELDS", "RENDERERS", "AnimateConfig", "animate_default", "check_animate_config"]


@dataclass
class AnimateConfig:
    """Settings of :class:`talkface.pipeline.Animator`.

    Attributes:
        model: folder of a model bundle; None = the default model bundled with the package.
        person: a person model (``talkface adapt``): its fine-tuned texture generator replaces the
            bundle's (the photo stays the texture reference).
        blink_rate: blinks per second (humans: 0.28-0.4); None = the blink model's natural rate.
        motion_scale: gain on the speech motion (1 = as the motion model predicts, after the per-utterance
            normalisation; > 1 opens the mouth wider, a livelier style; the crop renderer drew unseen mouths too small,
            the native one opens them as asked).
        close_mouth: when the photo's mouth is open, add the speech motion to the same face with the
            mouth closed (:func:`talkface.motion.retarget.close_mouth`), so that it closes in pauses;
            False keeps the photo's mouth as the neutral one (it then stays open throughout).
        head_motion: strength of the generated head and brow motion (:mod:`talkface.motion.head`,
            seeded with ``seed``): 0 = the head keeps the photo's pose (as before), 1 = natural,
            > 1 livelier.
        normalise_mouth: give each utterance's mouth motion the variability of real speech
            (:mod:`talkface.motion.amplitude`; the motion model alone under-shoots on unseen voices);
            False: the motion model's amplitude as predicted.
        mouth_request: how the predicted motion becomes the requested mouth
            (:data:`talkface.motion.amplitude.MOUTH_REQUESTS`): ``"centred"`` (default: the normalisation
            amplifies the motion about its mean posture in speech, an open photo mouth is closed to the
            model's rest gap, the mouth corners keep the photo's posture on average in speech, section 6a),
            ``"model_corners"`` (the same with the motion model's own mean corner posture) or ``"neutral"`` (as
            before 2026-12-01: about the closed neutral face, to a zero gap; docs/motion.md section 6).
        size: 0 = paste the generated face back into the whole photo; N = output the N × N aligned
            face crop instead.
        max_side: photos whose longer side exceeds this many pixels are downscaled first (video
            size and encoding time grow with the photo; 0 = never).
        seed: seed of the blink noise (same inputs + seed = same video).
        max_duration_s: longest speech accepted, seconds.
        device: torch device of the generators (``"cpu"``, ``"cuda"``).
        threads: torch CPU threads (None: torch's default).
        backend: texture map network on the CPU: ``"onnx"`` (onnxruntime, ~1.5x faster), ``"torch"``, or
            ``"auto"`` (onnx when the bundle has an ONNX copy and onnxruntime is installed).
        chunk_frames: frames generated per texture batch (memory vs. speed).
        crf: H.264 quality (18 = visually lossless, 23 = libx264's default).
        preset: libx264 speed preset.
        renderer: how frames are made: ``"native"`` (default: the photo warped at its own resolution
            by the landmarks, mouth interior and closing lids painted; :mod:`talkface.render`) or
            ``"crop"`` (the texture generator's 128² crop pasted back into the photo; the previous
            default, kept for comparison).
        mouth: the native renderer's mouth interior (:data:`talkface.render.MOUTH_STYLES`):
            ``"painted"`` (cavity and teeth in the photo's colours), ``"cavity"``, ``"warp"`` (none),
            ``"generator"`` (the crop generator's, inside the inner lips), ``"retrieved"`` (real GRID s1
            interiors from a bank, recoloured), or ``"auto"``: the person
            model's generator with ``person`` (it learned that person's teeth), else ``"painted"``.
        shading: the native renderer's learned lower-face shading, strength (1, the default: as learned;
            0: off, the photo's own shading only; :mod:`talkface.render.shading`, docs/render.md
            "Lower-face shading").
        adaptive_mouth: the native renderer's painted interior takes its levels from the photo's
            contrast (``RenderConfig.adaptive_mouth``).
        resample: how the native renderer samples the photo (``RenderConfig.resample``): ``"cubic2x"`` (default:
            keeps the face's fine detail when the head moves by fractions of a pixel), ``"lanczos"`` (the same,
            slower) or ``"cubic"`` (the earlier, softer default).
    """

    model: str | None = None
    person: str | None = None
    blink_rate: float | None = 0.35
    motion_scale: float = 1.0
    close_mouth: bool = True
    head_motion: float = 1.0
    normalise_mouth: bool = True
    mouth_request: str = "centred"
    size: int = 0
    max_side: int = DEFAULT_MAX_SIDE
    seed: int = 0
    max_duration_s: float = MAX_SPEECH_S
    device: str = "cpu"
    threads: int | None = None
    backend: str = "auto"
    chunk_frames: int = 25
    crf: int = 18
    preset: str = "veryfast"
    renderer: str = "native"
    mouth: str = "auto"
    shading: float = 1.0
    adaptive_mouth: bool = False
    resample: str = "cubic2x"

    def __post_init__(self) -> None:
        check_animate_config(self)


#: How frames are made (:attr:`AnimateConfig.renderer`).
RENDERERS = ("native", "crop")

#: Numeric fields of :class:`AnimateConfig` checked against :data:`talkface.config_checks.LIMITS`.
ANIMATE_CHECKED_FIELDS = ("blink_rate", "motion_scale", "head_motion", "size", "max_side", "seed", "max_duration_s",
                          "threads", "chunk_frames", "crf", "shading")


def check_animate_config(config: AnimateConfig) -> None:
    """Refuse unusable :class:`AnimateConfig` values (one-line :class:`talkface.config_checks.OptionError`)."""
    check_fields(config, ANIMATE_CHECKED_FIELDS)
    check_choice("backend", config.backend, ("auto", "onnx", "torch"))
    check_choice("preset", config.preset, X264_PRESETS)
    check_choice("renderer", config.renderer, RENDERERS)
    check_choice("mouth", config.mouth, ("auto", *MOUTH_STYLES))
    check_choice("resample", config.resample, RESAMPLE_KERNELS)
    check_choice("mouth_request", config.mouth_request, tuple(MOUTH_REQUESTS))
    check_device(config.device)


def animate_default(name: str) -> Any:
    """The default of :class:`AnimateConfig`'s field ``name`` (no instance is made: that would check the device
    with torch)."""
    for f in fields(AnimateConfig):
        if f.name == name:
            if f.default is MISSING:
                raise KeyError(f"AnimateConfig.{name} has no plain default")
            return f.default
    raise KeyError(f"AnimateConfig has no field {name!r}")
