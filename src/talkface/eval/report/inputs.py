"""What an evaluation compares: ground-truth samples (from a prepared dataset or video files) and
each method's frames, made the shape of the real ones."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from talkface.data.dataset import SPLITS, PreparedDataset, load_clip
from talkface.errors import InputError
from talkface.photo_video import resize_to

PathLike = str | os.PathLike[str]

#: A talking-head method: ``model(still, audio) -> frames`` where ``still`` is (H, W, 3) uint8
#: RGB (for a prepared dataset: the aligned face crop of the still frame), ``audio`` is (N,)
#: float32 mono speech at 16 kHz, and the result is (T, H', W', 3) uint8 RGB at the clip's frame
#: rate (25 fps for GRID), ideally T = the clip's frame count and H' x W' = H x W. Other lengths
#: are cut or padded with the last frame, other sizes resized (both reported in ``notes``).
TalkingHeadModel = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: Sample rate of the speech given to the methods and scored, Hz.
SAMPLE_RATE = 16000


@dataclass
class EvalSample:
    """One ground-truth clip to evaluate against.

    Attributes:
        clip_id: name of the clip.
        frames: (T, H, W, 3) uint8 RGB real frames.
        audio: (N,) float32 mono speech at 16 kHz, aligned with frame 0.
        fps: frame rate, frames/s.
        still_index: index of the identity frame given to the models.
        source: the clip's source video, if known (GRID ``.align`` files are looked for beside it).
    """

    clip_id: str
    frames: np.ndarray
    audio: np.ndarray
    fps: float
    still_index: int = 0
    source: str | None = None

    @property
    def still(self) -> np.ndarray:
        """(H, W, 3) uint8 identity frame."""
        return self.frames[self.still_index]


def copy_still_model(num_frames: int) -> TalkingHeadModel:
    """The still baseline: the still repeated ``num_frames`` times (audio ignored)."""

    def model(still: np.ndarray, audio: np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(still)[None], num_frames, axis=0)

    return model


def samples_from_dataset(
    dataset: PathLike,
    split: str = "test",
    *,
    still: str = "first",
    max_clips: int | None = None,
    whole: bool = False,
    max_side: int = 1280,
    seconds: float | None = None,
) -> Iterator[EvalSample]:
    """Ground-truth samples from a prepared dataset: aligned crops (or whole source frames), speech, still frame.

    Args:
        dataset: Folder written by ``talkface preprocess`` (needs the crop videos; ``whole``: the source videos its
            manifest names).
        split: Split to evaluate (``"train"``, ``"val"``, ``"test"``), or ``"all"`` for every clip.
        still: ``"first"`` or ``"neutral"`` (see :class:`~talkface.eval.report.config.EvalConfig`).
        max_clips: At most this many clips.
        whole: whole source frames instead of the crops (:attr:`~talkface.eval.report.config.EvalConfig.whole_frames`).
        max_side: ``whole``: longer side of the frames at most this many pixels (INTER_AREA downscaling; 0: as is).
        seconds: only the first ``seconds`` of each clip (None: all of it); a neutral still beyond them is kept
            as the still's frame (the clip then runs up to it).

    Yields:
        :class:`EvalSample` with (T, S, S, 3) crops (or (T, H, W, 3) whole frames) and 16 kHz audio.

    Raises:
        InputError: Not a prepared dataset, no such split, an empty split, a clip without its crop video (or,
            for whole frames, without a readable source video).
    """
    from talkface.eval.lipread import clip_sources  # lazy: loads torch

    ds, ids = dataset_clip_ids(dataset, split, max_clips)
    sources = clip_sources(dataset)
    for clip_id in ids:
        clip = load_clip(ds.clip_path(clip_id))
        audio = _to_16k(clip.audio, clip.sample_rate)
        index = clip.neutral_index if still == "neutral" else 0
        if whole:
            video = whole_frames(sources.get(clip_id), ds.clip_path(clip_id), max_side,
                                 None if seconds is None else max(seconds, (index + 1) / clip.fps), clip.fps)
        else:
            if clip.crop_path is None:
                raise InputError(ds.clip_path(clip_id), "prepared clip has no crop video")
            video = clip.crops()
            if seconds is not None:
                video = video[: max(int(round(seconds * clip.fps)), index + 1)]
        if seconds is not None or whole:
            audio = audio[: int(round(len(video) / clip.fps * SAMPLE_RATE))]
        yield EvalSample(clip_id, video, audio, clip.fps, min(index, len(video) - 1), sources.get(clip_id))


def checked_source(source: str | None, clip_path: PathLike) -> str:
    """``source``, the video a prepared clip was made from, if it is there (``--whole-frames`` reads it).

    Raises:
        InputError: the manifest names no source for the clip (``source`` None), or the file is missing.
    """
    if source is None:
        raise InputError(clip_path, "the dataset's manifest names no source video for this clip (needed by "
                                    "--whole-frames)")
    if not Path(source).is_file():
        raise InputError(source, "source video not found (needed by --whole-frames)")
    return source


def check_sources(dataset: PathLike, ids: Sequence[str]) -> None:
    """Every clip's source video is there (``--whole-frames`` reads them; checked before any model loads).

    Raises:
        InputError: naming the first clip whose manifest row names no source, or whose source is missing.
    """
    from talkface.eval.lipread import clip_sources  # lazy: loads torch

    ds, sources = PreparedDataset(dataset), clip_sources(dataset)
    for clip_id in ids:
        checked_source(sources.get(clip_id), ds.clip_path(clip_id))


#: ``--whole-frames``: the most memory one clip's real frames may take (the frozen still and every method's output
#: take as much again each); a longer or larger clip is refused with a hint (``--seconds``, ``--max-side``).
WHOLE_FRAMES_BUDGET = 1 << 30


def whole_frames(
    source: str | None, clip_path: PathLike, max_side: int, seconds: float | None, fps: float
) -> np.ndarray:
    """A prepared clip's source video frames, downscaled to ``max_side`` (``EvalConfig.whole_frames``).

    Frames are decoded and downscaled one at a time, so only the kept frames are ever in memory.

    Args:
        source: the source video the manifest names (None: the manifest has no row for the clip).
        clip_path: the prepared clip (named in the error).
        max_side: longer side of the frames at most this many pixels (0: as they are).
        seconds: only the first ``seconds`` (None: all).
        fps: the clip's frame rate (``seconds`` in frames).

    Returns:
        (T, H, W, 3) uint8 RGB frames.

    Raises:
        InputError: no source named, it cannot be read, or its frames would take more than
            :data:`WHOLE_FRAMES_BUDGET`.
    """
    from talkface.io.media import iter_video_frames  # lazy: loads av

    path = checked_source(source, clip_path)
    limit = None if seconds is None else max(1, int(round(seconds * fps)))
    frames: list[np.ndarray] = []
    used = 0
    decoded = iter_video_frames(path)
    try:
        for frame in decoded:
            if limit is not None and len(frames) >= limit:
                break
            frame = resize_to(frame, max_side)
            used += frame.nbytes
            if used > WHOLE_FRAMES_BUDGET:
                raise InputError(path, f"its first {len(frames) + 1} frames at {frame.shape[1]}x{frame.shape[0]} "
                                       f"take over {WHOLE_FRAMES_BUDGET >> 30} GiB for each method; evaluate "
                                       "part of each clip (--seconds) or smaller frames (--max-side)")
            frames.append(frame)
    finally:
        decoded.close()
    return np.stack(frames)


def dataset_clip_ids(
    dataset: PathLike, split: str = "test", max_clips: int | None = None
) -> tuple[PreparedDataset, list[str]]:
    """The clip ids a dataset evaluation covers, checked before any work is done.

    Args:
        dataset: Folder written by ``talkface preprocess``.
        split: ``"train"``, ``"val"``, ``"test"`` (as listed in the dataset's ``splits.json``) or
            ``"all"`` (every prepared clip).
        max_clips: Keep at most this many (the first, in split order).

    Returns:
        The opened :class:`~talkface.data.dataset.PreparedDataset` and the clip ids.

    Raises:
        InputError: Not a prepared dataset, an unknown split, no clips.
    """
    ds = PreparedDataset(dataset)
    if split == "all":
        ids = ds.ids()
    else:
        ds.check_split(split)
        known = [s for s in SPLITS if isinstance(ds.splits.get(s), list)]
        if split not in known:
            listed = ", ".join(f"{s} ({len(ds.splits[s])} clips)" for s in known) or "none"
            raise InputError(dataset, f"no split {split!r} (splits: {listed}; 'all' = every clip)")
        ids = ds.ids(split)
    if not ids:
        raise InputError(dataset, f"split {split!r} has no clips")
    if max_clips is not None:
        if max_clips < 1:
            raise ValueError(f"max_clips must be >= 1, got {max_clips}")
        ids = ids[:max_clips]
    missing = [clip_id for clip_id in ids if not ds.clip_path(clip_id).is_file()]
    if missing:
        more = f", and {len(missing) - 1} more of its {len(ids)} clips" if len(missing) > 1 else ""
        raise InputError(ds.clip_path(missing[0]), f"prepared clip not found (listed by split {split!r}{more}); "
                                                   "prepare the dataset again")
    return ds, ids


def samples_from_pairs(
    pairs: Sequence[tuple[PathLike, PathLike]], still: str = "first"
) -> Iterator[tuple[EvalSample, np.ndarray, str]]:
    """Ground truth and generated frames from pairs of video files.

    Args:
        pairs: ``(generated video, real video)`` files; the speech is read from the real video, and a
            generated video at another frame rate is resampled to the real one (nearest frame).
        still: Only ``"first"`` is possible for files (the real video's first frame).

    Yields:
        ``(sample, generated frames (T', H', W', 3) uint8, name)``.
    """
    from talkface.io.media import read_audio, read_video  # lazy: loads av

    if still != "first":
        raise ValueError("video pairs are evaluated with the first real frame as the still")
    for generated, real in pairs:
        frames, fps = read_video(real)
        audio = read_audio(real, sample_rate=SAMPLE_RATE)
        gen, gen_fps = read_video(generated)
        gen = gen[at_rate(gen.shape[0], gen_fps, fps)]
        sample = EvalSample(Path(real).stem, frames, audio.astype(np.float32), fps, 0, os.fspath(real))
        yield sample, gen, Path(generated).stem


def _to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    a = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sample_rate == SAMPLE_RATE:
        return a
    import librosa

    return np.asarray(librosa.resample(a, orig_sr=sample_rate, target_sr=SAMPLE_RATE), dtype=np.float32)


def conform(frames: np.ndarray, like: np.ndarray, method: str, clip_id: str) -> tuple[np.ndarray, list[str]]:
    """Make generated frames the shape of the real ones (cut/pad time, resize space)."""
    f = np.asarray(frames)
    notes: list[str] = []
    if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8 or f.shape[0] == 0:
        raise ValueError(f"{method} on {clip_id}: frames must be (T, H, W, 3) uint8, got {f.shape} {f.dtype}")
    t, h, w = like.shape[:3]
    if f.shape[1:3] != (h, w):
        notes.append(f"{method}: frames {f.shape[2]}x{f.shape[1]} resized to {w}x{h}")
        f = np.stack([cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA) for x in f])
    if f.shape[0] != t:
        notes.append(f"{method} on {clip_id}: {f.shape[0]} frames for {t} real ones (cut / last frame repeated)")
        f = f[:t] if f.shape[0] > t else np.concatenate([f, np.repeat(f[-1:], t - f.shape[0], axis=0)])
    return f, notes


#: What a method made: frames, where the method says so the landmarks it was asked to render, and where it can
#: make it the photo warped by those landmarks with nothing painted (the colour-change reference).
Made = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


def at_rate(num_frames: int, fps: float, rate: float) -> np.ndarray:
    """Indices of the frames of a ``fps`` video nearest to the times of a ``rate`` video's frames over the same
    duration (``arange(num_frames)`` when the rates match).

    Args:
        num_frames: frames of the ``fps`` video.
        fps: its frame rate, frames/s.
        rate: the frame rate wanted, frames/s.

    Returns:
        (round(num_frames * rate / fps),) int64 indices into the ``fps`` video.
    """
    if abs(fps - rate) <= 1e-3:
        return np.arange(num_frames, dtype=np.int64)
    times = np.arange(round(num_frames * rate / fps)) / rate
    return np.minimum(np.round(times * fps), num_frames - 1).astype(np.int64)


def run_model(model: TalkingHeadModel, sample: EvalSample) -> Made:
    """Run a model; its requested landmarks come from ``last_requested_landmarks`` of the model's owner
    (:meth:`talkface.pipeline.Animator.talking_head` sets it), if it has one, and the colour-change reference
    from its ``warped_reference()`` (:meth:`talkface.pipeline.Animator.warped_reference`). A model whose owner says its
    frame rate (``fps``, e.g. the :class:`talkface.pipeline.Animator` at the motion model's 25 frames/s) is
    brought to the clip's rate, frame by frame at the same times (:func:`at_rate`), so a 30 fps clip is
    compared with what the model shows at each of its frames' times, not index by index."""
    owner = getattr(model, "__self__", model)
    if hasattr(owner, "last_requested_landmarks"):
        owner.last_requested_landmarks = None
    frames = np.asarray(model(sample.still.copy(), sample.audio.copy()))
    requested = getattr(owner, "last_requested_landmarks", None)
    if requested is not None:
        requested = np.asarray(requested, np.float32)
        if requested.ndim != 3 or requested.shape[1:] != (68, 2) or len(requested) != len(frames):
            requested = None
    warp = getattr(owner, "warped_reference", None)
    warped = warp() if callable(warp) and requested is not None else None
    if warped is not None and np.shape(warped) != frames.shape:
        warped = None
    rate = getattr(owner, "fps", None)
    if isinstance(rate, int | float) and rate > 0 and frames.ndim >= 1 and len(frames):
        picked = at_rate(len(frames), float(rate), sample.fps)
        frames = frames[picked]
        requested = None if requested is None else requested[picked]
        warped = None if warped is None else warped[picked]
    return frames, requested, warped


def given(frames: np.ndarray) -> Made:
    """Frames made elsewhere (a video pair), with no requested landmarks."""
    return np.asarray(frames), None, None


def read_frames(path: Path, rate: float | None = None) -> Made:
    """Frames of a generated video file, with no requested landmarks; at ``rate`` frames/s (the clip's:
    :func:`at_rate`) when given and the file's rate differs."""
    from talkface.io.media import read_video  # lazy: loads av

    frames, fps = read_video(path)
    return (frames if rate is None else frames[at_rate(len(frames), fps, rate)]), None, None


def conform_landmarks(requested: np.ndarray, raw_shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
    """Requested landmarks of frames of ``raw_shape`` moved with :func:`conform` (scaled, cut/padded)."""
    t, h, w = like.shape[:3]
    lm = requested * np.array([w / raw_shape[2], h / raw_shape[1]], np.float32)
    return lm[:t] if len(lm) >= t else np.concatenate([lm, np.repeat(lm[-1:], t - len(lm), axis=0)])
