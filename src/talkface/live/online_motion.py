"""Head/brow motion and mouth-amplitude normalisation run online (causally, frame by frame) for live mode.

The offline pipeline (:func:`talkface.motion.render.predict_landmarks`) sees the whole recording:
:func:`talkface.motion.head.generate_head_motion` normalises loudness to the recording's 95th
percentile and smooths it forwards and backwards, and :func:`talkface.motion.amplitude.amplitude_gain`
scales each utterance's speech motion by the std of its whole mouth opening. A live stream has only
the audio received so far (plus the 120-ms look-ahead), so:

* :class:`OnlineHeadMotion` runs the same prior (:class:`talkface.motion.head.HeadMotionConfig`:
  the same per-axis amplitudes, time constants, loudness coupling, nods and brow raises) with
  causal estimates instead: a loudness reference that rises at once and decays slowly (instead of
  the 95th percentile), a causal one-pole envelope (instead of zero-phase), running mean squares for
  the normalisations, brow raises that start at the onset instead of centred on it. The noise is
  drawn from the seed in fixed one-second blocks, so the same seed gives the same motion whatever
  the chunk sizes; the state is a few dozen numbers.
* :class:`OnlineMouthGain` estimates the std of the model's mouth opening with exponential
  weights over speech frames only (a warm-up prior equal to the offline target, so the gain starts
  at 1), and returns the offline gain law ``clip(target / std, 1, 2.5)`` per frame; frames before the
  first speech frame get gain 1 (silence is never amplified).

Both are driven one frame at a time by :class:`talkface.live.stream.FaceStream`; docs/live.md
compares them with the offline path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkface.motion.amplitude import MAX_GAIN, TARGET_OPENING_STD
from talkface.motion.head import HeadMotion, HeadMotionConfig, check_head_motion, pose_to_landmarks
from talkface.motion.retarget import retarget_transform

__all__ = ["STREAM_TYPICAL_GAIN", "OnlineHeadMotion", "head_motion_envelope", "OnlineMouthGain", "StreamHeadApplier"]

#: Median offline gain (:func:`talkface.motion.amplitude.amplitude_gain`) of the streaming motion model
#: on 40 GRID s1 utterances (quartiles 1.01-1.26; ``benchmarks/bench_live_motion.py --calibrate``): the
#: running estimate starts from it (prior std = target / this), so the first seconds get the typical gain.
STREAM_TYPICAL_GAIN = 1.13

SILENCE_DBFS = -50.0


class OnlineHeadMotion:
    """The seeded head/brow prior of :mod:`talkface.motion.head`, run causally one frame at a time.

    Feed the audio with :meth:`push_audio` as it arrives, then ask for the next frames with
    :meth:`step`; frame ``t`` uses audio up to ``(t + 1) / fps`` plus half a frame (60 ms past its
    time stamp, inside the stream's 120-ms look-ahead); missing audio (at the end) counts as silence.

    Args:
        fps: video frames/s.
        seed: noise seed (the stream passes the blink seed, as offline).
        strength: ``head_motion`` (0 = still: every frame all zeros).
        sample_rate: audio rate, Hz.
        config: the prior's constants (shared with the offline generator).
        block: frames of noise drawn at a time.
    """

    def __init__(self, fps: float, seed: int = 0, strength: float = 1.0, sample_rate: int = 16000,
                 config: HeadMotionConfig | None = None, block: int = 25) -> None:
        self.cfg = cfg = config or HeadMotionConfig()
        self.fps = float(fps)
        self.strength = check_head_motion(strength)
        self.sample_rate = int(sample_rate)
        self.block = int(block)
        self._rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x4EAD, 0x11FE])
        self._normal = np.zeros((0, 6))
        self._uniform = np.zeros(0)
        self.spf = self.sample_rate / self.fps
        self.win = max(1, int(round(self.spf)))
        self._buf = np.zeros(0, np.float32)  # samples from _buf_start on
        self._buf_start = 0
        self.samples = 0
        self.next_frame = 0
        # per-axis two-pole filter states (start from the stationary state, as offline)
        self._a = np.exp(-1.0 / np.maximum(np.asarray(cfg.tau) * self.fps, 1e-3))
        a2 = self._a ** 2
        self._norm = np.sqrt((1 - self._a) ** 4 * (1 + a2) / (1 - a2) ** 3)
        self._s1 = np.zeros(6)
        self._s2 = np.zeros(6)
        warm = int(round(4 * max(cfg.tau) * self.fps))
        for _ in range(warm):
            self._filter(self._draw(1)[0][0])
        self._env = 0.0  # causal loudness envelope
        self._ref_db = -50.0  # loudness reference (fast attack, slow release)
        # running mean square of the innovation gain; prior: half-loud speech
        self._gain_ms = (1.0 - cfg.coupling / 2) ** 2
        self._onset_ref = 1e-6  # running scale of the loudness onsets
        self._nod1 = 0.0
        self._nod2 = 0.0
        self._nod_peak = 1e-9
        self._nod_mean = 0.0
        self._prev_env = 0.0
        self._next_env = 0.0  # envelope of frame next_frame + 1 (computed one frame ahead for the onsets)
        self._onset_prev = 0.0
        self._onset_cur = 0.0
        self._have_ahead = False
        self._speech_s = 4.0  # decayed seconds of speech / peaks seen (priors: a typical rate)
        self._peaks = 4.0 * 1.2
        self._brow_t = -10**9  # frame at which the last brow raise started
        self._brow_start = -10**9

    # -- noise ----------------------------------------------------------------------------------

    def _draw(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        while len(self._normal) < n:
            self._normal = np.concatenate([self._normal, self._rng.standard_normal((self.block, 6))])
            self._uniform = np.concatenate([self._uniform, self._rng.random(self.block)])
        out = self._normal[:n], self._uniform[:n]
        self._normal, self._uniform = self._normal[n:], self._uniform[n:]
        return out

    def _filter(self, x: np.ndarray) -> np.ndarray:
        a = self._a
        self._s1 = a * self._s1 + (1 - a) * x
        self._s2 = a * self._s2 + (1 - a) * self._s1
        return self._s2 / self._norm

    # -- audio ----------------------------------------------------------------------------------

    def push_audio(self, samples: np.ndarray) -> None:
        """Add received audio (float32 mono at ``sample_rate``)."""
        samples = np.asarray(samples, dtype=np.float32).ravel()
        self._buf = np.concatenate([self._buf, samples])
        self.samples += len(samples)

    def _frame_rms(self, t: int) -> float:
        """RMS of the one-frame window centred on frame t (as ``audio_rms_per_frame``), zeros past the audio."""
        centre = int(round(t * self.spf))
        lo = centre - self.win // 2
        hi = lo + self.win
        have = self._buf[max(0, lo - self._buf_start): max(0, hi - self._buf_start)]
        if len(have) == 0:
            return 0.0
        return float(np.sqrt(np.sum(np.square(have, dtype=np.float64)) / self.win))

    def _envelope(self, t: int) -> float:
        """Loudness of frame t in [0, 1], causally (fast-attack / slow-release reference, one-pole smoothing)."""
        cfg = self.cfg
        db = 20 * np.log10(max(self._frame_rms(t), 1e-5))
        # reference ~ the loud parts (offline: the 95th percentile): jumps up to 3 dB under a new peak,
        # falls back towards the silence floor over ~10 s
        release = float(np.exp(-1.0 / (10.0 * self.fps)))
        self._ref_db = max(db - 3.0, SILENCE_DBFS + (self._ref_db - SILENCE_DBFS) * release)
        raw = float(np.clip((db - (self._ref_db - 30.0)) / 30.0, 0.0, 1.0))
        frames = cfg.envelope_seconds * self.fps
        a = float(np.exp(-1.0 / frames)) if frames > 0 else 0.0
        self._env = a * self._env + (1 - a) * raw
        return self._env

    @property
    def state_size(self) -> int:
        """Numbers held between calls (bounded: at most ~2 frames of samples and < 1 s of noise)."""
        return int(self._buf.size + self._normal.size + self._uniform.size + 40)

    # -- frames ---------------------------------------------------------------------------------

    def step(self, n: int) -> HeadMotion:
        """Head/brow motion of the next ``n`` frames (call once the audio to ``(t+1)/fps + 20 ms`` is in)."""
        cfg = self.cfg
        pose = np.zeros((n, 6))
        brow = np.zeros(n)
        if n <= 0:
            return HeadMotion(pose, brow)
        if self.strength == 0:
            self.next_frame += n
            self._trim()
            return HeadMotion(pose, brow)
        std = np.asarray(cfg.std)
        half = max(1, int(round(cfg.brow_seconds * self.fps / 2)))
        bump = np.sin(np.linspace(0, np.pi, 2 * half + 1)) ** 2
        decay = float(np.exp(-1.0 / (10.0 * self.fps)))  # running statistics over ~10 s
        nod_a = float(np.exp(-1.0 / (0.12 * self.fps)))
        for i in range(n):
            t = self.next_frame
            if not self._have_ahead:  # first frame: the envelope of frames 0 and 1
                env_t = self._envelope(t)
                self._next_env = self._envelope(t + 1)
                self._have_ahead = True
                prev_env = env_t
            else:
                prev_env, env_t = self._prev_env, self._next_env
                self._next_env = self._envelope(t + 1)
            self._prev_env = env_t
            # innovations: amplitude-modulated by loudness, normalised by the running mean square
            g = (1.0 - cfg.coupling) + cfg.coupling * env_t
            self._gain_ms = decay * self._gain_ms + (1 - decay) * g * g
            noise, uni = self._draw(1)
            p = self._filter(noise[0] * g / np.sqrt(max(self._gain_ms, 1e-12)))
            # emphasis: a loudness onset nods the head (central difference, as np.gradient offline)
            onset = max((self._next_env - prev_env) / 2.0 * self.fps, 0.0)
            self._onset_ref = max(onset, self._onset_ref * decay, 1e-6)
            onset_n = onset / self._onset_ref
            self._nod1 = nod_a * self._nod1 + (1 - nod_a) * onset_n
            self._nod2 = nod_a * self._nod2 + (1 - nod_a) * self._nod1
            self._nod_peak = max(abs(self._nod2), self._nod_peak * decay, 1e-9)
            nod = self._nod2 / self._nod_peak
            self._nod_mean = decay * self._nod_mean + (1 - decay) * nod
            p[1] += cfg.nod_deg / cfg.std[1] * (nod - self._nod_mean)
            pose[i] = cfg.limit * np.tanh(p / cfg.limit) * std
            # brow raises: on a local maximum of the onsets (known one frame later), with the offline
            # probability brow_rate * speech seconds / peaks, from decayed running counts
            self._speech_s = decay * self._speech_s + (1.0 / self.fps if env_t > 0.2 else 0.0)
            prev_onset, cur = self._onset_prev, self._onset_cur
            self._onset_prev, self._onset_cur = cur, onset_n
            if cur > 0.3 and cur >= prev_onset and cur > onset_n:
                self._peaks = decay * self._peaks + 1.0
                p_take = min(1.0, cfg.brow_rate * self._speech_s / max(self._peaks, 1e-6))
                if uni[0] < p_take and t - self._brow_start > 3 * half:
                    self._brow_start = t
            else:
                self._peaks *= decay
            k = t - self._brow_start
            if 0 <= k <= 2 * half:
                brow[i] = cfg.brow_raise * bump[k]
            self.next_frame += 1
        self._trim()
        return HeadMotion(pose * self.strength, brow * self.strength)

    def _trim(self) -> None:
        """Drop samples no later frame needs (frame next_frame + 1 starts at its centre - win/2)."""
        keep_from = int(round((self.next_frame + 1) * self.spf)) - self.win // 2 - self.win
        drop = keep_from - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop


class OnlineMouthGain:
    """Causal mouth-amplitude normalisation: the offline gain law on a running std of the opening.

    Args:
        target_std: wanted std of the mouth opening (offline: ``TARGET_OPENING_STD``).
        max_gain: upper bound (offline: ``MAX_GAIN``); the gain is never below 1.
        seconds: time constant of the exponential weights, seconds of speech.
        fps: frames/s.
        prior_std: warm-up prior of the opening's std (None: ``target_std / STREAM_TYPICAL_GAIN``, so the
            gain starts at the streaming model's typical offline gain).
        fixed: a fixed gain instead of the running estimate (used on speech frames only; None: running).
    """

    def __init__(self, target_std: float | None = None, max_gain: float | None = None, seconds: float = 4.0,
                 fps: float = 25.0, prior_std: float | None = None, fixed: float | None = None) -> None:
        self.target = float(TARGET_OPENING_STD if target_std is None else target_std)
        self.max_gain = float(MAX_GAIN if max_gain is None else max_gain)
        self.alpha = 1.0 / max(1.0, seconds * fps)
        self.fixed = fixed
        self._mean: float | None = None
        self._var = float(self.target / STREAM_TYPICAL_GAIN if prior_std is None else prior_std) ** 2
        self._speech = False

    def step(self, opening: np.ndarray, speech: np.ndarray) -> np.ndarray:
        """Gains of the next frames.

        Args:
            opening: (n,) the model's mouth opening per frame (before any gain).
            speech: (n,) bool, whether each frame is speech (louder than -50 dBFS).

        Returns:
            (n,) gains in [1, max_gain]; 1 until the first speech frame.
        """
        out = np.ones(len(opening))
        for i, (x, s) in enumerate(zip(np.asarray(opening, np.float64), np.asarray(speech, bool), strict=True)):
            if s:
                self._speech = True
                if self._mean is None:
                    self._mean = float(x)
                d = float(x) - self._mean
                self._mean += self.alpha * d
                self._var = (1 - self.alpha) * (self._var + self.alpha * d * d)
            if not self._speech:
                continue
            if self.fixed is not None:
                out[i] = self.fixed
            else:
                std = float(np.sqrt(max(self._var, 1e-12)))
                out[i] = float(np.clip(self.target / std, 1.0, self.max_gain))
        return out


@dataclass
class StreamHeadApplier:
    """Applies head/brow motion to streamed landmarks exactly as :func:`talkface.motion.head.apply_head_motion`
    does offline, with the inter-ocular distance fixed from the first streamed frame (offline: frame 0 of
    the track), so the result does not depend on how the frames are grouped into chunks."""

    person_neutral: np.ndarray
    canonical_neutral: np.ndarray
    iod: float | None = None

    def __call__(self, landmarks: np.ndarray, motion: HeadMotion) -> np.ndarray:
        if len(landmarks) == 0:
            return np.asarray(landmarks, np.float32)
        sim, _ = retarget_transform(self.canonical_neutral, self.person_neutral)
        upright = sim.inverse().apply(np.asarray(landmarks, dtype=np.float64))
        if self.iod is None:
            self.iod = float(np.linalg.norm(upright[0, 42:48].mean(0) - upright[0, 36:42].mean(0)))
        iod = self.iod
        scaled = HeadMotion(motion.pose * np.array([1, 1, 1, iod, iod, 1.0]), motion.brow * iod)
        return sim.apply(pose_to_landmarks(upright, scaled)).astype(np.float32)



def head_motion_envelope(person_landmarks: np.ndarray, strength: float, canonical_neutral: np.ndarray | None = None,
                         config: HeadMotionConfig | None = None) -> np.ndarray:
    """Landmark frames at the farthest poses the head prior can reach (every axis at its soft limit,
    alone and combined, brows raised), for sizing a renderer's face region before the track is known.

    Args:
        person_landmarks: (68, 2) the photo's landmarks, pixels.
        strength: ``head_motion``.
        canonical_neutral: (68, 2) the motion model's canonical neutral face (defines the upright
            face frame, as for :class:`StreamHeadApplier`; None: the photo's own frame).
        config: the prior's constants.

    Returns:
        (K, 68, 2) float32, the photo's landmarks moved by each extreme pose (just the photo's
        landmarks when ``strength`` is 0).
    """
    cfg = config or HeadMotionConfig()
    person = np.asarray(person_landmarks, np.float64)
    if strength <= 0:
        return person[None].astype(np.float32)
    extreme = cfg.limit * np.asarray(cfg.std) * strength + np.array([0, cfg.nod_deg * strength, 0, 0, 0, 0])
    poses = [np.zeros(6)]
    for k in range(6):
        for sign in (-1, 1):
            pose = np.zeros(6)
            pose[k] = sign * extreme[k]
            poses.append(pose)
    for signs in ((1, 1, 1), (-1, -1, -1), (1, -1, 1), (-1, 1, -1)):
        poses.append(np.array([signs[0], signs[1], signs[2], signs[0], signs[1], 1]) * extreme)
    pose = np.stack(poses)
    # in the face's upright frame, as StreamHeadApplier does
    sim, _ = retarget_transform(person if canonical_neutral is None else canonical_neutral, person)
    upright = sim.inverse().apply(person)
    iod = float(np.linalg.norm(upright[42:48].mean(0) - upright[36:42].mean(0)))
    motion = HeadMotion(pose * np.array([1, 1, 1, iod, iod, 1.0]), np.full(len(pose), cfg.brow_raise * strength * iod))
    moved = pose_to_landmarks(np.broadcast_to(upright, (len(pose), 68, 2)), motion)
    return sim.apply(moved).astype(np.float32)
