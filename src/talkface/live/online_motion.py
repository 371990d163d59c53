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
  the normalisations, brow raises that start at the onset instead of centred on it, and the
  speaking style (calm or lively amplitudes, :meth:`HeadMotionConfig.axis_std`) from a running
  speaking rate (:class:`OnlineSpeakingRate`: from an undecided prior, updated every 0.5 s, frozen
  after 8 s of speech) instead of the whole recording's. The noise is drawn from the seed in fixed
  one-second blocks, so the same seed gives the same motion whatever the chunk sizes; the state is a
  few dozen numbers (plus the rate's loudness track, at most 20 s x 100 numbers, until it freezes).
* :class:`OnlineCentredMouth` (the default, ``AnimateConfig.mouth_request="centred"``) is the causal
  :func:`talkface.motion.amplitude.centred_motion`: a running (exponentially weighted) mean speech
  posture and running moments of the opening give, per frame, the gain that brings the opening's std to
  the offline target; it scales the motion about that running mean in speech only
  (:class:`OnlineSpeechPresence`, the causal :func:`~talkface.motion.amplitude.speech_presence`), so pauses
  keep the model's closed mouth; of the running mean it removes the mouth corners' part as
  :func:`~talkface.motion.amplitude.photo_corners` does offline (``MouthRequest.corner_posture``), and
  an over-open running mean (the streaming model regresses to an open mouth on voices other than its
  training speaker's) is moved down to :data:`MEAN_OPENING_CAP` (``rest_opening``; the stream sets it).
* :class:`OnlineMouthGain` (``mouth_request="neutral"``, the previous request) estimates the std of the
  model's mouth opening with exponential weights over speech frames only (a warm-up prior equal to the
  offline target, so the gain starts at 1), and returns the offline gain law ``clip(target / std, 1, 2.5)``
  per frame about the neutral face; frames before the first speech frame get gain 1 (silence is never
  amplified).

Both are driven one frame at a time by :class:`talkface.live.stream.FaceStream`; docs/live.md
compares them with the offline path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkface.face.geometry import SPEECH_POINTS
from talkface.motion.amplitude import MAX_GAIN, PAUSE_DB, SILENCE_DBFS, TARGET_OPENING_STD, corner_matrix
from talkface.motion.head import (
    HeadMotion,
    HeadMotionConfig,
    calm_weight,
    check_head_motion,
    count_syllables,
    loudness_window,
    pose_to_landmarks,
    window_db,
)
from talkface.motion.retarget import retarget_transform

__all__ = ["CENTRED_PRIOR", "MEAN_OPENING_CAP", "STREAM_MEAN_OPENING", "STREAM_TYPICAL_GAIN", "OnlineCentredMouth",
           "OnlineHeadMotion", "OnlineMouthGain", "OnlineSpeakingRate", "OnlineSpeechPresence", "StreamHeadApplier",
           "corner_share", "head_motion_envelope"]

#: Median offline gain (:func:`talkface.motion.amplitude.amplitude_gain`) of the streaming motion model
#: on 40 GRID s1 utterances (quartiles 1.01-1.26; ``benchmarks/bench_live_motion.py --calibrate``): the
#: running estimate starts from it (prior std = target / this), so the first seconds get the typical gain.
STREAM_TYPICAL_GAIN = 1.13


class OnlineSpeakingRate:
    """The speaking rate (:func:`talkface.motion.head.speaking_rate`) estimated causally, frozen after a while.

    Offline the head prior reads the whole recording's rate once and picks its style (calm read-out vs
    lively spontaneous speech) from it. Online the same loudness track (RMS in dB, 25-ms windows every
    10 ms) is kept for the audio received so far and counted by the same rule
    (:func:`talkface.motion.head.count_syllables`) every ``update_s``; until ``min_speech_s`` of
    speech the estimate is ``prior_rate``, then (syllables + ``prior_rate`` * ``prior_s``) / (speech
    seconds + ``prior_s``); after ``freeze_speech_s`` of speech (or ``max_seconds`` of audio) it is
    frozen at the recording's own count (no prior) and the loudness track is dropped, so the state is
    bounded (at most ``max_seconds`` * 100 numbers, then a few).

    What frame ``t`` sees depends only on ``t`` (the loudness frames that end by ``(t + 1) / fps`` +
    20 ms, as the head prior's envelope), never on how the audio was chunked.

    Args:
        fps: video frames/s.
        sample_rate: audio rate, Hz.
        prior_rate: the rate assumed before enough speech was heard (syllables/s; the head motion passes
            :attr:`HeadMotionConfig.rate_mid`: undecided, half-way between the calm and lively amplitudes).
        prior_s: weight of the prior, seconds of speech.
        min_speech_s: speech seconds before the audio counts at all.
        freeze_speech_s: speech seconds after which the estimate is frozen.
        max_seconds: seconds of audio after which it is frozen anyway.
        update_s: seconds between updates of the estimate.
    """

    def __init__(self, fps: float, sample_rate: int = 16000, prior_rate: float = 4.0, prior_s: float = 1.0,
                 min_speech_s: float = 1.0, freeze_speech_s: float = 8.0, max_seconds: float = 20.0,
                 update_s: float = 0.5) -> None:
        self.fps = float(fps)
        self.sample_rate = int(sample_rate)
        self.hop, self.win = loudness_window(self.sample_rate)
        self.prior_rate, self.prior_s = float(prior_rate), float(prior_s)
        self.min_speech_s, self.freeze_speech_s = float(min_speech_s), float(freeze_speech_s)
        self.max_frames = int(round(max_seconds * 100))
        self.rate = self.prior_rate
        self.frozen = False
        self._db: list[float] = []
        self._tail = np.zeros(self.win // 2, np.float32)  # the zero padding offline puts before the audio
        self._next_update = 0  # video frame at which the estimate is next updated
        self._update_frames = max(1, int(round(update_s * self.fps)))

    @property
    def state_size(self) -> int:
        """Numbers held between calls."""
        return len(self._db) + len(self._tail) + 8

    def push(self, samples: np.ndarray) -> None:
        """Add received audio (float32 mono at ``sample_rate``)."""
        if self.frozen or len(self._db) >= self.max_frames:
            return
        buf = np.concatenate([self._tail, np.asarray(samples, dtype=np.float32).ravel()])
        n = 0 if len(buf) < self.win else min(1 + (len(buf) - self.win) // self.hop, self.max_frames - len(self._db))
        if n > 0:
            self._db.extend(window_db(buf, n, self.hop, self.win).tolist())
        self._tail = buf[n * self.hop:]

    def at_frame(self, t: int) -> float:
        """The estimate for video frame ``t`` (frames must be asked in order; updated every ``update_s``)."""
        if self.frozen or t < self._next_update:
            return self.rate
        self._next_update = t + self._update_frames
        # loudness frames whose window ends by (t + 1) / fps + 20 ms (the audio frame t is made with)
        end_sample = ((t + 1) / self.fps + 0.02) * self.sample_rate
        usable = min(len(self._db), max(0, int((end_sample - self.win // 2) // self.hop) + 1))
        peaks, speech, _ = count_syllables(np.asarray(self._db[:usable]))
        seconds = speech / 100.0
        if seconds >= self.freeze_speech_s or usable >= self.max_frames:
            self.rate = peaks / seconds if seconds >= self.min_speech_s else self.prior_rate
            self.frozen = True
            self._db, self._tail = [], np.zeros(0, np.float32)
        elif seconds >= self.min_speech_s:
            self.rate = (peaks + self.prior_rate * self.prior_s) / (seconds + self.prior_s)
        return self.rate


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
        # the speaking style (calm read-out vs lively) from a running speaking rate, as offline from the
        # whole recording's; the calm weight follows the estimate with a 1-s time constant
        self.rate = (OnlineSpeakingRate(self.fps, self.sample_rate, prior_rate=cfg.rate_mid)
                     if cfg.calm_std is not None else None)
        self._w = calm_weight(self.rate.rate, cfg) if self.rate is not None else 0.0
        self._w_a = float(np.exp(-1.0 / self.fps))

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
        if self.rate is not None and self.strength > 0:
            self.rate.push(samples)

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
        rate = self.rate.state_size if self.rate is not None else 0
        return int(self._buf.size + self._normal.size + self._uniform.size + 40 + rate)

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
            if self.rate is not None:  # the style: calm weight of the running speaking rate
                self._w = self._w_a * self._w + (1 - self._w_a) * calm_weight(self.rate.at_frame(t), cfg)
            std = cfg.style_std(self._w)
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
            if 0 <= k <= 2 * half:  # calmer speech, calmer brows (as offline)
                brow[i] = cfg.brow_raise * bump[k] * cfg.brow_scale(std)
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


class OnlineSpeechPresence:
    """:func:`talkface.motion.amplitude.speech_presence` run causally, one video frame at a time.

    Offline a frame is a pause when its RMS is :data:`~talkface.motion.amplitude.PAUSE_DB` below the
    utterance's loud frames (95th percentile) or under ``SILENCE_DBFS``; speech is dilated by ``hold``
    frames on both sides and the edges ramped over 3 frames. Here the loud level is a running reference
    that jumps to 3 dB under each new peak and decays over ``release_s`` (as the online head motion's), and
    frame ``t`` reads the RMS of frames up to ``t + hold``: for ``hold`` 2 at 25 fps that window ends
    100 ms past the frame's time stamp, inside the stream's 120-ms look-ahead. The ramp's look-ahead
    frame would need one frame more, so it is dilated over ``t + 1 - hold .. t + hold`` only (at a
    speech onset the first ramp frame is 0 instead of 1/3).

    Args:
        fps: video frames/s.
        pause_db: depth of a pause below the loud frames, dB.
        hold: frames of speech kept around every speech frame (the look-ahead in frames).
        release_s: decay time of the loudness reference, seconds.
    """

    def __init__(self, fps: float = 25.0, pause_db: float = PAUSE_DB, hold: int = 2, release_s: float = 10.0) -> None:
        self.pause_db = float(pause_db)
        self.hold = int(hold)
        self.release = float(np.exp(-1.0 / (release_s * fps)))
        self._ref_db = SILENCE_DBFS
        self._raw: list[bool] = []  # speech flags of frames _base, _base + 1, ... (all classified so far)
        self._base = 0
        self.next_frame = 0  # next frame whose presence is returned

    def _flag(self, t: int) -> bool:
        return 0 <= t - self._base < len(self._raw) and self._raw[t - self._base]

    def _dilated(self, t: int, last: int) -> bool:
        return any(self._flag(j) for j in range(t - self.hold, min(t + self.hold, last) + 1))

    def step(self, rms: np.ndarray) -> np.ndarray:
        """Speech presence of the next frames.

        Args:
            rms: RMS (full scale 1) of frames ``next_frame .. next_frame + n - 1 + hold``: the ``n`` frames
                wanted and ``hold`` frames of look-ahead (zeros past the end of the audio).

        Returns:
            (n,) float32 in [0, 1].
        """
        rms = np.asarray(rms, np.float64)
        n = len(rms) - self.hold
        if n <= 0:
            return np.zeros(0, np.float32)
        for j, r in enumerate(rms):  # classify the frames not seen yet, in order
            t = self.next_frame + j
            if t < self._base + len(self._raw):
                continue
            db = 20.0 * float(np.log10(max(float(r), 1e-10)))
            self._ref_db = max(db - 3.0, SILENCE_DBFS + (self._ref_db - SILENCE_DBFS) * self.release)
            self._raw.append(db > max(self._ref_db - self.pause_db, SILENCE_DBFS))
        out = np.zeros(n, np.float32)
        for i in range(n):
            t = self.next_frame + i
            last = t + self.hold  # the latest frame read
            here = self._dilated(t, last)
            before = self._dilated(t - 1, last) if t > 0 else here  # edge padding at the start, as offline
            out[i] = (before + here + self._dilated(t + 1, last)) / 3.0
        self.next_frame += n
        drop = (self.next_frame - 2 - self.hold) - self._base  # keep what frame next_frame - 1 reads
        if drop > 0:
            del self._raw[:drop]
            self._base += drop
        return out


#: Warm-up prior of :class:`OnlineCentredMouth`: the variance of the streaming model's mouth opening, the
#: variance of its speech spread ``s_t (o_t - o_m)`` and their covariance, each the median over 40 GRID s1
#: utterances (whole utterances; ``benchmarks/live_mouth_request.py --calibrate``): all three 0.0381^2 (GRID
#: has no pauses 30 dB deep, so ``s_t = 1`` and ``u_t = o_t - o_m``); it gives the gain 1.26, the median offline
#: centred gain of the streaming model on those utterances.
CENTRED_PRIOR = (0.0381 ** 2, 0.0381 ** 2, 0.0381 ** 2)


#: Largest mean mouth opening in speech (inner-lip gap over the eye distance) the live request keeps: the 90th
#: percentile of the real per-utterance mean speech opening of GRID s1 (30 training utterances; median 0.075). The
#: streaming model asks for its own speaker's mean (median 0.074 on the same utterances) but on other voices it
#: regresses to an open mouth (median mean 0.109 on the 6 unseen GRID speakers, 0.139 in the wild, where the real
#: ones are 0.076 and 0.092): a running mean above this cap is moved down to it (docs/live.md).
MEAN_OPENING_CAP = 0.085

#: Warm-up prior of the running mean speech opening: the streaming model's median on GRID s1 (as above).
STREAM_MEAN_OPENING = 0.074


def corner_share(canonical_neutral: np.ndarray, keep: float) -> np.ndarray | None:
    """The ``corners`` map of :class:`OnlineCentredMouth` for the streamed points (:data:`SPEECH_POINTS`).

    Args:
        canonical_neutral: (68, 2) the streaming model's canonical neutral face.
        keep: ``MouthRequest.corner_posture``, the share of the model's mean corner posture kept.

    Returns:
        (P, P) float64 ``(1 - keep) * corner_matrix`` on the speech points, or None for ``keep`` 1.
    """
    if keep >= 1.0:
        return None
    idx = list(SPEECH_POINTS)
    return (1.0 - keep) * corner_matrix(canonical_neutral)[np.ix_(idx, idx)]


class OnlineCentredMouth:
    """The centred mouth request run causally: :func:`talkface.motion.amplitude.centred_motion` per frame.

    Offline the gain ``g`` scales the deviation of the speech motion from the utterance's mean speech
    posture ``m``: ``d'_t = d_t + s_t (g - 1)(d_t - m)``, with ``g`` in [1, ``max_gain``] chosen so that the
    mouth opening's std over the utterance reaches ``target_std``. Here ``m`` is a running mean of the
    displacement weighted by the speech presence ``s_t`` (exponential weights, ``seconds`` of active
    frames), and ``g`` comes from running moments of the model's opening ``o_t``: with
    ``u_t = s_t (o_t - o_m)`` (``o_m`` the running speech-weighted mean opening) the amplified opening is
    ``o_t + (g - 1) u_t`` to first order, so its variance is ``c + 2 b k + a k^2`` (``k = g - 1``,
    ``c = var(o)``, ``b = cov(o, u)``, ``a = var(u)``) and the smallest ``k`` that reaches the target is a
    root of a quadratic: a few dozen numbers of state and O(1) per frame, no look-ahead. The moments are
    updated on active frames (louder than ``SILENCE_DBFS``; offline: the whole utterance) from the first
    speech frame on, and blended with
    a warm-up prior (:data:`CENTRED_PRIOR`, the streaming model's typical moments) whose weight,
    ``prior_seconds`` of frames, decays as the data's does.

    Args:
        target_std: wanted std of the mouth opening (offline: ``TARGET_OPENING_STD``).
        max_gain: upper bound (offline: ``MAX_GAIN``); the gain is never below 1.
        seconds: time constant of the exponential weights, seconds of active frames.
        fps: frames/s.
        prior: ``(var(o), var(u), cov(o, u))`` of the warm-up prior (None: :data:`CENTRED_PRIOR`).
        prior_seconds: weight of the prior, seconds of frames.
        fixed: a fixed gain instead of the running estimate (still about the running mean, in speech only).
        corners: (P, P) map from the running mean displacement to the part of it removed in speech
            (:func:`talkface.motion.amplitude.photo_corners` run causally: ``(1 - keep)`` times
            :func:`~talkface.motion.amplitude.corner_matrix` restricted to the streamed points; None: none).
        rest_opening: the mouth opening of the model's neutral face (``mouth_opening(canonical_neutral)``); with
            ``mean_cap`` it turns the cap on (None: off, the mean posture is the model's as offline).
        mean_cap: largest running mean speech opening kept (:data:`MEAN_OPENING_CAP`): above it, the share
            ``1 - f`` of the running mean displacement ``m`` is removed in speech, ``f = (cap - rest) / (o_m -
            rest)`` (at least ``min_share``), with ``o_m`` the running speech-weighted mean of the model's opening
            blended with the warm-up prior :data:`STREAM_MEAN_OPENING`; the motion about ``m`` is kept, except
            that no frame is pushed below the rest opening (its removal shrinks to what keeps it at the rest, to
            first order: closed frames stay closed instead of the lips crossing).
        min_share: smallest ``f``.
    """

    def __init__(self, target_std: float | None = None, max_gain: float | None = None, seconds: float = 4.0,
                 fps: float = 25.0, prior: tuple[float, float, float] | None = None, prior_seconds: float = 1.0,
                 fixed: float | None = None, corners: np.ndarray | None = None, rest_opening: float | None = None,
                 mean_cap: float | None = MEAN_OPENING_CAP, min_share: float = 0.3) -> None:
        self.target = float(TARGET_OPENING_STD if target_std is None else target_std)
        self.max_gain = float(MAX_GAIN if max_gain is None else max_gain)
        self.decay = 1.0 - 1.0 / max(1.0, seconds * fps)
        self.prior = CENTRED_PRIOR if prior is None else prior
        self._prior_w = max(0.0, prior_seconds * fps)
        self.fixed = fixed
        self.corners = None if corners is None else np.asarray(corners, np.float64)
        self._w = 0.0  # weight of the active frames seen (exponentially decayed)
        # decayed sums over active frames of o, o^2, s, s o, s o^2, s^2, s^2 o, s^2 o^2
        self._sums = np.zeros(8)
        self._sd: np.ndarray | None = None  # decayed sum of s_t d_t (displacement)
        self._started = False  # a speech frame was seen
        self.rest = None if rest_opening is None or mean_cap is None else float(rest_opening)
        self.mean_cap = None if mean_cap is None else float(mean_cap)
        self.min_share = float(min_share)

    def mean_share(self) -> float:
        """The share ``f`` of the running mean posture kept in speech (1: the model's; the cap off or not reached)."""
        if self.rest is None or self.mean_cap is None or self._sums[2] <= 0:
            return 1.0
        w, p = self._w, self._prior_w
        om = self._sums[3] / self._sums[2]
        om = (w * om + p * STREAM_MEAN_OPENING) / (w + p) if w + p > 0 else om
        if om <= self.mean_cap or om <= self.rest:
            return 1.0
        return float(np.clip((self.mean_cap - self.rest) / (om - self.rest), self.min_share, 1.0))

    def gain(self) -> float:
        """The gain the running estimate gives now (1 before any speech)."""
        if self.fixed is not None:
            return float(self.fixed)
        w, p = self._w, self._prior_w
        if self._sums[2] <= 0 or w <= 0:
            return 1.0
        eo, eo2, es, eso, eso2, es2, es2o, es2o2 = self._sums / w
        om = eso / es  # the running speech-weighted mean opening
        eu = eso - om * es
        c = eo2 - eo * eo
        a = es2o2 - 2 * om * es2o + om * om * es2 - eu * eu
        b = eso2 - om * eso - eo * eu
        c0, a0, b0 = self.prior
        c, a, b = ((w * x + p * x0) / (w + p) for x, x0 in ((c, c0), (a, a0), (b, b0)))
        need = self.target ** 2 - c
        if need <= 0:
            return 1.0
        kmax = self.max_gain - 1.0
        if a > 1e-12:  # the positive root of a k^2 + 2 b k - need
            return 1.0 + float(np.clip((-b + float(np.sqrt(b * b + a * need))) / a, 0.0, kmax))
        k = kmax if b <= 0 else need / (2 * b)
        return 1.0 + float(np.clip(k, 0.0, kmax))

    def step(self, displacement: np.ndarray, opening: np.ndarray, speech: np.ndarray,
             active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The next frames' speech motion, amplified about the running mean posture in speech.

        Args:
            displacement: (n, P, 2) the model's displacement from its neutral face (the speech points).
            opening: (n,) the model's mouth opening per frame (before any gain).
            speech: (n,) speech presence in [0, 1] (:class:`OnlineSpeechPresence`).
            active: (n,) bool, frames louder than ``SILENCE_DBFS`` (the ones the moments are updated on).

        Returns:
            ``(displacement, gains)``: (n, P, 2) float32 and the (n,) gains used (1 in pauses and before any
            speech).
        """
        d = np.asarray(displacement, np.float64)
        out = d.copy()
        gains = np.ones(len(d))
        if self._sd is None:
            self._sd = np.zeros(d.shape[1:])
        for i in range(len(d)):
            o, s = float(opening[i]), float(np.clip(speech[i], 0.0, 1.0))
            self._started = self._started or s > 0
            if active[i] and self._started:  # from the first speech frame on (the prior rules until then)
                self._w = self.decay * self._w + 1.0
                self._prior_w *= self.decay
                self._sums = self.decay * self._sums + np.array([o, o * o, s, s * o, s * o * o, s * s, s * s * o,
                                                                  s * s * o * o])
                self._sd = self.decay * self._sd + s * d[i]
            if s <= 0 or self._sums[2] <= 0:
                continue
            g = self.gain()
            gains[i] = g
            mean = self._sd / self._sums[2]
            out[i] = d[i] + s * (g - 1.0) * (d[i] - mean)
            share = self.mean_share()
            if share < 1.0:  # an over-open running mean posture moved down to the cap, the motion about it kept,
                # but no frame pushed below the rest opening (to first order: the opening is linear in the motion)
                om = self._sums[3] / self._sums[2]
                drop = s * (1.0 - share) * (om - self.rest)
                after = o + s * (g - 1.0) * (o - om)
                keep = min(1.0, max(0.0, (after - self.rest) / drop)) if drop > 1e-9 else 1.0
                out[i] -= keep * s * (1.0 - share) * mean
            if self.corners is not None:  # the corners' mean posture towards the photo's, as offline
                out[i] -= s * (self.corners @ (share * mean))
        return out.astype(np.float32), gains


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
