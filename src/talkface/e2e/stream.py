"""Generation with a trained temporal-GAN :class:`~talkface.e2e.networks.Generator`: streaming and whole-clip.

:func:`generate_stream` makes frames chunk by chunk from an audio stream of any length in
constant memory (:func:`stream_windows` cuts the per-frame raw windows on the fly);
:func:`generate_batch` makes a whole clip in one call and gives the same frames for the same seed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch

from talkface.audio.windows import raw_windows
from talkface.e2e.networks import Generator
from talkface.io.colour import LUMA

__all__ = ["compose_full_resolution", "frames_to_uint8", "generate_batch", "generate_stream", "images_to_tensor",
           "stream_windows", "uses_full_resolution"]




def images_to_tensor(images: np.ndarray, size: int | None = None) -> torch.Tensor:
    """uint8 RGB images -> float tensor in [-1, 1], channels first.

    Args:
        images: ``(..., H, W, 3)`` uint8 RGB.
        size: resize to ``size x size`` first (area / linear interpolation), or None.

    Returns:
        ``(..., 3, H', W')`` float32.
    """
    import cv2

    arr = np.asarray(images)
    if size is not None and arr.shape[-3:-1] != (size, size):
        flat = arr.reshape(-1, *arr.shape[-3:])
        interp = cv2.INTER_AREA if arr.shape[-3] > size else cv2.INTER_LINEAR
        flat = np.stack([cv2.resize(im, (size, size), interpolation=interp) for im in flat])
        arr = flat.reshape(*arr.shape[:-3], size, size, 3)
    t = torch.from_numpy(np.ascontiguousarray(arr)).float().div_(127.5).sub_(1.0)
    return t.movedim(-1, -3)


def frames_to_uint8(frames: torch.Tensor) -> np.ndarray:
    """Float frames in [-1, 1] ``(..., 3, H, W)`` -> uint8 RGB ``(..., H, W, 3)``."""
    x = ((frames.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).numpy()


#: the luma weights in float32 (the change :func:`compose_full_resolution` adds by default)
_LUMA = LUMA.astype(np.float32)


def compose_full_resolution(still: np.ndarray, frames: np.ndarray, luma_only: bool = True) -> np.ndarray:
    """Put generated low-resolution frames onto the full-resolution still: only the change is upsampled.

    ``out = still + upsample(frame - downsample(still))``, with ``downsample`` the resize the
    generator's input got (:func:`images_to_tensor`: area interpolation) and ``upsample`` bicubic.
    Where a frame equals the downsampled still (a ``"residual"`` generator with mask 0), the
    output is the still itself, pixel for pixel, at its own resolution; only what the speech
    changes (mouth, jaw) carries the generator's lower resolution.

    By default only the change's luminance is added (``0.299 R + 0.587 G + 0.114 B`` of the
    difference, equally to the three channels), so the photo keeps its own colours: a generator
    trained on one speaker draws that speaker's mouth colours, which on other faces read as a
    grey-blue smear (docs/e2e.md); the sync model and the lip reader see grey crops, so they see
    the same change either way.

    Args:
        still: ``(H, W, 3)`` uint8 RGB still at the output resolution (the aligned crop).
        frames: ``(s, s, 3)`` or ``(T, s, s, 3)`` uint8 RGB generated frames (``s <= H``).
        luma_only: add only the luminance of the change (default); False: the RGB change.

    Returns:
        uint8 RGB frames ``(H, W, 3)`` or ``(T, H, W, 3)``.
    """
    import cv2

    st = np.asarray(still)
    fr = np.asarray(frames)
    single = fr.ndim == 3
    fr = fr[None] if single else fr
    h, w = st.shape[:2]
    s = fr.shape[1]
    if (s, fr.shape[2]) == (h, w):
        return frames
    small = cv2.resize(st, (fr.shape[2], s), interpolation=cv2.INTER_AREA).astype(np.float32)
    base = st.astype(np.float32)
    out = np.empty((fr.shape[0], h, w, 3), np.uint8)
    for i, f in enumerate(fr):
        change = f.astype(np.float32) - small
        if luma_only:
            change = change @ _LUMA
        diff = cv2.resize(change, (w, h), interpolation=cv2.INTER_CUBIC)
        out[i] = np.clip(np.rint(base + (diff[..., None] if luma_only else diff)), 0, 255).astype(np.uint8)
    return out[0] if single else out


def uses_full_resolution(generator: Generator, full_res: bool | None = None) -> bool:
    """Whether generated frames are composed onto the full-resolution still (:func:`compose_full_resolution`).

    Args:
        generator: the generator.
        full_res: True / False to decide; None: yes for ``"residual"`` generators, no for ``"direct"``
            ones (their frames are upsampled whole, as they always were).
    """
    return generator.config.output_mode == "residual" if full_res is None else bool(full_res)


def _still_tensor(generator: Generator, still: np.ndarray) -> torch.Tensor:
    s = np.asarray(still)
    if s.ndim != 3 or s.shape[2] != 3 or s.dtype != np.uint8:
        raise ValueError(f"still must be (H, W, 3) uint8 RGB, got {s.shape} {s.dtype}")
    device = next(generator.parameters()).device
    return images_to_tensor(s, generator.config.image_size)[None].to(device)


def stream_windows(
    audio_chunks: Iterable[np.ndarray], fps: float, window: int, sample_rate: int, chunk_frames: int = 25
) -> Iterator[np.ndarray]:
    """Per-frame raw audio windows from an audio stream, chunk by chunk, in constant memory.

    Gives exactly the windows of :func:`talkface.audio.windows.raw_windows` for the whole signal
    (frame ``t`` centred at ``t / fps`` s, zeros outside the signal) and exactly
    ``round(N / sample_rate * fps)`` of them for ``N`` samples in all, while keeping only about one
    window plus one chunk of audio in memory.

    Args:
        audio_chunks: ``(n,)`` float32 mono pieces of the signal, in order (any sizes).
        fps: video frame rate.
        window: window length W, samples.
        sample_rate: Hz.
        chunk_frames: frames per yielded block (the last one may be shorter).

    Yields:
        ``(c, W)`` float32 windows of consecutive frames, ``1 <= c <= chunk_frames``.
    """
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    buf = np.zeros(0, np.float32)
    buf_start = 0  # absolute sample index of buf[0]
    received = 0
    t_next = 0

    def starts(t0: int, t1: int) -> np.ndarray:
        # Same floating-point expression as raw_windows/frame_centres, so the windows match exactly.
        return np.round(np.arange(t0, t1, dtype=np.float64) / float(fps) * sample_rate - window / 2).astype(np.int64)

    def cut(t0: int, t1: int) -> np.ndarray:
        s = starts(t0, t1)
        out = np.zeros((t1 - t0, window), np.float32)
        for i, s_i in enumerate(s):
            lo, hi = max(int(s_i), buf_start), min(int(s_i) + window, buf_start + buf.shape[0])
            if hi > lo:
                out[i, lo - s_i : hi - s_i] = buf[lo - buf_start : hi - buf_start]
        return out

    def trim() -> None:
        nonlocal buf, buf_start
        keep_from = int(starts(t_next, t_next + 1)[0])
        drop = min(max(0, keep_from - buf_start), buf.shape[0])
        if drop:
            buf = buf[drop:].copy()
            buf_start += drop

    for chunk in audio_chunks:
        piece = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if piece.size == 0:
            continue
        buf = np.concatenate([buf, piece])
        received += piece.shape[0]
        # frames that surely exist and whose whole window has arrived
        known = int(round(received / sample_rate * fps))
        while True:
            t_end = t_next + chunk_frames
            if t_end > known:
                break
            if int(starts(t_end - 1, t_end)[0]) + window > received:
                break
            yield cut(t_next, t_end)
            t_next = t_end
            trim()
    total = int(round(received / sample_rate * fps))
    while t_next < total:
        t_end = min(t_next + chunk_frames, total)
        yield cut(t_next, t_end)
        t_next = t_end
        trim()


def _as_chunks(audio: np.ndarray | Iterable[np.ndarray], size: int) -> Iterable[np.ndarray]:
    if isinstance(audio, np.ndarray):
        a = audio.reshape(-1)
        return (a[i : i + size] for i in range(0, a.shape[0], size))
    return audio


@torch.no_grad()
def generate_stream(
    generator: Generator,
    still: np.ndarray,
    audio: np.ndarray | Iterable[np.ndarray],
    *,
    fps: float | None = None,
    sample_rate: int | None = None,
    chunk_frames: int = 25,
    seed: int = 0,
) -> Iterator[np.ndarray]:
    """Stream a talking-head video from a still and speech, frame by frame, in constant memory.

    The GRU states are carried from chunk to chunk, so the frames equal those of
    :func:`generate_batch` for the same ``seed``. Exactly ``round(N / sample_rate * fps)`` frames
    come out for ``N`` audio samples.

    Args:
        generator: a trained :class:`Generator` (put in eval mode here).
        still: ``(H, W, 3)`` uint8 RGB aligned face crop (resized to the model's ``image_size``).
        audio: ``(N,)`` float32 mono speech at ``sample_rate``, or an iterable of such pieces.
        fps: video frame rate (None: the model's).
        sample_rate: audio rate, Hz (None: the model's; must equal it).
        chunk_frames: frames generated per network call (memory vs. speed; any value gives the
            same frames).
        seed: seed of the noise generator's input noise.

    Yields:
        ``(image_size, image_size, 3)`` uint8 RGB frames.
    """
    cfg = generator.config
    fps = cfg.fps if fps is None else fps
    sample_rate = cfg.sample_rate if sample_rate is None else sample_rate
    if sample_rate != cfg.sample_rate:
        raise ValueError(f"audio must be at the model's {cfg.sample_rate} Hz, got {sample_rate}")
    generator.eval()
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    state = generator.start(_still_tensor(generator, still))
    stride = max(1, int(round(sample_rate / fps)))
    for windows in stream_windows(_as_chunks(audio, stride * chunk_frames), fps, cfg.window_samples, sample_rate,
                                  chunk_frames):
        w = torch.from_numpy(windows)[None].to(device)
        noise = generator.sample_noise(1, w.shape[1], rng)
        frames, state = generator.step(state, w, noise)
        yield from frames_to_uint8(frames[0])


@torch.no_grad()
def generate_batch(
    generator: Generator,
    still: np.ndarray,
    audio: np.ndarray,
    *,
    fps: float | None = None,
    num_frames: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Generate a whole video in one network call (for evaluation and tests).

    Args:
        generator: a trained :class:`Generator` (put in eval mode here).
        still: ``(H, W, 3)`` uint8 RGB aligned face crop.
        audio: ``(N,)`` float32 mono speech at the model's sample rate.
        fps: video frame rate (None: the model's).
        num_frames: frames to make (None: ``round(N / sample_rate * fps)``).
        seed: noise seed (as in :func:`generate_stream`).

    Returns:
        ``(T, image_size, image_size, 3)`` uint8 RGB frames.
    """
    cfg = generator.config
    fps = cfg.fps if fps is None else fps
    a = np.asarray(audio, dtype=np.float32).reshape(-1)
    t = int(round(a.shape[0] / cfg.sample_rate * fps)) if num_frames is None else num_frames
    generator.eval()
    device = next(generator.parameters()).device
    windows = torch.from_numpy(raw_windows(a, t, fps, cfg.window_samples, cfg.sample_rate))[None].to(device)
    noise = generator.sample_noise(1, t, torch.Generator().manual_seed(seed))
    frames, _ = generator.step(generator.start(_still_tensor(generator, still)), windows, noise)
    return frames_to_uint8(frames[0])
