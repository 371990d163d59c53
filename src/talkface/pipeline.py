"""The whole cascade as one call: a face photo + a speech recording -> a talking-head mp4 with the speech.

Data flows one way through the stages (Das et al. 2020, Fig. 2):

1. **audio** — decode any common format to 16 kHz mono (:func:`talkface.io.media.read_audio`), refuse
   silence, empty, corrupt or over-long input (:func:`talkface.io.media.check_speech`);
2. **face** — the one face in the photo and its 68 landmarks (dlib), the aligned crop the texture
   model works on (:func:`talkface.face.align.crop_transform`);
3. **motion** — speech features -> l-GAN canonical landmark motion -> + blink generator eyes ->
   retargeting onto the photo's own landmarks (:func:`talkface.motion.render.predict_landmarks`);
4. **render** — by default (``renderer="native"``, :mod:`talkface.render`) the photo itself is warped
   at its own resolution to each frame's landmarks and only the mouth interior and closing lids are
   painted; with ``renderer="crop"`` the texture generator renders each frame's 128² crop from the
   photo's crop and the frame's landmarks (:class:`talkface.texture.adapt.PersonModel`) and it is
   pasted back into the photo (:func:`talkface.face.align.paste_back`);
5. **encode** — frames written as H.264 + AAC with the speech muxed in, frame by frame
   (:func:`talkface.photo_video.write_frames`), atomically: on any error no output file appears. The frames
   are rendered in a thread of their own beside the encoder, up to :data:`talkface.io.ahead.FRAMES_AHEAD` ahead
   (:func:`talkface.io.ahead.made_ahead`).

Steps 1, 2 (reading the photo) and 5 are :mod:`talkface.photo_video`, the path every photo -> video
command shares (``animate``, ``animate-e2e``, ``landmarks``, ``serve``).

Frames are generated and encoded as they come (the crop texture generator's in chunks of
``chunk_frames``, the native renderer's one at a time), so memory does not grow with the audio length
(only the landmark track, 544 bytes a frame, is held whole).

The models come from a *model bundle* (:mod:`talkface.bundle`; re-exported here, as is
:func:`talkface.person.adapt_person`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from talkface.animate_config import AnimateConfig  # re-exported: the settings live apart, torch-free
from talkface.audio.features import get_extractor, num_video_frames
from talkface.audio.prefetch import PrefetchingExtractor
from talkface.bundle import (
    BUNDLE_FILE,
    DEFAULT_MODEL,
    ModelBundle,
    load_bundle,
    load_bundle_texture,
    make_bundle,
    read_bundle_info,
)
from talkface.config_checks import check_value
from talkface.errors import InputError
from talkface.face.geometry import OPEN_MOUTH, mouth_opening
from talkface.io.ahead import FRAMES_AHEAD, made_ahead
from talkface.live.stream import stream
from talkface.motion.amplitude import mouth_request
from talkface.person import IMAGE_SUFFIXES, adapt_person
from talkface.photo_video import (
    SAMPLE_RATE,
    VIDEO_SUFFIXES,
    check_paths,
    check_video_output,
    prepare_photo,
    read_speech,
    resize_to,
    write_frames,
)
from talkface.texture.onnx import OnnxMaps, onnx_available

__all__ = [
    "BUNDLE_FILE",
    "DEFAULT_MODEL",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "AnimateConfig",
    "AnimateResult",
    "Animator",
    "ModelBundle",
    "ProgressFn",
    "adapt_person",
    "animate",
    "check_paths",
    "load_bundle",
    "make_bundle",
    "photo_warnings",
    "read_bundle_info",
]

PathLike = str | os.PathLike[str]

#: ``progress(stage, fraction)``: stage is one of ``"audio"``, ``"face"``, ``"motion"``, ``"texture"``
#: (covers encoding, which runs interleaved with it) and ``"done"``; fraction in [0, 1].
ProgressFn = Callable[[str, float], None]

_resize_to = resize_to  # the old name (talkface.live.stream uses it)


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Torch runs its ops on one thread within the block (restored after).

    The native renderer's per-frame torch call (the shading net on a 64x64 crop) gains nothing from a
    second thread, and in the renderer thread beside the encoder a second OpenMP thread only fights the
    encoder's threads for the two cores.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class AnimateResult:
    """What :meth:`Animator.animate` wrote.

    Attributes:
        output: the video file.
        frames: video frames written.
        fps: frame rate.
        duration_s: speech duration, seconds.
        seconds: wall time of the call.
        stage_seconds: wall time per stage (``audio``, ``face``, ``motion``, ``texture``, ``encode``; frames
            are made in a thread beside the encoder, so ``texture`` and ``encode`` overlap).
        warnings: things about the input that make the result worse (e.g. an open mouth in the photo).
    """

    output: Path
    frames: int
    fps: float
    duration_s: float
    seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        """Frames produced per second of wall time (whole call)."""
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def photo_warnings(landmarks: np.ndarray, closing_mouth: bool = False, part_way: bool = False) -> list[str]:
    """What in a photo's landmarks will make the animation worse.

    The motion model adds speech motion to a neutral face (mouth closed, eyes open). An open mouth
    either stays open (and opens wider) in every frame, or, with ``closing_mouth``, is closed by
    warping the photo (:func:`talkface.motion.retarget.close_mouth`), which looks less natural than
    a photo taken with the mouth closed.

    Args:
        landmarks: (68, 2) landmarks of the photo, pixels.
        closing_mouth: the animation closes an open mouth (:attr:`AnimateConfig.close_mouth`).
        part_way: the mouth is so wide open that it is closed only part way while speaking
            (:meth:`talkface.motion.amplitude.MouthRequest.closed_opening`; all the way in pauses).

    Returns:
        Human-readable warnings (empty when the photo looks neutral).
    """
    out = []
    opening = float(mouth_opening(np.asarray(landmarks)))
    if opening > OPEN_MOUTH:
        then = ("it is closed for the animation, but a photo with the mouth closed looks more natural"
                if closing_mouth else "a photo with the mouth closed gives better lip sync")
        if closing_mouth and part_way:
            then = ("it is wide open, so it is closed only part way while speaking (all the way in pauses); a photo "
                    "with the mouth closed looks more natural")
        out.append(f"the mouth in the photo is open (gap {opening:.2f} of the eye distance); {then}")
    return out


class Animator:
    """Loads a model bundle once and animates any number of (photo, speech) pairs with it.

    Not thread-safe: one call at a time per instance (a server keeps one per worker).

    Args:
        config: settings (default :class:`AnimateConfig`).
    """

    def __init__(self, config: AnimateConfig | None = None) -> None:
        self.config = config or AnimateConfig()
        from talkface.motion.head import check_head_motion  # lazy: loads cv2
        from talkface.motion.render import check_motion_scale  # lazy: loads cv2

        check_motion_scale(self.config.motion_scale)  # fail before loading anything
        check_head_motion(self.config.head_motion)
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        self.device = torch.device(self.config.device)
        self.bundle = load_bundle(self.config.model, self.device, texture=False)
        self.bundle.lgan.to(self.device).eval()
        self._generator: Any = None
        self._texture_config: Any = None
        self._backend = ""
        cfg = self.config
        if cfg.renderer == "crop" or cfg.person or cfg.mouth == "generator" or cfg.backend == "onnx":
            self._texture()  # used by every frame (or asked for): load it now, refuse a bad one before any work
        self._extractor: Any = None
        self._last_photo: tuple[np.ndarray, np.ndarray] | None = None  # talking_head's, for warped_reference
        self.last_requested_landmarks: np.ndarray | None = None
        self._detector: Any = None
        self._predictor: Any = None

    def _texture(self) -> tuple[Any, Any]:
        """The texture generator and its config (the person model's with ``person``), loaded on first use: the
        native renderer's painted mouth never needs them (start-up ~0.25 CPU-s less)."""
        if self._generator is None:
            texture = load_bundle_texture(self.bundle, self.device)
            texture.to(self.device).eval()
            self._generator, self._texture_config = texture.generator, texture.config
            if self.config.person:
                from talkface.texture.adapt import load_person_model  # lazy: loads lightning, cv2

                person = load_person_model(self.config.person, map_location=self.device)
                if person.config.image_size != self._texture_config.image_size:
                    raise InputError(self.config.person, "person model's crop size differs from the model's")
                self._generator, self._texture_config = person.generator, person.config
            self._backend = self._attach_backend()
        return self._generator, self._texture_config

    @property
    def backend(self) -> str:
        """The texture map network's backend in use: ``"onnx"`` or ``"torch"`` (loads the texture generator)."""
        self._texture()
        return self._backend

    def _attach_backend(self) -> str:
        """Use the bundle's ONNX map network on the CPU when asked/possible; returns the backend in use."""

        wanted = self.config.backend
        if wanted not in ("auto", "onnx", "torch"):
            raise ValueError(f"backend must be auto, onnx or torch, got {wanted!r}")
        onnx_file = self.bundle.info.get("texture_onnx")
        usable = (
            onnx_file is not None and self.device.type == "cpu" and not self.config.person
            and hasattr(self._generator, "maps_backend") and onnx_available()
        )
        if wanted == "onnx" and not usable:
            raise InputError(self.bundle.path, "the ONNX backend needs onnxruntime, the CPU, no --person and a "
                             "bundle with an ONNX map network")
        if wanted == "torch" or not usable:
            return "torch"
        self._generator.maps_backend = OnnxMaps(self.bundle.path / str(onnx_file), self.config.threads)
        return "onnx"

    @property
    def fps(self) -> float:
        """Frame rate of the videos (the l-GAN's)."""
        return float(self.bundle.lgan.config.fps)

    @property
    def image_size(self) -> int:
        """Side of the texture generator's face crops, pixels (loads the texture generator)."""
        return int(self._texture()[1].image_size)

    def _features(self) -> Any:
        if self._extractor is None:
            self._extractor = PrefetchingExtractor(get_extractor(self.bundle.lgan.config.feature_name))
        return self._extractor

    def _face_models(self) -> tuple[Any, Any]:
        """The face detector and landmark predictor, loaded on first use and kept."""
        from talkface.face.detect import FaceDetector  # dlib
        from talkface.face.landmarks import LandmarkDetector  # lazy: loads dlib, cv2

        if self._detector is None:
            self._detector, self._predictor = FaceDetector(), LandmarkDetector()
        return self._detector, self._predictor

    def _face(self, image: np.ndarray, path: PathLike | None) -> np.ndarray:
        from talkface.face.landmarks import landmarks_for_image  # lazy: loads dlib, cv2

        detector, predictor = self._face_models()
        return landmarks_for_image(image, path, detector=detector, predictor=predictor)

    def _person(self, crop: np.ndarray, crop_landmarks: np.ndarray) -> Any:
        from talkface.texture.adapt import PersonModel  # lazy: loads lightning, cv2

        generator, config = self._texture()
        return PersonModel(
            generator=generator,
            config=config,
            reference_images=crop[None],
            reference_landmarks=np.asarray(crop_landmarks, np.float32)[None],
        )

    def _frames(
        self,
        image: np.ndarray,
        person_landmarks: np.ndarray,
        audio: np.ndarray,
        *,
        blink_rate: float | None,
        motion_scale: float,
        seed: int,
        size: int,
        head_motion: float = 0.0,
        timer: dict[str, float],
        progress: ProgressFn | None,
        requested: np.ndarray | None = None,
    ) -> tuple[int, Iterator[np.ndarray]]:
        """Motion for the whole speech (or ``requested`` (T, 68, 2) photo-pixel landmarks as given, e.g. a
        real clip's own for an oracle study), then an iterator of output frames generated chunk by chunk."""
        from talkface.face.align import crop_transform, paste_back, transform_points, warp_crop  # lazy: loads cv2
        from talkface.motion.render import predict_landmarks  # lazy: loads cv2

        t = time.perf_counter()
        # an open mouth is closed only in the face the motion is added to; the photo's own landmarks
        # stay the texture generator's description of the reference image
        landmarks = np.asarray(requested, np.float32) if requested is not None else predict_landmarks(
            image, audio, self.bundle.lgan, self.bundle.blink, seed=seed, blink_rate=blink_rate,
            person_landmarks=person_landmarks, extractor=self._features(), motion_scale=motion_scale,
            close_mouth=self.config.close_mouth, head_motion=head_motion,
            normalise_mouth=self.config.normalise_mouth, mouth=self.config.mouth_request,
        )
        timer["motion"] = time.perf_counter() - t
        self.last_requested_landmarks = landmarks  # what talkface evaluate's open ratio compares to
        if progress:
            progress("motion", 1.0)
        if self.config.renderer == "native":
            return len(landmarks), self._native_frames(image, person_landmarks, landmarks, size=size, timer=timer,
                                                       progress=progress)
        s = self.image_size
        affine = crop_transform(person_landmarks, s)
        crop = warp_crop(image, affine, s)
        person = self._person(crop, transform_points(person_landmarks, affine))
        crop_track = transform_points(landmarks, affine)
        total = len(crop_track)
        chunk = max(1, self.config.chunk_frames)

        def frames() -> Iterator[np.ndarray]:
            import cv2

            timer.setdefault("texture", 0.0)
            timer.setdefault("paste", 0.0)
            for start in range(0, total, chunk):
                t0 = time.perf_counter()
                crops = person.generate(crop_track[start : start + chunk], batch_size=chunk)
                t1 = time.perf_counter()
                timer["texture"] += t1 - t0
                out = []
                for c in crops:
                    if size:
                        out.append(c if size == s else np.asarray(cv2.resize(c, (size, size),
                                                                             interpolation=cv2.INTER_CUBIC)))
                    else:
                        out.append(paste_back(image, c, affine))
                timer["paste"] += time.perf_counter() - t1
                yield from out
                if progress:
                    progress("texture", min(1.0, (start + len(crops)) / total))

        return total, frames()

    def _native_frames(
        self,
        image: np.ndarray,
        person_landmarks: np.ndarray,
        landmarks: np.ndarray,
        *,
        size: int,
        timer: dict[str, float],
        progress: ProgressFn | None,
    ) -> Iterator[np.ndarray]:
        """Frames of the native renderer (:mod:`talkface.render`), one at a time."""
        from talkface.face.align import crop_transform, paste_back, transform_points, warp_crop  # lazy: loads cv2
        from talkface.render.compose import NativeRenderer, RenderConfig  # lazy: loads cv2

        mouth = self.config.mouth
        if mouth == "auto":
            mouth = "generator" if self.config.person else "painted"
        renderer = NativeRenderer(image, person_landmarks, landmarks,
                                  RenderConfig(mouth=mouth, shading=self.config.shading,
                                               adaptive_mouth=self.config.adaptive_mouth,
                                               resample=self.config.resample))
        total = len(landmarks)
        chunk = max(1, self.config.chunk_frames)
        out_affine = crop_transform(person_landmarks, size) if size else None
        person = None
        affine = np.eye(2, 3)
        if mouth == "generator":  # only then the texture generator (crop) is used
            s = self.image_size
            affine = crop_transform(person_landmarks, s)
            person = self._person(warp_crop(image, affine, s), transform_points(person_landmarks, affine))
        timer.setdefault("texture", 0.0)
        timer.setdefault("paste", 0.0)
        for start in range(0, total, chunk):
            part = landmarks[start : start + chunk]
            t0 = time.perf_counter()
            generated: list[np.ndarray | None] = [None] * len(part)
            if person is not None:  # the texture generator works in batches of a chunk
                crops = person.generate(transform_points(part, affine), batch_size=chunk)
                generated = [paste_back(image, c, affine) for c in crops]
            timer["texture"] += time.perf_counter() - t0
            # the frames themselves one at a time: a chunk of 1920x1080 frames held at once was 25 x 6 MB
            for target, g in zip(part, generated, strict=True):
                t0 = time.perf_counter()
                frame = renderer(target, mouth_image=g)
                if out_affine is not None:
                    frame = np.asarray(warp_crop(frame, out_affine, size))
                timer["texture"] += time.perf_counter() - t0
                yield frame
            if progress:
                progress("texture", min(1.0, (start + len(part)) / total))

    def animate(
        self,
        face: PathLike,
        speech: PathLike,
        output: PathLike,
        *,
        blink_rate: float | None | str = "config",
        seed: int | None = None,
        size: int | None = None,
        progress: ProgressFn | None = None,
        motion_scale: float | None = None,
        head_motion: float | None = None,
    ) -> AnimateResult:
        """Animate the face in a photo with a speech recording and write the video.

        Args:
            face: photo of one face (JPEG, PNG, WebP, ...; grayscale, RGBA, CMYK, 16-bit are converted).
            speech: speech recording (wav, mp3, flac, ogg, m4a, or a video's audio track).
            output: video file to write (``.mp4``); written atomically.
            blink_rate: blinks per second (None: natural rate); default: the config's.
            seed: blink-noise seed; default: the config's.
            size: 0 = whole photo, N = N × N face crop; default: the config's.
            progress: called with (stage, fraction) as work proceeds.
            motion_scale: gain on the speech motion (see :class:`AnimateConfig`); default: the config's.
            head_motion: strength of the head/brow motion (see :class:`AnimateConfig`); default: the config's.

        Returns:
            :class:`AnimateResult`.

        Raises:
            InputError: unreadable/empty/corrupt/silent/too long speech, no face or several faces,
                unreadable photo, bad output path — a one-line message naming the file.
        """
        from talkface.motion.head import check_head_motion  # lazy: loads cv2
        from talkface.motion.render import check_motion_scale  # lazy: loads cv2

        cfg = self.config
        rate = cfg.blink_rate if blink_rate == "config" else blink_rate
        assert rate is None or isinstance(rate, float | int)
        for name, value in (("blink_rate", rate), ("seed", seed), ("size", size)):
            if value is not None:
                check_value(name, value)
        gain = check_motion_scale(cfg.motion_scale if motion_scale is None else motion_scale)
        head = check_head_motion(cfg.head_motion if head_motion is None else head_motion)
        out_path = check_video_output(output, face, speech, cfg.person)
        start = time.perf_counter()
        timer: dict[str, float] = {}
        self._features().preload()  # the speech encoder loads while the speech is read (start-up, issue 16)
        audio = read_speech(speech, sample_rate=SAMPLE_RATE, max_duration_s=cfg.max_duration_s)
        self._features().start(audio, num_video_frames(len(audio), SAMPLE_RATE, self.fps), self.fps)  # beside the face
        timer["audio"] = time.perf_counter() - start
        if progress:
            progress("audio", 1.0)
        t = time.perf_counter()
        detector, predictor = self._face_models()
        photo = prepare_photo(face, max_side=cfg.max_side, detector=detector, predictor=predictor)
        image, person_landmarks = photo.image, photo.landmarks
        timer["face"] = time.perf_counter() - t
        part_way = mouth_request(cfg.mouth_request).closes_part_way(self.bundle.lgan.canonical_neutral.cpu().numpy(),
                                                                    person_landmarks)
        notes = photo_warnings(person_landmarks, closing_mouth=cfg.close_mouth, part_way=part_way)
        if progress:
            progress("face", 1.0)
        total, frames = self._frames(
            image, person_landmarks, audio, blink_rate=None if rate is None else float(rate), motion_scale=gain,
            seed=cfg.seed if seed is None else seed, size=cfg.size if size is None else size,
            timer=timer, progress=progress, head_motion=head,
        )
        t = time.perf_counter()
        # frames are made in a thread of their own beside the encoder (the two overlap: "texture" and
        # "encode" add up to more than their wall time); the native renderer's torch there on one thread
        one_thread = cfg.renderer == "native" and cfg.mouth != "generator" and not cfg.person
        with made_ahead(frames, FRAMES_AHEAD, context=one_torch_thread if one_thread else None) as ahead:
            written = write_frames(out_path, ahead, self.fps, audio=audio, total=total, sample_rate=SAMPLE_RATE,
                                   crf=cfg.crf, preset=cfg.preset)
        timer["encode"] = time.perf_counter() - t - ahead.waited_s  # the encoder's own time, waits left out
        if progress:
            progress("done", 1.0)
        return AnimateResult(
            output=out_path, frames=written, fps=self.fps, duration_s=len(audio) / SAMPLE_RATE,
            seconds=time.perf_counter() - start, stage_seconds=timer, warnings=notes,
        )

    def stream(
        self, photo: PathLike | np.ndarray, audio_chunks: Any, **options: Any
    ) -> Iterator[tuple[float, np.ndarray]]:
        """Animate a photo with speech arriving in chunks: ``(timestamp_s, frame)`` pairs at :attr:`fps`.

        See :func:`talkface.live.stream.stream` (mono 16 kHz chunks of any size, float32 or s16le bytes;
        each frame comes once the audio up to 120 ms past it has arrived; memory stays constant).
        """
        return stream(self, photo, audio_chunks, **options)

    def talking_head(self, still: np.ndarray, audio: np.ndarray) -> np.ndarray:
        """The model as a :data:`talkface.eval.report.TalkingHeadModel` (for ``talkface evaluate``).

        Args:
            still: (H, W, 3) uint8 RGB image of one face (e.g. a prepared dataset's aligned crop).
            audio: (N,) float32 mono speech at 16 kHz.

        Returns:
            (T, H, W, 3) uint8 frames at :attr:`fps`, T = round(duration · fps): the still with the
            generated face pasted in.
        """
        image = np.ascontiguousarray(still)
        person = self._face(image, "<still>")
        self._last_photo = (image, person)
        _, frames = self._frames(image, person, np.asarray(audio, np.float32), blink_rate=self.config.blink_rate,
                                 motion_scale=self.config.motion_scale, seed=self.config.seed, size=0, timer={},
                                 progress=None, head_motion=self.config.head_motion)
        out = list(frames)
        return np.stack(out) if out else np.zeros((0, *image.shape), np.uint8)

    def warped_reference(self) -> np.ndarray | None:
        """The last :meth:`talking_head` call's photo warped by the same requested landmarks with nothing painted
        (``mouth="warp"``) and no learned shading: the issue-14 reference of the colour change outside mouth and
        eyes (:func:`talkface.eval.render_metrics.colour_change`; ``talkface evaluate``'s "Colour Δ warp").

        Returns:
            (T, H, W, 3) uint8 frames as :meth:`talking_head` returned, or None (no call yet, or the crop renderer).
        """
        from talkface.render.compose import NativeRenderer, RenderConfig  # lazy: loads cv2

        photo = self._last_photo
        if photo is None or self.last_requested_landmarks is None or self.config.renderer != "native":
            return None
        image, person = photo
        config = RenderConfig(mouth="warp", shading=0.0, adaptive_mouth=self.config.adaptive_mouth,
                              resample=self.config.resample)
        renderer = NativeRenderer(image, person, self.last_requested_landmarks, config)
        return np.stack([renderer(lm) for lm in self.last_requested_landmarks])


def animate(
    face: PathLike,
    speech: PathLike,
    output: PathLike,
    config: AnimateConfig | None = None,
    progress: ProgressFn | None = None,
) -> AnimateResult:
    """One-shot :meth:`Animator.animate` (loads the models, animates, returns the result)."""
    return Animator(config).animate(face, speech, output, progress=progress)
