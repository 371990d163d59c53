"""Streaming core: PCM chunks in, 25 fps frames out, with a bounded look-ahead and constant memory.

:class:`FaceStream` holds everything one live session needs for one photo and is fed audio as it
arrives (:meth:`FaceStream.push`, then :meth:`FaceStream.finish` at the end); each call returns
the frames that became ready, as ``(timestamp_s, frame)`` pairs. :func:`stream` wraps it as an
iterator over an iterable of chunks (``Animator.stream`` calls it).

Per video frame ``t`` (time stamp ``t / fps``):

1. **motion** — the streaming motion model (:mod:`talkface.live.model`) on the causal log-mel
   frames up to ``t / fps + lookahead`` (120 ms): frame ``t`` is made as soon as sample
   ``(t / fps + 0.12 s) · 16000`` has arrived. Only the last ``context`` mel frames (400 ms) and
   the last 15 ms of samples are kept.
2. **blinks** — the blink generator's GRU run one step per frame with its hidden state carried
   over (:class:`OnlineBlinks`), driven by seeded noise drawn in fixed one-second blocks, so the
   same seed gives the same blinks whatever the chunking; each block's blinks re-timed to a real
   blink's profile as offline (:mod:`talkface.motion.blink_shape`).
3. **retargeting** — onto the photo's own landmarks (eq. 7, :func:`talkface.motion.retarget.retarget`;
   an open mouth in the photo is closed first, as offline: to the model's rest gap with the default
   ``AnimateConfig.mouth_request="centred"``, whose amplitude gain is run causally by
   :class:`talkface.live.online_motion.OnlineCentredMouth`).
4. **texture** — one call, :func:`frame_renderer`, maps landmark frames to output frames; it is the
   only place that knows how frames are rendered, so the renderer can be swapped.

Frames are batched per call (all frames made ready by one chunk go through the texture network
together), which is what keeps up with real time on a CPU: a 40-ms chunk makes one frame, a 200-ms
chunk five.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from talkface.audio.features import num_video_frames
from talkface.errors import InputError
from talkface.face.geometry import EYE_POINTS, SPEECH_POINTS, mouth_opening
from talkface.live.model import LOG_FLOOR, load_stream_motion, log_mel
from talkface.motion.amplitude import SILENCE_DBFS, PauseClosure, mouth_request
from talkface.motion.blink_shape import shape_blinks, shape_margin
from talkface.motion.lids import apply_closure, blink_closure, open_eye_level
from talkface.photo_video import resize_to as _resize_to

if TYPE_CHECKING:
    from talkface.live.model import StreamMotionInference
    from talkface.pipeline import Animator

__all__ = ["FaceStream", "MotionStream", "OnlineBlinks", "Renderer", "frame_renderer", "load_stream_model",
           "pcm16_to_float", "stream"]

SAMPLE_RATE = 16000
#: ``renderer(landmarks (n, 68, 2) in photo pixels) -> n frames``
Renderer = Callable[[np.ndarray], list[np.ndarray]]


def pcm16_to_float(data: bytes | bytearray | memoryview) -> np.ndarray:
    """Little-endian signed 16-bit PCM bytes -> (N,) float32 in [-1, 1] (an odd trailing byte is an error)."""
    if len(data) % 2:
        raise ValueError("16-bit PCM needs an even number of bytes")
    return np.frombuffer(bytes(data), dtype="<i2").astype(np.float32) / 32768.0


def load_stream_model(animator: Animator) -> StreamMotionInference:
    """The streaming motion model of the animator's bundle (``stream_motion`` in ``talkface-model.json``).

    Loaded once per animator and cached on it.

    Raises:
        InputError: the bundle names no streaming motion model, or its file does not load.
    """
    cached = getattr(animator, "_stream_motion", None)
    if cached is not None:
        return cached
    bundle = animator.bundle
    name = bundle.info.get("stream_motion")
    if not name:
        raise InputError(bundle.path, "this model bundle has no streaming motion model ('stream_motion')")
    model = load_stream_motion(bundle.path / str(name), map_location=animator.device).eval()
    if float(model.config.fps) != animator.fps:
        raise InputError(bundle.path / str(name), f"streaming model runs at {model.config.fps:g} fps, the bundle at "
                         f"{animator.fps:g}")
    animator._stream_motion = model  # type: ignore[attr-defined]
    return model


class MotionStream:
    """Streaming speech -> canonical speech motion (speech points only), one step per video frame.

    Args:
        model: the streaming motion model.
    """

    def __init__(self, model: StreamMotionInference) -> None:
        self.model = model
        self.config = model.config
        self.frontend = model.frontend()
        k = self.config.context
        self._history = np.full((k, self.config.n_mels), LOG_FLOOR, np.float32)  # mel frames first_mel ..
        self._first_mel = -k  # index of _history[0]
        self.samples = 0  # samples received
        self.next_frame = 0  # next video frame to make

    @property
    def state_size(self) -> int:
        """Numbers held between calls (bounded: the mel history plus the frontend's sample tail)."""
        return int(self._history.size + self.frontend.buffered)

    def push(self, samples: np.ndarray, limit: int | None = None) -> np.ndarray:
        """Feed samples; return (n, 46, 2) displacements of the frames that became ready.

        Args:
            samples: (N,) float32 mono at the model's rate.
            limit: make no frame with index >= this (the end of a finished stream).
        """
        samples = np.asarray(samples, dtype=np.float32).ravel()
        self.samples += len(samples)
        mel = log_mel(self.frontend.push(samples))
        cfg = self.config
        history = np.concatenate([self._history, mel]) if len(mel) else self._history
        last_have = self._first_mel + len(history) - 1
        frames = []
        t = self.next_frame
        while (limit is None or t < limit) and int(cfg.last_mel(t)) <= last_have:
            end = int(cfg.last_mel(t)) - self._first_mel + 1
            frames.append(history[end - cfg.context: end])
            t += 1
        keep = cfg.context
        self._first_mel += len(history) - keep
        self._history = np.ascontiguousarray(history[-keep:])
        self.next_frame = t
        if not frames:
            return np.zeros((0, 46, 2), np.float32)
        with torch.no_grad():
            windows = torch.from_numpy(np.stack(frames)).to(self.model.canonical_neutral.device)
            return self.model(windows).cpu().numpy().astype(np.float32)


class OnlineBlinks:
    """The blink generator run online, its GRU's hidden state carried over, its blinks re-timed per block.

    Noise is drawn from a generator seeded with ``seed`` in blocks of ``block`` frames, so frame
    ``t`` always gets the same noise whatever the chunking; ``burn_in`` frames are run first (as
    :meth:`talkface.motion.blink.BlinkModel.generate_eyes` does) so the first frames are typical.
    The noise of a whole block is known when it is drawn, so the GRU runs once per block (one call
    of ``block`` steps instead of ``block`` calls of one step: the same recurrence, a tenth of the
    per-frame CPU time) and :meth:`step` hands out the block's frames.

    With ``shaped`` (the default, as offline) each block is re-timed once
    (:func:`talkface.motion.blink_shape.shape_blinks`) from the raw frames
    :func:`~talkface.motion.blink_shape.shape_margin` (64 at 25 fps) either side of it, every decision
    of which lies inside that slice: the frames equal the offline shaping of the whole raw sequence
    (``test_online_blinks_are_retimed_as_offline``). The GRU then runs up to three blocks ahead of the
    frames handed out; the noise does not depend on the speech, so this adds no latency. Held between
    calls: the hidden state, at most one block of noise and of outputs, and ``2 * margin + block`` raw
    frames.

    Args:
        blink: the blink model.
        seed: noise seed.
        noise_scale: noise temperature (blink rate, see ``noise_scale_for_rate``).
        block: frames of noise drawn (and run through the GRU, and re-timed) at a time.
        shaped: re-time the blinks (False: G_B's raw output).
    """

    def __init__(self, blink: Any, seed: int = 0, noise_scale: float = 1.0, block: int = 25,
                 shaped: bool = True) -> None:
        self.blink = blink
        self.scale = float(noise_scale)
        self.block = int(block)
        self.shaped = bool(shaped)
        self.margin = shape_margin(float(blink.config.fps)) if shaped else 0
        self._gen = torch.Generator().manual_seed(int(seed))
        self._noise = torch.zeros(0, blink.config.noise_dim)
        self._hidden: torch.Tensor | None = None
        self._ready = np.zeros((0, 22, 2), np.float32)  # raw eye displacements computed, not yet taken
        self._raw = np.zeros((0, 22, 2), np.float32)  # raw frames _raw_start .. kept for re-timing
        self._raw_start = 0
        self._shaped = np.zeros((0, 22, 2), np.float32)  # re-timed frames not yet handed out
        self._blocks = 0  # blocks re-timed
        burn = int(blink.config.burn_in)
        if burn:
            self._raw_step(burn)

    def _take(self, n: int) -> torch.Tensor:
        while len(self._noise) < n:
            fresh = torch.randn(self.block, self.blink.config.noise_dim, generator=self._gen)
            self._noise = torch.cat([self._noise, fresh])
        out, self._noise = self._noise[:n], self._noise[n:]
        return out

    @torch.no_grad()
    def _run_block(self) -> np.ndarray:
        g = self.blink.generator
        z = (self._take(self.block) * self.scale)[None].to(self.blink.scale.device)
        h, self._hidden = g.rnn(z, self._hidden)
        return g.last(g.head(h)).view(self.block, 22, 2).cpu().numpy().astype(np.float32)

    def _raw_step(self, n: int) -> np.ndarray:
        """G_B's raw output for the next ``n`` frames."""
        parts = [self._ready]
        have = len(self._ready)
        while have < n:
            parts.append(self._run_block())
            have += self.block
        ready = np.concatenate(parts) if len(parts) > 1 else self._ready
        out, self._ready = ready[:n], ready[n:]
        return out

    def _shape_block(self) -> None:
        """Re-time the next block from its raw frames and ``margin`` frames either side."""
        start = self._blocks * self.block
        end = start + self.block
        have = self._raw_start + len(self._raw)
        if have < end + self.margin:
            self._raw = np.concatenate([self._raw, self._raw_step(end + self.margin - have)])
        lo = max(0, start - self.margin)
        window = self._raw[lo - self._raw_start:end + self.margin - self._raw_start]
        shaped = shape_blinks(window, self.blink)[start - lo:end - lo]
        self._shaped = np.concatenate([self._shaped, shaped])
        self._blocks += 1
        keep = max(0, end - self.margin)  # the next block's slice starts here
        self._raw = self._raw[keep - self._raw_start:]
        self._raw_start = keep

    def step(self, n: int) -> np.ndarray:
        """Eye-region displacements of the next ``n`` frames: (n, 22, 2) float32, canonical units."""
        if n <= 0:
            return np.zeros((0, 22, 2), np.float32)
        if not self.shaped:
            return self._raw_step(n)
        while len(self._shaped) < n:
            self._shape_block()
        out, self._shaped = self._shaped[:n], self._shaped[n:]
        return out


def frame_renderer(animator: Animator, image: np.ndarray, person_landmarks: np.ndarray, size: int = 0,
                   head_motion: float = 1.0) -> Renderer:
    """The texture stage for one photo, as one function: landmark frames (photo pixels) -> output frames.

    The animator's renderer, as :meth:`talkface.pipeline.Animator.animate` renders: ``"native"`` (the
    default: :class:`talkface.render.compose.NativeRenderer`, the photo warped at its own resolution;
    its face region is sized for the farthest the online head motion of strength ``head_motion`` can
    move the face, since a stream's track is not known in advance), or ``"crop"`` (the aligned-crop
    texture generator, :class:`talkface.texture.adapt.PersonModel`, pasted back). ``size`` 0 = the
    whole photo, N = an N × N face crop. Swap this function to change the renderer.
    """
    import cv2

    from talkface.face.align import crop_transform, paste_back, transform_points, warp_crop  # lazy: loads cv2

    s = animator.image_size
    affine = crop_transform(person_landmarks, s)
    if animator.config.renderer == "native":
        from talkface.live.online_motion import head_motion_envelope  # lazy: loads cv2
        from talkface.render.compose import NativeRenderer, RenderConfig  # lazy: loads cv2

        mouth = animator.config.mouth
        if mouth == "auto":
            mouth = "generator" if animator.config.person else "painted"
        canonical = load_stream_model(animator).canonical_neutral.cpu().numpy()
        envelope = head_motion_envelope(person_landmarks, head_motion, canonical)
        native = NativeRenderer(image, person_landmarks, envelope,
                                RenderConfig(mouth=mouth, shading=animator.config.shading,
                                             adaptive_mouth=animator.config.adaptive_mouth,
                                             resample=animator.config.resample))
        out_affine = crop_transform(person_landmarks, size) if size else None
        generator = None
        if mouth == "generator":
            generator = animator._person(warp_crop(image, affine, s), transform_points(person_landmarks, affine))

        def render_native(landmarks: np.ndarray) -> list[np.ndarray]:
            if len(landmarks) == 0:
                return []
            generated: list[np.ndarray | None] = [None] * len(landmarks)
            if generator is not None:
                crops = generator.generate(transform_points(landmarks, affine), batch_size=max(1, len(landmarks)))
                generated = [paste_back(image, c, affine) for c in crops]
            out = [native(t, mouth_image=g) for t, g in zip(landmarks, generated, strict=True)]
            if out_affine is not None:
                out = [np.asarray(warp_crop(f, out_affine, size)) for f in out]
            return out

        return render_native

    crop = warp_crop(image, affine, s)
    person = animator._person(crop, transform_points(person_landmarks, affine))

    def render(landmarks: np.ndarray) -> list[np.ndarray]:
        if len(landmarks) == 0:
            return []
        crops = person.generate(transform_points(landmarks, affine), batch_size=max(1, len(landmarks)))
        if size:
            return [c if size == s else np.asarray(cv2.resize(c, (size, size), interpolation=cv2.INTER_CUBIC))
                    for c in crops]
        return [paste_back(image, c, affine) for c in crops]

    return render


class FaceStream:
    """One live session: a photo, animated by speech pushed in chunks.

    Args:
        animator: a loaded :class:`talkface.pipeline.Animator` (its bundle must have ``stream_motion``).
        photo: path of the photo, or an (H, W, 3) uint8 RGB image.
        seed: blink seed (default: the animator's config).
        blink_rate: blinks per second (None: the model's natural rate; default: the config's).
        motion_scale: gain on the speech motion (default: the config's).
        size: 0 = whole photo, N = N × N face crop (default: the config's).
        head_motion: strength of the head and brow motion, run online
            (:class:`talkface.live.online_motion.OnlineHeadMotion`, seeded with ``seed``; 0 = still head,
            the stream's output as before head motion existed; default: the config's).
        normalise_mouth: causal mouth-amplitude normalisation (default: the config's); where its gain applies
            follows ``AnimateConfig.mouth_request`` as offline: ``"centred"`` about a running mean speech
            posture, in speech only (:class:`talkface.live.online_motion.OnlineCentredMouth`), ``"neutral"``
            about the neutral face (:class:`talkface.live.online_motion.OnlineMouthGain`).
        mouth_gain: a fixed gain on speech frames instead of the running estimate (None: running).
        renderer: replaces :func:`frame_renderer` (called with the animator, image, landmarks, size).

    Raises:
        InputError: unreadable photo, no face or several faces, or no streaming model in the bundle.
    """

    def __init__(
        self,
        animator: Animator,
        photo: str | os.PathLike[str] | np.ndarray,
        *,
        seed: int | None = None,
        blink_rate: float | None | str = "config",
        motion_scale: float | None = None,
        size: int | None = None,
        head_motion: float | None = None,
        normalise_mouth: bool | None = None,
        mouth_gain: float | None = None,
        renderer: Callable[..., Renderer] | None = None,
    ) -> None:
        from talkface.live.online_motion import (  # lazy: loads cv2
            OnlineCentredMouth,
            OnlineHeadMotion,
            OnlineMouthGain,
            OnlineSpeechPresence,
            StreamHeadApplier,
            corner_share,
        )
        from talkface.motion.render import check_motion_scale  # lazy: loads cv2
        from talkface.motion.retarget import close_mouth, mouth_is_open  # lazy: loads cv2

        cfg = animator.config
        self.animator = animator
        self.model = load_stream_model(animator)
        if isinstance(photo, np.ndarray):
            image, where = np.ascontiguousarray(photo), "<photo>"
        else:
            from talkface.io.images import read_image  # lazy: loads PIL

            image, where = read_image(photo), os.fspath(photo)
        self.image = _resize_to(image, cfg.max_side)
        self.person_landmarks = animator._face(self.image, where)
        self.canonical_neutral = self.model.canonical_neutral.cpu().numpy().astype(np.float32)
        # as offline (predict_landmarks): AnimateConfig.mouth_request says where the gain applies and what an
        # open photo mouth is closed to (the model's rest gap, or zero for the previous request)
        self.request = mouth_request(cfg.mouth_request)
        neutral = np.asarray(self.person_landmarks)
        if cfg.close_mouth and mouth_is_open(neutral):
            neutral = close_mouth(neutral, keep_gap=self.request.closed_opening(self.canonical_neutral, neutral))
        self.neutral = neutral
        self.gain = check_motion_scale(cfg.motion_scale if motion_scale is None else motion_scale)
        rate = cfg.blink_rate if blink_rate == "config" else blink_rate
        blink = animator.bundle.blink
        self.blinks = None
        if blink is not None:
            scale = 1.0 if rate is None else blink.noise_scale_for_rate(float(rate))
            self.blinks = OnlineBlinks(blink, cfg.seed if seed is None else seed, scale)
        self.motion = MotionStream(self.model)
        self.fps = float(self.model.config.fps)
        self.sample_rate = int(self.model.config.sample_rate)
        out_size = cfg.size if size is None else size
        self.head = OnlineHeadMotion(self.fps, cfg.seed if seed is None else seed,
                                     cfg.head_motion if head_motion is None else head_motion, self.sample_rate)
        if renderer is None:
            self.render = frame_renderer(animator, self.image, self.person_landmarks, out_size, self.head.strength)
        else:
            self.render = renderer(animator, self.image, self.person_landmarks, out_size)
        self.apply_head = StreamHeadApplier(self.neutral, self.canonical_neutral)
        normalise = cfg.normalise_mouth if normalise_mouth is None else normalise_mouth
        self.mouth_gain: OnlineMouthGain | OnlineCentredMouth | None = None
        self.presence: OnlineSpeechPresence | None = None
        if normalise and self.request.centre == "speech_mean":
            self.mouth_gain = OnlineCentredMouth(fps=self.fps, fixed=mouth_gain, corners=corner_share(
                self.canonical_neutral, self.request.corner_posture),
                rest_opening=float(mouth_opening(self.canonical_neutral[None].astype(np.float64))[0]))
            # frame t + hold's RMS window must lie inside the look-ahead (offline hold 2: 100 ms at 25 fps)
            ahead = int(np.floor(self.model.config.lookahead_ms / 1000.0 * self.fps - 0.5 + 1e-9))
            self.presence = OnlineSpeechPresence(self.fps, hold=max(0, min(2, ahead)))
        elif normalise:
            self.mouth_gain = OnlineMouthGain(fps=self.fps, fixed=mouth_gain)
        # as offline: a wide-open photo mouth rests part way in speech and closes all the way in pauses
        self.shut: np.ndarray | None = None
        self.pause: PauseClosure | None = None
        person = np.asarray(self.person_landmarks)
        if (self.presence is not None and cfg.close_mouth and mouth_is_open(person)
                and self.request.closes_in_pauses(self.canonical_neutral, person)):
            self.shut = close_mouth(person, keep_gap=self.request.rest_opening(self.canonical_neutral))
            self.pause = PauseClosure(self.fps)
        self.finished = False

    @property
    def lookahead_s(self) -> float:
        """Audio needed past a frame's time stamp before the frame can be made, seconds."""
        return float(self.model.config.lookahead_ms) / 1000.0

    @property
    def frames_out(self) -> int:
        """Frames made so far."""
        return self.motion.next_frame

    def _frames(self, displacement: np.ndarray, max_render: int | None = None,
                closing: np.ndarray | None = None) -> list[tuple[float, Any]]:
        from talkface.live.online_motion import OnlineCentredMouth, OnlineMouthGain  # lazy: loads cv2
        from talkface.motion.retarget import retarget  # lazy: loads cv2

        n = len(displacement)
        if n == 0:
            return []
        first = self.motion.next_frame - n
        canonical = np.broadcast_to(self.canonical_neutral, (n, 68, 2)).copy()
        gain = np.full((n, 1, 1), self.gain, np.float32)
        presence: np.ndarray | None = None
        if self.mouth_gain is not None:
            raw = canonical.copy()
            raw[:, list(SPEECH_POINTS)] += displacement
            ahead = 0 if self.presence is None else self.presence.hold  # frames read past the last one made
            rms = np.array([self.head._frame_rms(first + i) for i in range(n + ahead)])
            active = rms[:n] > 10 ** (SILENCE_DBFS / 20)
            if isinstance(self.mouth_gain, OnlineCentredMouth) and self.presence is not None:
                presence = self.presence.step(rms)
                displacement, _ = self.mouth_gain.step(displacement, mouth_opening(raw), presence, active)
            elif isinstance(self.mouth_gain, OnlineMouthGain):
                gain *= self.mouth_gain.step(mouth_opening(raw), active).astype(np.float32)[:, None, None]
        if closing is not None:  # the end of the stream: the speech motion ramps down to the rest posture
            displacement = displacement * np.asarray(closing, np.float32)[:, None, None]
        canonical[:, list(SPEECH_POINTS)] += gain * displacement
        if self.blinks is not None:
            canonical[:, list(EYE_POINTS)] += self.blinks.step(n)
        landmarks = retarget(canonical, self.canonical_neutral, self.neutral)
        if self.shut is not None and self.pause is not None and presence is not None:
            weight = self.pause.step(presence)
            if weight.any():
                closed = retarget(canonical, self.canonical_neutral, self.shut)
                landmarks = landmarks + weight[:, None, None] * (closed - landmarks)
        if self.blinks is not None:
            closure = blink_closure(canonical, open_eye_level(self.blinks.blink))
            landmarks = apply_closure(landmarks, self.neutral, closure)
        motion = self.head.step(n)
        if self.head.strength > 0:
            landmarks = self.apply_head(landmarks, motion)
        skip = 0 if max_render is None else max(0, n - max(1, max_render))
        frames: list[Any] = [None] * skip + list(self.render(landmarks[skip:]))
        return [((first + i) / self.fps, f) for i, f in enumerate(frames)]

    def push(self, samples: np.ndarray, max_render: int | None = None) -> list[tuple[float, Any]]:
        """Feed (N,) float32 mono samples at 16 kHz; return the ``(timestamp_s, frame)`` pairs made ready.

        Args:
            samples: the next audio.
            max_render: when more frames than this became ready at once (the caller fell behind),
                render only the newest ones; the others come with ``None`` as frame (dropped), so a
                live display catches up instead of lagging. None: render every frame.
        """
        if self.finished:
            raise RuntimeError("the stream is finished")
        audio = np.asarray(samples, dtype=np.float32).ravel()
        if not np.isfinite(audio).all():
            raise InputError(None, "audio contains NaN or infinite samples")
        self.head.push_audio(audio)
        return self._frames(self.motion.push(audio), max_render)

    def finish(self) -> list[tuple[float, np.ndarray]]:
        """End of speech: the remaining frames, up to ``round(duration · fps)`` (the last ones see silence)."""
        if self.finished:
            return []
        self.finished = True
        total = num_video_frames(self.motion.samples, self.sample_rate, self.fps)
        if total == 0:
            return []
        pad = max(0, self.model.config.samples_needed(total - 1) - self.motion.samples)
        self.head.push_audio(np.zeros(pad, np.float32))
        displacement = self.motion.push(np.zeros(pad, np.float32), limit=total)
        # these frames' look-ahead reads the zero padding, on which the model opens the mouth (docs/live.md): the
        # speech is over, so their motion ramps down to the rest posture instead (the last frame is closed)
        k = len(displacement)
        return self._frames(displacement, closing=np.arange(k - 1, -1, -1, dtype=np.float32) / max(k, 1))


def stream(
    animator: Animator,
    photo: str | os.PathLike[str] | np.ndarray,
    audio_chunks: Iterable[np.ndarray | bytes],
    **options: Any,
) -> Iterator[tuple[float, np.ndarray]]:
    """Animate a photo with speech that arrives in chunks: yields ``(timestamp_s, frame)`` at the model's fps.

    Args:
        animator: a loaded animator whose bundle has a streaming motion model.
        photo: path or (H, W, 3) uint8 RGB image of one face.
        audio_chunks: mono 16 kHz chunks of any size, as float32 arrays in [-1, 1] or as s16le bytes.
        **options: ``seed``, ``blink_rate``, ``motion_scale``, ``size``, ``head_motion``, ``normalise_mouth``,
            ``mouth_gain``, ``renderer`` of :class:`FaceStream`.

    Yields:
        ``(t / fps, frame)`` for t = 0, 1, ..., round(duration · fps) - 1; frame t comes as soon as the
        audio up to ``t / fps + 0.12 s`` has arrived.
    """
    face = FaceStream(animator, photo, **options)
    for chunk in audio_chunks:
        samples = pcm16_to_float(chunk) if isinstance(chunk, bytes | bytearray | memoryview) else chunk
        yield from face.push(samples)
    yield from face.finish()
