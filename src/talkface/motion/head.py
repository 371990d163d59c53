"""Head and brow motion: a seeded stochastic prior coupled to speech loudness, its estimation and application.

GRID heads hardly move, so no head-motion model can be learnt from the shipped training data. This
module is instead a small, documented **stochastic prior** whose few constants (per-axis amplitude,
time constant, coupling to loudness, brow-raise rate and size) were measured on talking clips
(docs/motion.md, "Head and brow motion"); no weights are trained.

Geometry. The 68 landmarks are lifted to 3-D with a generic depth per landmark (:data:`FACE_DEPTH`,
canonical units: inter-ocular distance 1, x right, y down, z towards the camera) and projected
orthographically with a scale (weak perspective). The same model serves both ways:

* :func:`estimate_pose` fits yaw/pitch/roll, scale and translation to each frame of a landmark
  track (Gauss-Newton on the rigid points), which is how the statistics were measured and how
  ``talkface evaluate-motion`` scores generated head motion;
* :func:`apply_head_motion` rotates the lifted landmarks of each predicted frame by the generated
  pose (in the person's upright face frame, about the face centre) so the renderer moves the
  whole head.

The process. Each pose axis is white noise through two cascaded one-pole low-pass filters (a
critically damped second-order, i.e. AR(2), process: smooth, mean-reverting, stationary). The
noise is amplitude-modulated by the speech's loudness envelope (louder speech -> faster, larger
head motion; pauses -> the head settles), normalised so that the process variance does not depend
on the recording's level or length, and soft-limited at :attr:`HeadMotionConfig.limit` standard
deviations, so it cannot drift however long the speech. Pitch also gets small nods on loudness
onsets (emphasis), and the brows rise briefly on a random subset of strong onsets.

How much the head moves depends on the speaking style (:func:`speech_style`): fast read-out speech
(GRID's commands, ~5.4 loudness peaks per second of speech) gets the calm per-axis amplitudes
:attr:`HeadMotionConfig.calm_std`, spontaneous speech (~3.2/s) the lively ones
:attr:`HeadMotionConfig.std`, with a logistic blend around 4/s; within either style no speech
statistic predicted the amplitude (docs/motion.md, 3a).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkface.audio.windows import audio_rms_per_frame
from talkface.face.align import _umeyama, canonical_face
from talkface.motion.retarget import retarget_transform

__all__ = [
    "AXES",
    "FACE_DEPTH",
    "RIGID_POINTS",
    "HeadMotion",
    "HeadMotionConfig",
    "apply_head_motion",
    "check_head_motion",
    "estimate_pose",
    "generate_head_motion",
    "loudness_envelope",
    "motion_energy_correlation",
    "pose_to_landmarks",
    "calm_weight",
    "count_syllables",
    "loudness_window",
    "speaking_rate",
    "speech_statistics",
    "speech_style",
    "window_db",
]

#: Pose axes of :class:`HeadMotion` ``pose`` and of :func:`estimate_pose`: degrees for the angles,
#: inter-ocular distances for the translation, log of the relative scale.
AXES: tuple[str, ...] = ("yaw", "pitch", "roll", "tx", "ty", "scale")

#: Generic depth of each iBUG-68 landmark (z towards the camera, inter-ocular distance 1, 0 = the
#: plane of the inner eye corners), from average adult facial anthropometry: the nose tip is ~2.8 cm
#: in front of the eye corners, the jaw line at eye level ~5-6 cm behind them.
FACE_DEPTH: np.ndarray = np.array(
    [
        -0.90, -0.85, -0.75, -0.60, -0.45, -0.28, -0.12, -0.02, 0.02, -0.02, -0.12, -0.28, -0.45, -0.60, -0.75,
        -0.85, -0.90,  # jaw 0-16
        -0.30, -0.15, -0.05, 0.02, 0.05, 0.05, 0.02, -0.05, -0.15, -0.30,  # brows 17-26
        0.05, 0.15, 0.28, 0.45, 0.12, 0.20, 0.25, 0.20, 0.12,  # nose 27-35
        -0.18, -0.06, -0.04, -0.02, -0.04, -0.06, -0.02, -0.04, -0.06, -0.18, -0.06, -0.04,  # eyes 36-47
        -0.06, 0.08, 0.14, 0.16, 0.14, 0.08, -0.06, 0.06, 0.11, 0.13, 0.11, 0.06,  # outer lips 48-59
        -0.02, 0.10, 0.12, 0.10, -0.02, 0.08, 0.10, 0.08,  # inner lips 60-67
    ],
    dtype=np.float64,
)
FACE_DEPTH.setflags(write=False)

#: Points that move with the skull only (upper jaw line, nose, eye corners): the pose is fitted on
#: them, so mouth, chin, eyelid (blink) and brow motion do not read as head motion.
RIGID_POINTS: tuple[int, ...] = (0, 1, 2, 14, 15, 16, *range(27, 36), 36, 39, 42, 45)

BROW_POINTS: tuple[int, ...] = tuple(range(17, 27))
#: How much of the brow raise each brow point gets (the middle of each brow rises most).
BROW_WEIGHTS: np.ndarray = np.array([0.6, 0.85, 1.0, 1.0, 0.85, 0.85, 1.0, 1.0, 0.85, 0.6])


@dataclass
class HeadMotionConfig:
    """Constants of the head/brow prior (derived in docs/motion.md from talking clips).

    Attributes:
        std: stationary standard deviation of each axis of :data:`AXES` (degrees; inter-ocular
            distances; log scale) at ``head_motion = 1``.
        tau: time constant of each axis' two cascaded one-pole filters, seconds (the autocorrelation
            falls to 1/2 after ~1.68 tau).
        coupling: share of the innovation's amplitude that follows speech loudness (0 = motion
            independent of the speech, 1 = the head is driven only while the voice is loud).
        nod_deg: pitch nod (chin down, degrees) per unit loudness onset (emphasis).
        brow_raise: height of a brow raise, inter-ocular distances.
        brow_rate: brow raises per second of speech (on the strongest loudness onsets).
        brow_seconds: duration of a brow raise (rise and fall), seconds.
        envelope_seconds: smoothing of the loudness envelope, seconds.
        limit: soft limit of every axis, in standard deviations (tanh), so no axis can wander off.
        calm_std: the per-axis std for calm, read-out speech (GRID commands); ``std`` is the one for
            lively, spontaneous speech. Each recording gets the geometric interpolation
            ``std^(1-w) * calm_std^w`` with ``w`` = :func:`calm_weight` of its speaking rate.
            None: every recording gets ``std`` (no coupling to the speaking style).
        rate_mid: speaking rate (syllables per second of speech, :func:`speaking_rate`) at which a
            recording counts half as calm (w = 0.5).
        rate_width: how sharply the calmness follows the rate (logistic scale, syllables per second).
    """

    std: tuple[float, ...] = (6.5, 2.7, 5.4, 0.155, 0.063, 0.012)
    tau: tuple[float, ...] = (0.40, 0.23, 0.69, 0.51, 0.23, 0.27)
    coupling: float = 0.4
    nod_deg: float = 1.5
    brow_raise: float = 0.07
    brow_rate: float = 0.25
    brow_seconds: float = 0.7
    envelope_seconds: float = 0.15
    limit: float = 2.5
    calm_std: tuple[float, ...] | None = (0.56, 1.02, 0.69, 0.0325, 0.0286, 0.0016)
    rate_mid: float = 4.0
    rate_width: float = 0.15

    def axis_std(self, rate: float) -> np.ndarray:
        """Per-axis std for a recording of speaking rate ``rate`` (syllables per second of speech)."""
        if self.calm_std is None:
            return np.asarray(self.std, dtype=np.float64)
        return self.style_std(calm_weight(rate, self))

    def style_std(self, w: float) -> np.ndarray:
        """Per-axis std at calm weight ``w`` (0: ``std``, 1: ``calm_std``): ``std^(1-w) * calm_std^w``."""
        std = np.asarray(self.std, dtype=np.float64)
        if self.calm_std is None:
            return std
        return std ** (1.0 - w) * np.asarray(self.calm_std, dtype=np.float64) ** w

    def brow_scale(self, std: np.ndarray) -> float:
        """Brow-raise factor of a per-axis ``std`` (calmer speech, calmer brows): the mean relative amplitude
        (geometric) of its three angles over the lively ``std``'s."""
        return float(np.exp(np.mean(np.log(np.asarray(std)[:3] / np.asarray(self.std[:3], dtype=np.float64)))))


@dataclass
class HeadMotion:
    """A generated (or measured) head/brow track.

    Attributes:
        pose: (T, 6) float64 per frame: yaw, pitch, roll (degrees), tx, ty (inter-ocular distances),
            log scale (see :data:`AXES`); all 0 = the photo's pose.
        brow: (T,) float64 brow raise, inter-ocular distances (>= 0).
    """

    pose: np.ndarray
    brow: np.ndarray

    @classmethod
    def still(cls, num_frames: int) -> HeadMotion:
        """No motion."""
        return cls(np.zeros((num_frames, 6)), np.zeros(num_frames))


def check_head_motion(value: float) -> float:
    """``value`` as a float if it is a usable head-motion strength (finite, >= 0).

    Raises:
        ValueError: negative, infinite or NaN.
    """
    import math

    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"head_motion must be a finite number >= 0, got {value}")
    return float(value)


# ----------------------------------------------------------------------------------------------
# geometry
# ----------------------------------------------------------------------------------------------


def _rotations(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotation matrices, angles in radians: roll @ yaw @ pitch.

    Positive yaw turns the nose towards +x (image right), positive pitch moves it down (+y, a
    nod), positive roll turns the face clockwise on screen.
    """
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    one, zero = np.ones_like(yaw), np.zeros_like(yaw)
    r_yaw = np.stack([np.stack([cy, zero, sy], -1), np.stack([zero, one, zero], -1),
                      np.stack([-sy, zero, cy], -1)], -2)
    r_pitch = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cp, sp], -1),
                        np.stack([zero, -sp, cp], -1)], -2)
    r_roll = np.stack([np.stack([cr, -sr, zero], -1), np.stack([sr, cr, zero], -1),
                       np.stack([zero, zero, one], -1)], -2)
    return r_roll @ r_yaw @ r_pitch


def _project(shape3d: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Weak perspective: (T, N, 2) = exp(log_s) * (R X)[:2] + t for params (T, 6) =
    (yaw, pitch, roll [rad], log_s, tx, ty) and a (N, 3) or (T, N, 3) shape."""
    rot = _rotations(params[:, 0], params[:, 1], params[:, 2])
    x = np.einsum("tij,...nj->tni", rot, shape3d)[..., :2]
    return np.exp(params[:, 3])[:, None, None] * x + params[:, None, 4:6]


def _template3d() -> np.ndarray:
    """(68, 3) the canonical face with :data:`FACE_DEPTH`, centred on its rigid points."""
    face = canonical_face().astype(np.float64)
    face -= face[list(RIGID_POINTS)].mean(0)
    return np.concatenate([face, FACE_DEPTH[:, None]], axis=1)


def estimate_pose(landmarks: np.ndarray, iterations: int = 12) -> np.ndarray:
    """Head pose of each frame of a landmark track (weak-perspective fit of the generic 3-D face).

    Args:
        landmarks: (T, 68, 2) landmarks, any unit (pixels).
        iterations: Gauss-Newton iterations.

    Returns:
        (T, 6) float64 per frame, the axes of :data:`AXES`: yaw, pitch, roll in degrees, tx, ty in
        inter-ocular distances of the track's median scale (absolute position / scale; subtract a
        reference frame's pose for motion), log of the scale over the track's median scale.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must be (T, 68, 2), got {lm.shape}")
    if len(lm) == 0:
        return np.zeros((0, 6))
    idx = list(RIGID_POINTS)
    shape = _template3d()[idx]
    target = lm[:, idx]
    scale, rot, trans = _umeyama(np.broadcast_to(shape[None, :, :2], target.shape).copy(), target)
    params = np.zeros((len(lm), 6))
    params[:, 2] = np.arctan2(rot[:, 1, 0], rot[:, 0, 0])
    params[:, 3] = np.log(np.maximum(scale, 1e-9))
    params[:, 4:6] = trans
    eps = 1e-5
    for _ in range(iterations):
        base = _project(shape, params)
        resid = (base - target).reshape(len(lm), -1)
        jac = np.empty((len(lm), resid.shape[1], 6))
        for k in range(6):
            step = params.copy()
            step[:, k] += eps
            jac[:, :, k] = ((_project(shape, step) - base).reshape(len(lm), -1)) / eps
        jtj = np.einsum("tnk,tnl->tkl", jac, jac)
        jtj += 1e-6 * np.eye(6) * np.trace(jtj, axis1=1, axis2=2)[:, None, None]
        delta = np.linalg.solve(jtj, np.einsum("tnk,tn->tk", jac, resid)[..., None])[..., 0]
        params -= delta
        params[:, :2] = np.clip(params[:, :2], -1.2, 1.2)
    s_med = float(np.exp(np.median(params[:, 3])))
    out = np.empty_like(params)
    out[:, :3] = np.degrees(params[:, :3])
    out[:, 3:5] = params[:, 4:6] / s_med
    out[:, 5] = params[:, 3] - np.log(s_med)
    return out


def pose_to_landmarks(points: np.ndarray, motion: HeadMotion) -> np.ndarray:
    """Move landmarks given in the canonical frame (upright, inter-ocular distance ~1) by a head motion.

    Each frame is lifted to 3-D with :data:`FACE_DEPTH`, its brows raised by ``motion.brow``, rotated
    about the centre of its rigid points, scaled and shifted, and projected back orthographically.
    A zero pose and zero brow return the points unchanged (up to float rounding).

    Args:
        points: (T, 68, 2) landmarks in the canonical frame.
        motion: the :class:`HeadMotion` (T frames).

    Returns:
        (T, 68, 2) float64.
    """
    p = np.asarray(points, dtype=np.float64).copy()
    pose = np.asarray(motion.pose, dtype=np.float64)
    if p.shape[0] != pose.shape[0]:
        raise ValueError(f"{p.shape[0]} frames of landmarks but {pose.shape[0]} of head motion")
    brow = np.asarray(motion.brow, dtype=np.float64)
    p[:, list(BROW_POINTS), 1] -= brow[:, None] * BROW_WEIGHTS[None]
    centre = p[:, list(RIGID_POINTS)].mean(1, keepdims=True)
    xyz = np.concatenate([p - centre, np.broadcast_to(FACE_DEPTH[None, :, None], (len(p), 68, 1))], axis=2)
    rot = _rotations(*np.radians(pose[:, :3]).T)
    moved = np.einsum("tij,tnj->tni", rot, xyz)[..., :2]
    return np.exp(pose[:, 5])[:, None, None] * moved + centre + pose[:, None, 3:5]


def apply_head_motion(
    landmarks: np.ndarray, person_neutral: np.ndarray, canonical_neutral: np.ndarray, motion: HeadMotion
) -> np.ndarray:
    """Apply a head/brow motion to a person's landmark track (in the person's pixels).

    The track is mapped into the upright canonical frame by the same similarity the retargeting
    uses (canonical neutral -> person neutral, :func:`talkface.motion.retarget.retarget_transform`),
    moved by :func:`pose_to_landmarks` and mapped back, so the angles are the face's own and the
    translation is in the person's inter-ocular distances.

    Args:
        landmarks: (T, 68, 2) predicted landmarks, pixels.
        person_neutral: (68, 2) the person's neutral landmarks, pixels.
        canonical_neutral: (68, 2) the motion model's canonical neutral face.
        motion: :class:`HeadMotion` of T frames.

    Returns:
        (T, 68, 2) float32 landmarks, pixels.
    """
    sim, _ = retarget_transform(canonical_neutral, person_neutral)
    inv = sim.inverse()
    upright = inv.apply(np.asarray(landmarks, dtype=np.float64))
    iod = np.linalg.norm(upright[0, 42:48].mean(0) - upright[0, 36:42].mean(0)) if len(upright) else 1.0
    scaled = HeadMotion(motion.pose * np.array([1, 1, 1, iod, iod, 1.0]), motion.brow * iod)
    return sim.apply(pose_to_landmarks(upright, scaled)).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# the prior
# ----------------------------------------------------------------------------------------------


def _smooth(x: np.ndarray, frames: float) -> np.ndarray:
    """Zero-phase exponential smoothing (forward + backward one-pole filter), time constant in frames."""
    from talkface.motion.onepole import filtfilt_one_pole  # = scipy.signal.filtfilt, without its 0.7-s import

    if frames <= 0 or len(x) < 10:
        return x
    a = float(np.exp(-1.0 / frames))
    return filtfilt_one_pole(x, a, padlen=min(len(x) - 1, int(3 * frames) + 1))


def loudness_envelope(audio: np.ndarray, num_frames: int, fps: float, sample_rate: int = 16000,
                      smooth_s: float = 0.15) -> np.ndarray:
    """Speech loudness per video frame, mapped to [0, 1] (0 = silence or < -30 dB under the loud parts).

    RMS in dB around each frame, relative to the recording's 95th percentile (so the level of the
    recording does not matter; but at least -50 dBFS, so digital silence gives 0), mapped linearly
    from -30 dB -> 0 to 0 dB -> 1, clipped and smoothed.

    Args:
        audio: (N,) float32 mono speech.
        num_frames: T.
        fps: video frames/s.
        sample_rate: audio rate, Hz.
        smooth_s: smoothing time constant, seconds.

    Returns:
        (T,) float64 in [0, 1].
    """
    if num_frames == 0:
        return np.zeros(0)
    rms = audio_rms_per_frame(audio, num_frames, fps, sample_rate).astype(np.float64)
    db = 20 * np.log10(np.maximum(rms, 1e-5))
    ref = max(float(np.percentile(db, 95)), -50.0)  # a silent recording stays silent (0)
    env = np.clip((db - (ref - 30.0)) / 30.0, 0.0, 1.0)
    return np.clip(_smooth(env, smooth_s * fps), 0.0, 1.0)


def _lowpass2(noise: np.ndarray, frames: float) -> np.ndarray:
    """Two cascaded causal one-pole filters (time constant in frames), scaled to unit stationary variance."""
    from talkface.motion.onepole import one_pole  # = scipy.signal.lfilter, without its 0.7-s import

    a = float(np.exp(-1.0 / max(frames, 1e-3)))
    y = one_pole(one_pole(noise, a), a)
    # stationary variance of the cascade for unit white noise: (1-a)^4 * sum_k (k+1)^2 a^(2k)
    a2 = a * a
    var = (1 - a) ** 4 * (1 + a2) / (1 - a2) ** 3
    return np.asarray(y / np.sqrt(var))


def generate_head_motion(
    audio: np.ndarray,
    num_frames: int,
    fps: float,
    *,
    seed: int = 0,
    strength: float = 1.0,
    sample_rate: int = 16000,
    config: HeadMotionConfig | None = None,
) -> HeadMotion:
    """Head pose and brow raises for a speech recording (seeded: same inputs + seed = same motion).

    Args:
        audio: (N,) float32 mono speech.
        num_frames: T, video frames.
        fps: frames/s.
        seed: seed of the noise (the pipeline passes the blink seed).
        strength: ``head_motion``: 0 = still, 1 = natural, > 1 livelier (scales every axis and the brows).
        sample_rate: audio rate, Hz.
        config: the prior's constants.

    Returns:
        :class:`HeadMotion` of ``num_frames`` frames.
    """
    cfg = config or HeadMotionConfig()
    check_head_motion(strength)
    if num_frames == 0 or strength == 0:
        return HeadMotion.still(num_frames)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x4EAD])
    std = cfg.axis_std(speaking_rate(audio, sample_rate) if cfg.calm_std is not None else 0.0)
    env = loudness_envelope(audio, num_frames, fps, sample_rate, cfg.envelope_seconds)
    # amplitude modulation of the innovations by loudness, normalised to unit mean square so the
    # process variance does not depend on how much of the recording is speech
    gain = (1.0 - cfg.coupling) + cfg.coupling * env
    gain = gain / np.sqrt(max(float(np.mean(gain**2)), 1e-12))
    warm = int(round(4 * max(cfg.tau) * fps))  # start from the stationary state, not from 0
    noise = rng.standard_normal((num_frames + warm, 6))
    noise[warm:] *= gain[:, None]
    pose = np.empty((num_frames, 6))
    for k in range(6):
        pose[:, k] = _lowpass2(noise[:, k], cfg.tau[k] * fps)[warm:]
    # emphasis: positive loudness onsets nod the head (chin down) a little
    onset = np.maximum(np.gradient(env) * fps, 0.0)  # loudness units per second
    onset = onset / max(float(np.percentile(onset, 99)), 1e-6)
    nod = _lowpass2(np.concatenate([np.zeros(warm), onset]), 0.12 * fps)[warm:]
    nod = nod / max(float(np.abs(nod).max()), 1e-9)
    pose[:, 1] += cfg.nod_deg / cfg.std[1] * (nod - nod.mean())
    limit = cfg.limit
    pose = limit * np.tanh(pose / limit) * std[None]
    brow_scale = cfg.brow_scale(std)
    # brow raises on a random subset of the strongest onsets (local maxima)
    brow = np.zeros(num_frames)
    peaks = np.flatnonzero((onset[1:-1] > 0.3) & (onset[1:-1] >= onset[:-2]) & (onset[1:-1] > onset[2:])) + 1
    speech_s = float(np.sum(env > 0.2)) / fps
    if len(peaks):
        p_take = min(1.0, cfg.brow_rate * speech_s / len(peaks))
        half = max(1, int(round(cfg.brow_seconds * fps / 2)))
        bump = np.sin(np.linspace(0, np.pi, 2 * half + 1)) ** 2
        last = -10 * half
        for peak in peaks:
            t = int(peak)
            if rng.random() < p_take and t - last > 3 * half:
                lo, hi = max(0, t - half), min(num_frames, t + half + 1)
                brow[lo:hi] = np.maximum(brow[lo:hi], cfg.brow_raise * bump[lo - (t - half): hi - (t - half)])
                last = t
    return HeadMotion(pose * strength, brow * (strength * brow_scale))


def motion_energy_correlation(pose: np.ndarray, audio: np.ndarray, fps: float, sample_rate: int = 16000,
                              window_s: float = 1.0) -> float:
    """Correlation of head-motion energy with speech energy over one clip.

    Head-motion energy: angular speed |d(yaw, pitch, roll)/dt| per frame; speech energy: the loudness
    envelope (:func:`loudness_envelope`); both smoothed over ``window_s`` before the Pearson
    correlation (NaN if either is constant).
    """
    pose = np.asarray(pose, dtype=np.float64)
    if len(pose) < 3:
        return float("nan")
    speed = np.linalg.norm(np.diff(pose[:, :3], axis=0, prepend=pose[:1, :3]), axis=1)
    env = loudness_envelope(audio, len(pose), fps, sample_rate, smooth_s=0.0)
    a = _smooth(speed, window_s * fps / 2)
    b = _smooth(env, window_s * fps / 2)
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-12 else float("nan")


def loudness_window(sample_rate: int) -> tuple[int, int]:
    """``(hop, window)`` in samples of the loudness track the speaking style is read from: 25 ms every 10 ms."""
    return sample_rate // 100, int(0.025 * sample_rate)


def window_db(x: np.ndarray, n: int, hop: int, win: int) -> np.ndarray:
    """RMS in dB of the ``n`` windows of ``win`` samples every ``hop`` samples from the start of ``x``."""
    power = np.cumsum(np.concatenate([[0.0], np.square(np.asarray(x, dtype=np.float64))]))
    starts = np.arange(n) * hop
    return np.asarray(10 * np.log10(np.maximum((power[starts + win] - power[starts]) / win, 1e-10)))


def _loudness_db(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS in dB over 25-ms windows every 10 ms (:func:`loudness_window`), centred on the hops."""
    hop, win = loudness_window(sample_rate)
    padded = np.pad(np.asarray(x, dtype=np.float64), (win // 2, win // 2 + hop))
    return window_db(padded, 1 + len(x) // hop, hop, win)


def _analysis_excerpt(audio: np.ndarray, sample_rate: int, max_seconds: float) -> np.ndarray:
    """The recording, or ``max_seconds`` of it in evenly spaced 10-s pieces if it is longer."""
    x = np.asarray(audio, dtype=np.float32)
    piece = int(10 * sample_rate)
    if len(x) <= max_seconds * sample_rate:
        return x
    starts = np.linspace(0, len(x) - piece, max(1, int(max_seconds // 10))).astype(int)
    return np.concatenate([x[s: s + piece] for s in starts])


def speaking_rate(audio: np.ndarray, sample_rate: int = 16000, max_seconds: float = 60.0) -> float:
    """Syllables per second of speech: prominent loudness peaks (syllable nuclei) per speech second.

    See :func:`speech_style` (its first value).
    """
    return speech_style(audio, sample_rate, max_seconds)[0]


def speech_style(audio: np.ndarray, sample_rate: int = 16000, max_seconds: float = 60.0) -> tuple[float, float]:
    """Speaking rate and pause share of a recording: how read-out (calm) or spontaneous it sounds.

    Loudness is the RMS in dB over 25-ms windows every 10 ms; speech frames are those within 30 dB
    of the recording's 95th percentile. The rate counts loudness peaks (smoothed over 120 ms, at
    least 3 dB above their surroundings and 80 ms apart) among the speech frames, per second of
    speech; the pause share is the share of non-speech frames between the first and the last
    speech frame. Read-out commands (GRID: ~5.4 syllables/s, pauses ~15 %) differ from spontaneous
    speech (~3.2/s, ~7 %; docs/motion.md). Longer recordings are measured on ``max_seconds`` of
    evenly spaced 10-s pieces. A recording without speech gives (0, 0).
    """
    db = _loudness_db(_analysis_excerpt(audio, sample_rate, max_seconds), sample_rate)
    peaks, speech_frames, pauses = count_syllables(db)
    if speech_frames < 10:
        return 0.0, 0.0
    return float(peaks / (speech_frames / 100)), pauses


def count_syllables(db: np.ndarray) -> tuple[int, int, float]:
    """Syllable nuclei in a loudness track: ``(peaks, speech frames, pause share)`` (see :func:`speech_style`).

    Args:
        db: loudness in dB, 25-ms windows every 10 ms (as :func:`speech_style` measures it; the live
            stream's running estimate, :class:`talkface.live.online_motion.OnlineSpeakingRate`, passes
            the part received so far).

    Returns:
        The loudness peaks among the speech frames, the number of speech frames (within 30 dB of the
        track's 95th percentile) and the pause share; ``(0, n, 0.0)`` with fewer than 10 speech frames.
    """
    from talkface.motion.peaks import find_peaks  # = scipy.signal.find_peaks, without its 0.7-s import

    db = np.asarray(db, dtype=np.float64)
    ref = max(float(np.percentile(db, 95)), -50.0) if len(db) else -50.0
    speech = db > ref - 30
    if speech.sum() < 10:
        return 0, int(speech.sum()), 0.0
    sm = np.convolve(db, np.ones(12) / 12, mode="same")
    peaks = find_peaks(np.where(speech, sm, ref - 60), prominence=3.0, distance=8)
    on = np.flatnonzero(speech)
    pauses = 1.0 - float(speech[on[0]: on[-1] + 1].mean())
    return len(peaks), int(speech.sum()), pauses


def calm_weight(rate: float, config: HeadMotionConfig | None = None) -> float:
    """How calm (read-out) a recording of speaking rate ``rate`` sounds, 0 (lively) ... 1 (calm): a
    logistic in the rate around :attr:`HeadMotionConfig.rate_mid`; no speech (rate 0) counts as lively."""
    cfg = config or HeadMotionConfig()
    if rate <= 0:
        return 0.0
    return float(1.0 / (1.0 + np.exp(-(rate - cfg.rate_mid) / max(cfg.rate_width, 1e-6))))


def speech_statistics(audio: np.ndarray, sample_rate: int = 16000, max_seconds: float = 60.0) -> dict[str, float]:
    """Prosodic statistics of a recording (what might predict how much the speaker moves the head).

    Loudness is the RMS in dB over 25-ms windows every 10 ms; speech frames are those within 30 dB of
    the recording's 95th percentile. Pitch is librosa's pYIN (60-450 Hz, 20-ms hop) on voiced
    frames, in semitones. Longer recordings are analysed on ``max_seconds`` of evenly spaced
    10-s pieces.

    Returns:
        ``f0_range_st`` (10th-90th percentile of the pitch, semitones), ``f0_std_st`` (robust std:
        1.4826 MAD), ``f0_delta_st`` (median |pitch change| per 20 ms within voiced runs),
        ``loud_std_db`` (std of the loudness over speech frames), ``loud_delta_db`` (mean |change|
        of the loudness per 10 ms over speech frames), ``syll_rate`` (loudness peaks, i.e.
        syllable nuclei, per second of speech), ``pause_share`` (share of non-speech frames between
        the first and last speech frame), ``voiced_share`` (voiced / speech frames).
    """
    import librosa

    x = _analysis_excerpt(audio, sample_rate, max_seconds)
    hop = sample_rate // 100
    db = _loudness_db(x, sample_rate)
    ref = max(float(np.percentile(db, 95)), -50.0)
    speech = db > ref - 30
    out = dict.fromkeys(("f0_range_st", "f0_std_st", "f0_delta_st", "loud_std_db", "loud_delta_db",
                         "syll_rate", "pause_share", "voiced_share"), float("nan"))
    if speech.sum() < 10:
        return out
    out["syll_rate"], out["pause_share"] = speech_style(x, sample_rate, max_seconds)
    out["loud_std_db"] = float(db[speech].std())
    both = speech[1:] & speech[:-1]
    out["loud_delta_db"] = float(np.abs(np.diff(db))[both].mean()) if both.any() else float("nan")
    f0, voiced, _ = librosa.pyin(x, fmin=60, fmax=450, sr=sample_rate, frame_length=1024,
                                 hop_length=2 * hop, center=True)
    voiced = voiced & np.isfinite(f0)
    sp2 = speech[::2][: len(voiced)]
    voiced = voiced[: len(sp2)] & sp2
    out["voiced_share"] = float(voiced.sum() / max(sp2.sum(), 1))
    if voiced.sum() >= 10:
        st = 12 * np.log2(f0[: len(voiced)][voiced] / np.median(f0[: len(voiced)][voiced]))
        lo, hi = np.percentile(st, [10, 90])
        out["f0_range_st"] = float(hi - lo)
        out["f0_std_st"] = float(1.4826 * np.median(np.abs(st - np.median(st))))
        full = np.full(len(voiced), np.nan)
        full[voiced] = 12 * np.log2(f0[: len(voiced)][voiced])
        d = np.abs(np.diff(full))
        d = d[np.isfinite(d)]
        out["f0_delta_st"] = float(np.median(d)) if len(d) else float("nan")
    return out
