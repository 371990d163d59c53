"""The one photo -> video path: prepare the photo, read the speech, check the output, write the frames.

Every command that turns a photo and a speech recording into a video goes through these steps, so
that the same bad input gives the same one-line :class:`talkface.errors.InputError` whichever
command (``talkface animate``, ``animate-e2e``, ``landmarks``) or front end (``talkface serve``)
it was given to:

1. :func:`check_paths` — the inputs exist and the output is a writable video file that is none of
   them, before any model loads;
2. :func:`read_speech` — decode to mono 16 kHz and refuse empty, corrupt, silent, too short or
   too long speech (:func:`talkface.io.media.check_speech`);
3. :func:`prepare_photo` — read the photo upright as RGB (EXIF orientation, grayscale, RGBA, CMYK,
   16-bit: :func:`talkface.io.images.read_image`), downscale it to ``max_side``
   (:func:`resize_to`) and find its one face's 68 landmarks
   (:func:`talkface.face.landmarks.landmarks_for_image`: no face, several faces);
4. the caller renders the frames (the cascade, the end-to-end GAN or the landmark drawings);
5. :func:`write_frames` — encode them as H.264 with the speech muxed in as AAC, frame by frame
   and atomically (no output file appears on any error), reporting progress.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from talkface.config_checks import DEFAULT_MAX_SIDE, check_output_file
from talkface.errors import InputError

__all__ = [
    "DEFAULT_MAX_SIDE",
    "SAMPLE_RATE",
    "VIDEO_SUFFIXES",
    "Photo",
    "check_paths",
    "check_video_output",
    "prepare_photo",
    "read_speech",
    "resize_to",
    "write_frames",
]

PathLike = str | os.PathLike[str]

#: Rate speech is decoded at, Hz (what every motion and e2e model is trained on).
SAMPLE_RATE = 16000
#: Video containers an output may be written as.
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v")
# Photos whose longer side exceeds DEFAULT_MAX_SIDE pixels are downscaled first (video size and encoding time
# grow with the photo); it is defined in talkface.config_checks, beside the other defaults and limits.


def check_video_output(output: PathLike, *inputs: PathLike | None) -> Path:
    """The output is a writable video file (:data:`VIDEO_SUFFIXES`) that is none of ``inputs``.

    Raises:
        InputError: naming the output.
    """
    return check_output_file(Path(output), suffixes=VIDEO_SUFFIXES, kind="video file", inputs=inputs)


def check_paths(face: PathLike, speech: PathLike | None, output: PathLike, person: PathLike | None = None) -> Path:
    """The inputs exist and the output is a writable video file that is none of them (before any model loads).

    ``speech`` None: the speech comes from elsewhere (``talkface live`` reading PCM on stdin).

    Returns:
        ``output`` as a Path.

    Raises:
        InputError: naming the file at fault.
    """
    for src, what in ((face, "photo"), (speech, "speech file"), (person, "person model")):
        if src is None:
            continue
        if Path(src).is_dir():
            raise InputError(src, f"is a folder, not a {what}")
        if not Path(src).is_file():
            raise InputError(src, "no such file")
    return check_video_output(output, face, speech, person)


def read_speech(
    path: PathLike,
    *,
    sample_rate: int = SAMPLE_RATE,
    max_duration_s: float | None = None,
    cut_s: float | None = None,
) -> np.ndarray:
    """Decode a speech recording to mono and refuse what cannot be animated.

    Args:
        path: any audio file, or a video with an audio track.
        sample_rate: rate to decode at, Hz.
        max_duration_s: refuse speech longer than this (None: no limit).
        cut_s: use only the first this many seconds (None: all); applied before the checks.

    Returns:
        (N,) float32 mono in [-1, 1].

    Raises:
        InputError: missing, empty or corrupt file, no audio track, speech too short (< 0.2 s), too
            long, silent or with invalid samples.
    """
    from talkface.io.media import check_speech, read_audio  # PyAV: not loaded by `import talkface.pipeline`

    limit = cut_s if max_duration_s is None else max_duration_s + 1  # a little past the limit: "too long"
    if cut_s is not None and max_duration_s is not None:
        limit = min(cut_s, max_duration_s + 1)
    audio = read_audio(path, sample_rate=sample_rate, max_duration_s=limit)
    check_speech(audio, path, sample_rate=sample_rate, max_duration_s=max_duration_s)
    return audio


def resize_to(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale an image so that its longer side is at most ``max_side`` pixels (0: never; area filter)."""
    import cv2

    h, w = image.shape[:2]
    if max_side <= 0 or max(h, w) <= max_side:
        return image
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


@dataclass
class Photo:
    """A photo ready to animate.

    Attributes:
        image: (H, W, 3) uint8 RGB, upright, downscaled to the ``max_side`` asked for.
        landmarks: (68, 2) float32 landmarks of its one face, pixels of ``image``.
        path: the file it came from (named in messages).
    """

    image: np.ndarray
    landmarks: np.ndarray
    path: PathLike


def prepare_photo(
    path: PathLike,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    detector: Any = None,
    predictor: Any = None,
) -> Photo:
    """Read a photo, downscale it and find its one face.

    Args:
        path: photo of one face (JPEG, PNG, WebP, ...; grayscale, RGBA, CMYK, 16-bit are converted,
            the EXIF orientation applied).
        max_side: downscale photos whose longer side is larger (0: never).
        detector: a :class:`talkface.face.detect.FaceDetector` to reuse (None: a new one).
        predictor: a :class:`talkface.face.landmarks.LandmarkDetector` to reuse (None: a new one).

    Raises:
        InputError: unreadable photo, no face or several faces.
    """
    from talkface.face.landmarks import landmarks_for_image  # dlib: loaded with the first photo
    from talkface.io.images import read_image  # Pillow: as PyAV

    image = resize_to(read_image(path, max_side=max_side), max_side)
    landmarks = landmarks_for_image(image, path, detector=detector, predictor=predictor)
    return Photo(image=image, landmarks=landmarks, path=path)


def write_frames(
    output: PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    audio: np.ndarray | None,
    total: int | None = None,
    sample_rate: int = SAMPLE_RATE,
    crf: int = 18,
    preset: str = "medium",
    progress: Callable[[int], None] | None = None,
) -> int:
    """The frame sink: encode frames as they come (H.264, speech muxed in as AAC), atomically.

    Args:
        output: video file (checked with :func:`check_video_output` beforehand).
        frames: (H, W, 3) uint8 RGB frames of one size; a generator is written in constant memory.
        fps: frame rate.
        audio: (N,) mono speech at ``sample_rate`` (None: a silent video).
        total: frames expected; a different count is an error (None: any).
        sample_rate: rate of ``audio``, Hz.
        crf: H.264 quality (18 = visually lossless).
        preset: libx264 speed preset.
        progress: called with the number of frames written so far, after each frame.

    Returns:
        Frames written.
    """
    from talkface.io.media import write_video  # PyAV: as in read_speech

    if progress is not None:
        frames = _counted(frames, progress)
    written = write_video(output, frames, fps, audio=audio, sample_rate=sample_rate, crf=crf, preset=preset)
    if total is not None and written != total:  # pragma: no cover - the renderers make exactly ``total``
        raise RuntimeError(f"wrote {written} frames, expected {total}")
    return written


def _counted(frames: Iterable[np.ndarray], progress: Callable[[int], None]) -> Iterator[np.ndarray]:
    for done, frame in enumerate(frames, 1):
        yield frame
        progress(done)
