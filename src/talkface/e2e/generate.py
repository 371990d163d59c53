"""Photo + speech -> talking-head mp4 with a trained temporal GAN, and its evaluation on prepared clips.

:func:`animate_e2e` takes the photo -> video path every command shares (:mod:`talkface.photo_video`:
the same checks and messages as ``talkface animate``): it finds the face in the photo, cuts the
aligned crop the model was trained on (:func:`talkface.face.align.crop_transform`), streams the
generated crops (:func:`talkface.e2e.temporal_gan.generate_stream`), pastes each back into the photo
and encodes the video with the speech muxed in, frame by frame (memory does not grow with the audio
length).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from talkface.e2e.bundle import load_e2e_generator, load_generator
from talkface.e2e.data import load_clips, resize_frames
from talkface.e2e.stream import compose_full_resolution, uses_full_resolution
from talkface.e2e.temporal_gan import generate_batch, generate_stream
from talkface.errors import InputError
from talkface.io.ahead import FRAMES_AHEAD, made_ahead
from talkface.photo_video import DEFAULT_MAX_SIDE, check_paths, prepare_photo, read_speech, write_frames

__all__ = ["animate_e2e", "evaluate_e2e", "load_generator"]


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if image.shape[:2] == (size, size):
        return image
    interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_CUBIC
    return np.asarray(cv2.resize(image, (size, size), interpolation=interp))


def animate_e2e(
    image_path: str | os.PathLike[str],
    audio_path: str | os.PathLike[str],
    out_mp4: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    chunk_frames: int = 25,
    device: str = "cpu",
    max_duration_s: float | None = None,
    crop_only: bool = False,
    progress: bool = False,
    max_side: int = DEFAULT_MAX_SIDE,
    full_res: bool | None = None,
) -> int:
    """Animate the face of a photo with speech and write an mp4 (H.264 + AAC).

    The one entry point of end-to-end generation (``talkface animate-e2e``).

    Args:
        image_path: photo with one face (JPEG, PNG, ...).
        audio_path: speech (any audio or video file with an audio track).
        out_mp4: output video (written atomically).
        checkpoint: temporal-GAN checkpoint or generator file (None: the bundled generator,
            :mod:`talkface.e2e.bundle`).
        seed: noise seed (different seeds give different spontaneous expressions).
        chunk_frames: frames generated per network call.
        device: torch device.
        max_duration_s: use at most this many seconds of the audio (None: all).
        crop_only: write the aligned face crops (``crop_size``²) instead of pasting them into the photo.
        progress: show a progress bar (frames) on stderr.
        max_side: photos whose longer side exceeds this many pixels are downscaled first (0 = never;
            as :attr:`talkface.pipeline.AnimateConfig.max_side`).
        full_res: compose the generated frames onto the full-resolution crop of the photo
            (:func:`talkface.e2e.stream.compose_full_resolution`: only the change the generator makes
            is upsampled) instead of upsampling them whole; None: for ``"residual"`` generators.

    Returns:
        Number of frames written: ``round(duration_s * fps)``.

    Raises:
        InputError: unreadable photo/audio/checkpoint, no face or several faces, speech that is too
            short (< 0.2 s), silent or invalid (:func:`talkface.io.media.check_speech`), an output that
            is not a writable video file or is one of the inputs — the messages of ``talkface animate``.
    """
    from talkface.face.align import crop_transform, paste_back, warp_crop  # OpenCV: not for `import talkface.e2e`

    out = check_paths(image_path, audio_path, out_mp4)  # before the model loads
    generator = load_e2e_generator(checkpoint, device)
    cfg = generator.config
    audio = read_speech(audio_path, sample_rate=cfg.sample_rate, cut_s=max_duration_s)
    num_frames = int(round(audio.shape[0] / cfg.sample_rate * cfg.fps))
    if num_frames < 1:
        raise InputError(audio_path, "audio is shorter than one video frame")
    photo = prepare_photo(image_path, max_side=max_side)
    image = photo.image
    affine = crop_transform(photo.landmarks, cfg.crop_size)
    still = warp_crop(image, affine, cfg.crop_size)

    compose = uses_full_resolution(generator, full_res)

    def frames() -> Iterator[np.ndarray]:
        for crop in generate_stream(generator, still, audio, chunk_frames=chunk_frames, seed=seed):
            crop = compose_full_resolution(still, crop) if compose else _resize(crop, cfg.crop_size)
            yield crop if crop_only else paste_back(image, crop, affine)

    # generated and pasted in a thread of their own beside the encoder (torch there keeps the thread count set)
    with (tqdm(total=num_frames, unit="frame", desc="animate", disable=not progress, dynamic_ncols=True) as bar,
          made_ahead(frames(), FRAMES_AHEAD) as ahead):
        return write_frames(out, ahead, cfg.fps, audio=audio, total=num_frames, sample_rate=cfg.sample_rate,
                            progress=lambda done: bar.update(done - bar.n))


def evaluate_e2e(
    checkpoint: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    *,
    split: str | None = "test",
    max_clips: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    identity: bool = True,
    identity_stride: int = 5,
    clip_ids: Sequence[str] | None = None,
    full_res: bool | None = None,
) -> dict[str, Any]:
    """Metrics of a trained model on held-out prepared clips (paper sec. 4.2), means over clips.

    Each clip is generated from its still (the clip's neutral frame) and its own audio and
    compared with the real aligned crops at the model's resolution
    (:mod:`talkface.eval.metrics`): PSNR (dB) and SSIM of whole frames, PSNR of the lower half
    (the L1 region), CPBD sharpness (frames >= 64 px) for generated and real frames; with
    ``identity``, ACD (dlib descriptor distance of the frames, resized to the crop size, to the
    still, :func:`talkface.eval.identity.acd`, the real clip's crop landmarks standing in for
    the generated faces').

    Args:
        checkpoint: temporal-GAN checkpoint.
        dataset: prepared dataset folder.
        split: split to evaluate (None: every clip).
        max_clips: at most this many clips of the split.
        seed: noise seed.
        device: torch device.
        identity: also compute ACD (~15-200 ms a face).
        identity_stride: ACD uses every this-many-th frame.
        clip_ids: evaluate these clips instead of a split.
        full_res: score at the crop size, the generated frames composed onto each clip's
            full-resolution still (:func:`talkface.e2e.stream.compose_full_resolution`, as
            ``animate_e2e`` makes them) instead of at the model's resolution; None: for
            ``"residual"`` generators.

    Returns:
        ``{"clips", "frames", "psnr", "ssim", "psnr_lower", "cpbd", "cpbd_real", "acd", "acd_real"}``
        (the last four where computed).
    """
    from talkface.eval import metrics  # lazy: loads cv2, skimage

    generator = load_generator(checkpoint, device)
    cfg = generator.config
    compose = uses_full_resolution(generator, full_res)
    size = cfg.crop_size if compose else cfg.image_size
    clips = load_clips(dataset, split, size, max_clips=max_clips, still="neutral", clip_ids=clip_ids)
    if not clips:
        raise InputError(dataset, f"no clips with crops in split {split}")
    scores: dict[str, list[float]] = {}
    embedder = None
    if identity:
        from talkface.eval.identity import acd  # lazy: loads dlib, cv2
        from talkface.face.embed import FaceEmbedder  # lazy: loads dlib, cv2

        embedder = FaceEmbedder()
    half = size // 2
    frames_total = 0
    for clip in clips:
        real = clip.frames
        still = real[clip.still_index]
        fake = generate_batch(generator, still, clip.audio, fps=clip.fps, num_frames=clip.num_frames, seed=seed)
        if compose:
            fake = compose_full_resolution(still, fake)
        frames_total += fake.shape[0]
        found = {
            "psnr": metrics.psnr(real, fake),
            "ssim": metrics.ssim(real, fake),
            "psnr_lower": metrics.psnr(real[:, half:], fake[:, half:]),
        }
        if size >= 64:
            found["cpbd"] = metrics.cpbd(fake)
            found["cpbd_real"] = metrics.cpbd(real)
        if embedder is not None and clip.landmarks is not None:
            lm = clip.landmarks
            big_fake, big_real = resize_frames(fake, cfg.crop_size), resize_frames(real, cfg.crop_size)
            still, still_lm = big_real[clip.still_index], lm[clip.still_index]
            found["acd"] = acd(big_fake, lm, still, still_lm, embedder=embedder, stride=identity_stride)
            found["acd_real"] = acd(big_real, lm, still, still_lm, embedder=embedder, stride=identity_stride)
        for k, v in found.items():
            scores.setdefault(k, []).append(float(v))
    result: dict[str, Any] = {"clips": len(clips), "frames": frames_total}
    result.update({k: float(np.mean(v)) for k, v in scores.items()})
    return result
