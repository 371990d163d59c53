"""``talkface preprocess``: a folder of talking videos -> a prepared dataset (see :mod:`talkface.data.dataset`).

Per clip: decode video + audio, track 68 landmarks, align and crop the face, compute the
canonical (pose-free) landmarks, eye aspect ratio, neutral frame and per-frame speech features,
then write ``clips/<speaker>/<utterance>.mp4`` (crops) and ``.npz`` (arrays). The ``.npz`` is
written last and atomically, so its presence marks a finished clip: a rerun skips it
(resumable), and a crash never leaves a clip that looks finished but is not.

Work is spread over processes (``workers``) and over machines (``shard=(i, n)`` takes every n-th
source file from the i-th, in a fixed order, so a SLURM array or Ray job with n tasks covers the
corpus once with no coordination). Every run ends with :func:`finalize`, which rewrites the
speaker split and the dataset's mean face from whatever clips are finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from talkface.audio.features import available_extractors, get_extractor
from talkface.config_checks import MAX_SPEECH_S, OptionError, check_choice, check_fields, check_value
from talkface.data.dataset import FORMAT_NAME, FORMAT_VERSION, Clip, load_clip, save_clip
from talkface.errors import InputError, TalkfaceError
from talkface.face.eyes import eye_aspect_ratio
from talkface.io.atomic import atomic_path, clean_stale_parts

VIDEO_SUFFIXES = (".mp4", ".mpg", ".mpeg", ".avi", ".mov", ".mkv", ".webm", ".m4v")
SIDECAR_AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg")

# Indices of iBUG-68 points used below.
_INNER_LIP_TOP = (61, 62, 63)
_INNER_LIP_BOTTOM = (67, 66, 65)


@dataclass
class PreprocessConfig:
    """Settings of ``talkface preprocess`` (saved in ``dataset.json``).

    Attributes:
        crop_size: side of the aligned face crops, pixels (128 default; 256 supported).
        feature: speech feature name (:func:`talkface.audio.features.get_extractor`); the default
            Whisper tiny.en encoder plays DeepSpeech's role in the cascade papers.
        sample_rate: audio sample rate kept in the dataset, Hz.
        detect_every: run the face detector every k frames while tracking landmarks.
        min_duration_s: shorter clips are reported and skipped.
        max_duration_s: longer clips are reported and skipped (decoding stops early).
        min_detected_fraction: a clip whose face is found in fewer frames is skipped.
        val_fraction, test_fraction: share of *speakers* held out for validation and test.
        split_seed: seed of the speaker split.
        speaker_regex: optional regex applied to a file's stem; group 1 names the speaker. Without
            it, the speaker is the source file's parent folder when the file lies in a sub-folder of
            an input folder (GRID ``sN/*.mpg``), else the file stem.
    """

    crop_size: int = 128
    feature: str = "whisper-tiny.en"
    sample_rate: int = 16000
    detect_every: int = 5
    min_duration_s: float = 0.5
    max_duration_s: float = MAX_SPEECH_S
    min_detected_fraction: float = 0.5
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    speaker_regex: str | None = None

    def __post_init__(self) -> None:
        check_choice("crop_size", self.crop_size, (128, 256))  # type: ignore[arg-type]
        check_fields(self, ("detect_every", "min_duration_s", "max_duration_s", "val_fraction", "test_fraction",
                            "split_seed"))
        if self.val_fraction + self.test_fraction >= 1.0:
            raise OptionError("val_fraction", f"--val-fraction + --test-fraction must be below 1 (no training "
                              f"speakers left), got {self.val_fraction:g} + {self.test_fraction:g}")
        if self.feature not in available_extractors():
            raise OptionError("feature", f"unknown speech feature {self.feature!r} (one of "
                              f"{', '.join(available_extractors())})")
        if self.speaker_regex is not None:
            try:
                re.compile(self.speaker_regex)
            except re.error as exc:
                raise OptionError("speaker_regex", f"not a regular expression ({exc})") from None


@dataclass(frozen=True)
class SourceItem:
    """One source video to prepare.

    Attributes:
        video: the video file.
        audio: a side-car audio file with the speech (same stem), or None to use the video's track.
        speaker: speaker name (split unit); ``[A-Za-z0-9_.-]`` only.
        utterance: utterance name, unique within the speaker.
    """

    video: Path
    audio: Path | None
    speaker: str
    utterance: str

    @property
    def clip_id(self) -> str:
        """``"<speaker>/<utterance>"``."""
        return f"{self.speaker}/{self.utterance}"


@dataclass
class PreprocessSummary:
    """What a preprocess run did."""

    total: int = 0
    done: int = 0
    skipped_existing: int = 0
    failed: int = 0
    failed_before: int = 0
    frames: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        """Throughput of the clips processed in this run, video frames per wall-clock second."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "x"


def discover(inputs: Sequence[str | os.PathLike[str]], speaker_regex: str | None = None,
             exclude: str | os.PathLike[str] | None = None) -> list[SourceItem]:
    """Find the talking videos under ``inputs`` (files or folders, searched recursively).

    Args:
        inputs: video files and/or folders (GRID ``sN/*.mpg``, ``video/*.mp4``, a flat folder of mp4s, ...).
        speaker_regex: see :class:`PreprocessConfig`.
        exclude: a folder whose files are never taken (the dataset being written, when it lies inside an input).

    Returns:
        Items sorted by clip id (a fixed order, so shards agree).

    Raises:
        InputError: an input does not exist, or no video was found at all.
    """
    pattern = re.compile(speaker_regex) if speaker_regex else None
    skip = Path(exclude).resolve() if exclude is not None else None
    items: dict[str, SourceItem] = {}
    for raw in inputs:
        root = Path(raw)
        if not root.exists():
            raise InputError(root, "no such file or folder")
        if root.is_file():
            files, base = [root], root.parent
        else:
            files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                           and not p.name.startswith("."))
            if skip is not None:
                files = [p for p in files if not p.resolve().is_relative_to(skip)]
            base = root
        for video in files:
            stem = video.stem
            if pattern is not None:
                m = pattern.search(stem)
                speaker = m.group(1) if m and m.groups() else (m.group(0) if m else stem)
            else:
                rel_parent = video.parent.relative_to(base) if video.parent != base else None
                generic = {"video", "videos", "clips", "mp4", "mpg"}
                if rel_parent is not None and rel_parent.parts:
                    parts = [p for p in rel_parent.parts if p.lower() not in generic]
                    speaker = parts[0] if parts else base.name
                elif root.is_dir() and base.name.lower() in generic:
                    speaker = base.parent.name
                else:
                    speaker = stem
            audio = next(
                (video.with_suffix(s) for s in SIDECAR_AUDIO_SUFFIXES if video.with_suffix(s).is_file()), None
            )
            item = SourceItem(video, audio, _safe_name(speaker), _safe_name(stem))
            key = item.clip_id
            n = 2
            while key in items:  # same stem twice for one speaker: keep both
                item = dataclasses.replace(item, utterance=f"{_safe_name(stem)}-{n}")
                key, n = item.clip_id, n + 1
            items[key] = item
    if not items:
        raise InputError(", ".join(os.fspath(p) for p in inputs) or "(no inputs)", "no video files found")
    return [items[k] for k in sorted(items)]


def select_shard(items: Sequence[SourceItem], shard: tuple[int, int]) -> list[SourceItem]:
    """Every ``n``-th item starting at ``i`` for ``shard=(i, n)``, 0 ≤ i < n."""
    i, n = shard
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")
    return list(items[i::n])


def neutral_frame_index(landmarks: np.ndarray, ear: np.ndarray, detected: np.ndarray) -> int:
    """Pick the neutral frame: mouth closed, eyes open, face detected.

    Args:
        landmarks: (T, 68, 2) float32, pixels.
        ear: (T,) eye aspect ratio.
        detected: (T,) bool.

    Returns:
        Index of the frame with the smallest inner-lip gap (relative to face width) among detected
        frames whose EAR is at least the clip's median (eyes open); earlier frames win ties.
    """
    face_width = np.linalg.norm(landmarks[:, 16] - landmarks[:, 0], axis=-1) + 1e-6
    gap = np.linalg.norm(
        landmarks[:, list(_INNER_LIP_TOP)] - landmarks[:, list(_INNER_LIP_BOTTOM)], axis=-1
    ).mean(axis=1)
    score = gap / face_width
    ok = detected & (ear >= np.median(ear[detected] if detected.any() else ear))
    if not ok.any():
        ok = np.ones_like(detected)
    score = np.where(ok, score, np.inf)
    return int(np.argmin(score))


def _dataset_meta(config: PreprocessConfig, feature_dim: int, fps: float | None) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "fps": fps,
        "crop_size": config.crop_size,
        "sample_rate": config.sample_rate,
        "feature": {"name": config.feature, "dim": feature_dim},
        "config": dataclasses.asdict(config),
    }


class _Worker:
    """Per-process state: the face tracker and the speech-feature extractor, loaded once."""

    def __init__(self, config: PreprocessConfig, out_root: Path, threads: int) -> None:
        self.config = config
        self.out_root = out_root
        kwargs: dict[str, Any] = {"threads": threads} if config.feature.startswith("whisper") else {}
        self.extractor = get_extractor(config.feature, **kwargs)

    def __call__(self, item: SourceItem) -> dict[str, Any]:
        start = time.perf_counter()
        record: dict[str, Any] = {"id": item.clip_id, "source": os.fspath(item.video),
                                  "source_stamp": _source_stamp(item)}
        if item.audio is not None:
            record["audio_source"] = os.fspath(item.audio)
        try:
            clip = self.prepare(item)
        except TalkfaceError as exc:
            record.update(status="error", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop a corpus run
            record.update(status="error", error=f"{item.video}: {exc.__class__.__name__}: {exc}".splitlines()[0])
        else:
            record.update(status="ok", frames=clip.num_frames, fps=clip.fps, speaker=clip.speaker)
        record["seconds"] = round(time.perf_counter() - start, 3)
        return record

    def prepare(self, item: SourceItem) -> Clip:
        """Prepare one clip and write it; returns the clip written."""
        from talkface.face.align import (  # lazy: loads cv2
            align_to_canonical,
            crop_transforms,
            transform_points,
            warp_crop,
        )
        from talkface.face.landmarks import track_landmarks  # lazy: loads dlib, cv2
        from talkface.io.media import check_speech, probe, read_audio, read_video, write_video  # lazy: loads av

        cfg = self.config
        info = probe(item.video)
        if not info.has_video:
            raise InputError(item.video, "no video stream")
        if info.duration_s > cfg.max_duration_s:
            raise InputError(item.video, f"too long ({info.duration_s:.0f} s > {cfg.max_duration_s:.0f} s limit)")
        audio_src = item.audio or item.video
        audio = read_audio(audio_src, sample_rate=cfg.sample_rate, max_duration_s=cfg.max_duration_s)
        check_speech(audio, audio_src, sample_rate=cfg.sample_rate, min_duration_s=cfg.min_duration_s)
        frames, fps = read_video(item.video, max_duration_s=cfg.max_duration_s)
        num_frames = int(frames.shape[0])
        if num_frames / fps < cfg.min_duration_s:
            raise InputError(item.video, f"too short ({num_frames} frames)")
        # Audio and video must cover the same time span: trim/pad the audio to the video.
        want = int(round(num_frames / fps * cfg.sample_rate))
        audio = audio[:want] if audio.shape[0] >= want else np.pad(audio, (0, want - audio.shape[0]))

        track = track_landmarks(frames, detect_every=cfg.detect_every, path=item.video)
        frac = float(track.detected.mean())
        if frac < cfg.min_detected_fraction:
            raise InputError(item.video, f"face found in only {frac:.0%} of frames")
        landmarks = track.landmarks.astype(np.float32)
        affines = crop_transforms(landmarks, cfg.crop_size, smooth=True).astype(np.float32)
        crop_landmarks = np.stack([transform_points(landmarks[t], affines[t]) for t in range(num_frames)])
        canonical = align_to_canonical(landmarks).astype(np.float32)
        ear = eye_aspect_ratio(landmarks).astype(np.float32)
        neutral = neutral_frame_index(landmarks, ear, track.detected)
        features = self.extractor(audio, num_frames, fps).astype(np.float32)

        npz_path = self.out_root / "clips" / f"{item.clip_id}.npz"
        mp4_path = npz_path.with_suffix(".mp4")
        crops = (warp_crop(frames[t], affines[t], cfg.crop_size) for t in range(num_frames))
        write_video(mp4_path, crops, fps, crf=18)
        clip = Clip(
            clip_id=item.clip_id,
            speaker=item.speaker,
            fps=float(fps),
            landmarks=landmarks,
            crop_landmarks=crop_landmarks.astype(np.float32),
            crop_affine=affines,
            canonical=canonical,
            detected=track.detected.astype(bool),
            neutral_index=neutral,
            ear=ear,
            features=features,
            audio=audio.astype(np.float32),
            sample_rate=cfg.sample_rate,
            crop_path=mp4_path,
        )
        save_clip(npz_path, clip)
        return clip


_WORKER: _Worker | None = None


def _init_worker(config: PreprocessConfig, out_root: Path, threads: int) -> None:
    global _WORKER  # per-process worker state, created once in each pool process
    _WORKER = _Worker(config, out_root, threads)


def _run_item(item: SourceItem) -> dict[str, Any]:
    assert _WORKER is not None
    return _WORKER(item)


def _map(
    items: Sequence[SourceItem], config: PreprocessConfig, out_root: Path, workers: int
) -> Iterator[dict[str, Any]]:
    if workers <= 1:
        worker = _Worker(config, out_root, threads=max(1, os.cpu_count() or 1))
        for item in items:
            yield worker(item)
        return
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(config, out_root, 1)) as pool:
        yield from pool.imap_unordered(_run_item, items)


def _source_stamp(item: SourceItem) -> list[int]:
    """Size and modification time (ns) of a clip's source file(s): a failed clip is tried again once they change."""
    stamp: list[int] = []
    for path in (item.video, item.audio):
        if path is not None:
            try:
                st = path.stat()
                stamp += [st.st_size, st.st_mtime_ns]
            except OSError:
                stamp += [-1, -1]
    return stamp


def _failed_before(out_root: Path, items: Sequence[SourceItem]) -> set[str]:
    """Ids of ``items`` whose latest manifest record (any shard's) is a failure of the same, unchanged source."""
    last: dict[str, dict[str, Any]] = {}
    for manifest in sorted(out_root.glob("manifest*.jsonl")):
        try:
            lines = manifest.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:  # a line torn by a kill
                continue
            if isinstance(record, dict) and isinstance(record.get("id"), str):
                last[record["id"]] = record
    failed = set()
    for item in items:
        record = last.get(item.clip_id)
        if record is None or record.get("status") != "error" or record.get("source") != os.fspath(item.video):
            continue
        stamp = record.get("source_stamp")
        if stamp is None or stamp == _source_stamp(item):
            failed.add(item.clip_id)
    return failed


def read_dataset_json(path: Path) -> dict[str, Any]:
    """A dataset's ``dataset.json``, or :class:`InputError` naming it when it is not readable JSON of an object."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"unreadable dataset description ({exc.__class__.__name__}); remove the file "
                         "to prepare the dataset again") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise InputError(path, "not a talkface dataset description; remove the file to prepare the dataset again")
    return meta


def _check_or_write_meta(out_root: Path, config: PreprocessConfig) -> None:
    meta_path = out_root / "dataset.json"
    if meta_path.is_file():
        old = read_dataset_json(meta_path)
        old_cfg = old.get("config", {})
        for key in ("crop_size", "feature", "sample_rate"):
            if old_cfg.get(key) != getattr(config, key):
                raise InputError(
                    out_root,
                    f"was prepared with {key}={old_cfg.get(key)!r}, not {getattr(config, key)!r}; "
                    "use another output folder",
                )
        return
    dim = get_extractor(config.feature).dim
    _write_json(meta_path, _dataset_meta(config, dim, fps=None))


def _write_json(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")


def split_speakers(
    speakers: Iterable[str], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[str]]:
    """Assign whole speakers to train/val/test (deterministic for a seed).

    With 3 or more speakers, val and test get at least one speaker each (when their fraction > 0);
    with 2, one goes to test; with 1, everything is train (see :func:`finalize` for the fallback).
    """
    names = sorted(set(speakers))
    order = sorted(names, key=lambda s: hashlib.sha1(f"{seed}:{s}".encode()).hexdigest())
    n = len(order)
    n_test = 0 if n < 2 or test_fraction <= 0 else max(1, round(n * test_fraction))
    n_val = 0 if n < 3 or val_fraction <= 0 else max(1, round(n * val_fraction))
    return {"test": sorted(order[:n_test]), "val": sorted(order[n_test : n_test + n_val]),
            "train": sorted(order[n_test + n_val :])}


def finalize(out_root: str | os.PathLike[str]) -> dict[str, Any]:
    """Write ``splits.json``, ``mean_face.npy`` and the dataset's fps from the finished clips.

    A dataset of one speaker cannot be split by speaker; its utterances are then split
    (``"split_unit": "utterance"`` in ``splits.json``) so that validation still uses unseen sentences.

    Returns:
        The splits dictionary written.
    """
    from talkface.face.align import mean_face  # lazy: loads cv2

    root = Path(out_root)
    meta = read_dataset_json(root / "dataset.json")
    cfg = meta["config"]
    clean_stale_parts(root)
    clean_stale_parts(root / "clips", recursive=True)
    clip_paths = sorted(p for p in (root / "clips").glob("*/*.npz") if not p.name.startswith("."))
    neutrals, fps_values = [], []
    for p in clip_paths:  # every clip readable before anything is written
        clip = load_clip(p)
        neutrals.append(clip.neutral)
        fps_values.append(clip.fps)
    ids = [p.relative_to(root / "clips").with_suffix("").as_posix() for p in clip_paths]
    by_speaker: dict[str, list[str]] = {}
    for cid in ids:
        by_speaker.setdefault(cid.split("/")[0], []).append(cid)
    splits: dict[str, Any]
    if len(by_speaker) >= 2:
        spk = split_speakers(by_speaker, cfg["val_fraction"], cfg["test_fraction"], cfg["split_seed"])
        splits = {k: sorted(c for s in v for c in by_speaker[s]) for k, v in spk.items()}
        splits["speakers"] = spk
        splits["split_unit"] = "speaker"
    else:
        part = split_speakers(ids, cfg["val_fraction"], cfg["test_fraction"], cfg["split_seed"])
        splits = {**part, "split_unit": "utterance"}
    _write_json(root / "splits.json", splits)

    if clip_paths:
        with atomic_path(root / "mean_face.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, mean_face(np.stack(neutrals)).astype(np.float32))
        meta["fps"] = float(np.median(fps_values))
        meta["fps_values"] = sorted({round(f, 3) for f in fps_values})
    meta["clips"] = len(ids)
    meta["speakers"] = len(by_speaker)
    _write_json(root / "dataset.json", meta)
    return splits


def preprocess(
    inputs: Sequence[str | os.PathLike[str]],
    out_root: str | os.PathLike[str],
    config: PreprocessConfig | None = None,
    *,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
    retry_failed: bool = False,
) -> PreprocessSummary:
    """Prepare every talking video under ``inputs`` into the dataset folder ``out_root``.

    Args:
        inputs: video files and/or folders.
        out_root: dataset folder (created; an existing one is resumed: finished clips are skipped).
        config: settings; must match those of an existing ``out_root``.
        workers: processes working on different files at once.
        shard: ``(i, n)``: only this shard's share of the files (for many machines).
        progress: show a progress bar on stderr.
        retry_failed: try again the clips whose latest manifest record is a failure (by default they are
            skipped until their source file changes, so a rerun does not redo and re-log them).

    Returns:
        A summary; per-file results (including each error) are appended to ``manifest.jsonl``
        (``manifest-<i>of<n>.jsonl`` when sharded).
    """
    config = config or PreprocessConfig()
    check_value("workers", workers)
    out = Path(out_root)
    if out.exists() and not out.is_dir():
        raise InputError(out, "output exists and is not a folder; give a dataset folder")
    # inputs first: a missing or empty input creates nothing
    items = select_shard(discover(inputs, config.speaker_regex, exclude=out), shard)
    out.mkdir(parents=True, exist_ok=True)
    _check_or_write_meta(out, config)
    clean_stale_parts(out / "clips", recursive=True)  # torn temporary files of a killed run
    summary = PreprocessSummary(total=len(items))
    todo = [it for it in items if not (out / "clips" / f"{it.clip_id}.npz").is_file()]
    summary.skipped_existing = len(items) - len(todo)
    if not retry_failed:
        failed = _failed_before(out, todo)
        todo = [it for it in todo if it.clip_id not in failed]
        summary.failed_before = len(failed)
    manifest = out / ("manifest.jsonl" if shard[1] == 1 else f"manifest-{shard[0]}of{shard[1]}.jsonl")
    start = time.perf_counter()
    bar = tqdm(total=len(todo), unit="clip", desc="preprocess", disable=not progress, dynamic_ncols=True)
    with open(manifest, "a", encoding="utf-8") as log:
        for record in _map(todo, config, out, max(1, workers)):
            log.write(json.dumps(record) + "\n")
            log.flush()
            if record["status"] == "ok":
                summary.done += 1
                summary.frames += int(record["frames"])
            else:
                summary.failed += 1
                summary.errors.append(record["error"])
                bar.write(f"skipped: {record['error']}")
            bar.update(1)
            bar.set_postfix(ok=summary.done, failed=summary.failed)
    bar.close()
    summary.seconds = time.perf_counter() - start
    finalize(out)
    return summary
