"""Per-utterance mouth-amplitude normalisation of the predicted speech motion.

The regression-trained motion model regresses towards the mean: on its own speaker it asks for
~0.9 of the real inner-lip opening's variability, on unseen speakers 0.8, and on in-the-wild
voices (other microphones, rooms, accents, languages) about half (docs/motion.md, "Mouth
amplitude"). The correlation with the real opening is much less affected, so the timing is right
and only the size is wrong.

:func:`amplitude_gain` therefore scales each utterance's speech motion (the displacement of the
mouth and jaw from the neutral face, as ``motion_scale`` does) so that the standard deviation of
its mouth opening reaches :data:`TARGET_OPENING_STD`, the median of real GRID s1 utterances
(measured on the canonical landmarks the model is trained on). The gain is never below 1 (a
prediction that is already lively enough is left alone) and at most :data:`MAX_GAIN`; a silent
recording (:func:`has_speech`) is not scaled at all.

Where the gain is applied (:class:`MouthRequest`, docs/motion.md section 6). A model trained for the
lowest L2 error shrinks its output towards the *conditional mean*, the average mouth posture of
speech (lips parted, corners a little lower and closer together), not towards the closed neutral
face. Scaling the displacement from the neutral face (``centre="neutral"``, the first version) therefore
also multiplies that average posture: the mouth is too open *on average* (1.2x the real mean opening
on GRID s1, 1.8x in the wild) and the error that costs is static, in every frame.
:func:`centred_motion` (``centre="speech_mean"``, the default) scales only the deviation from the
utterance's mean posture over its speech frames, and only in speech (pauses keep the model's closed
mouth), so the opening varies as much and its mean stays the model's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkface.face.geometry import INNER_LIP_PAIRS, mouth_opening

__all__ = ["CORNER_FALLOFF", "CORNER_POINTS", "CORNER_POSTURE", "MAX_CLOSING", "MAX_GAIN", "MOUTH_REQUESTS", "PAUSE_DB",
           "PAUSE_HOLD_S", "SILENCE_DBFS", "TARGET_OPENING_STD", "MouthRequest", "PauseClosure", "amplitude_gain",
           "centred_motion", "corner_matrix", "has_speech", "mouth_request", "photo_corners", "speech_presence"]

#: Median over GRID s1 utterances of the std of the inner-lip opening over the eye distance
#: (:func:`talkface.eval.motion_metrics.mouth_opening` of their canonical landmarks, all frames).
TARGET_OPENING_STD = 0.048

#: Largest gain applied to an utterance's speech motion.
MAX_GAIN = 2.5

#: A recording whose loud frames (95th percentile of the frame RMS) stay below this level is silent:
#: the motion model's output for it is a resting mouth, which must not be amplified.
SILENCE_DBFS = -50.0


def has_speech(frame_rms: np.ndarray) -> bool:
    """Whether a recording, given its RMS per video frame (full scale 1), is louder than :data:`SILENCE_DBFS`."""
    rms = np.asarray(frame_rms, dtype=np.float64)
    return bool(len(rms)) and float(np.percentile(rms, 95)) > 10 ** (SILENCE_DBFS / 20)


#: A frame this many dB below the utterance's loud frames (95th percentile of the frame RMS) is a pause.
PAUSE_DB = 30.0


def speech_presence(frame_rms: np.ndarray, pause_db: float = PAUSE_DB, hold: int = 2) -> np.ndarray:
    """Per video frame, 1 where there is speech and 0 in pauses, with soft edges.

    A frame is a pause when its RMS is ``pause_db`` below the utterance's loud frames (95th
    percentile) or under :data:`SILENCE_DBFS`. Speech is held ``hold`` frames on both sides (the
    mouth moves a little before and after the sound) and the edges are ramped over 3 frames.

    Args:
        frame_rms: (T,) RMS per video frame (full scale 1), e.g. ``audio_rms_per_frame``.
        pause_db: depth of a pause below the loud frames, dB.
        hold: frames of speech kept around every speech frame.

    Returns:
        (T,) float32 in [0, 1]; all ones for a recording without pauses, all zeros for a silent one.
    """
    rms = np.asarray(frame_rms, dtype=np.float64)
    if not len(rms):
        return np.zeros(0, np.float32)
    db = 20 * np.log10(np.maximum(rms, 1e-10))
    loud = float(np.percentile(db, 95))
    speech = (db > max(loud - pause_db, SILENCE_DBFS)).astype(np.float64)
    if hold > 0:  # dilate: the mouth is ready before the sound and closes after it
        kernel = np.ones(2 * hold + 1)
        speech = (np.convolve(speech, kernel, mode="same") > 0).astype(np.float64)
    ramp = np.convolve(np.pad(speech, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    return np.clip(ramp, 0.0, 1.0).astype(np.float32)


def amplitude_gain(canonical: np.ndarray, target_std: float = TARGET_OPENING_STD,
                   max_gain: float = MAX_GAIN) -> float:
    """Gain on one utterance's speech motion that gives its mouth opening the target variability.

    Args:
        canonical: (T, 68, 2) predicted canonical landmarks (before blinks; any unit).
        target_std: wanted std of :func:`talkface.eval.motion_metrics.mouth_opening` over the utterance.
        max_gain: upper bound of the gain.

    Returns:
        ``clip(target_std / std(opening), 1, max_gain)``; 1 for fewer than 2 frames or a constant opening.
    """

    if len(canonical) < 2:
        return 1.0
    std = float(mouth_opening(canonical).std())
    if std < 1e-6:
        return 1.0
    return float(np.clip(target_std / std, 1.0, max_gain))


#: The mouth corners (image left, image right): the outer and inner lip corner of each side.
CORNER_POINTS: tuple[tuple[int, int], tuple[int, int]] = ((48, 60), (54, 64))

#: How the corners' shift reaches the other mouth points: weight ``(|x - centre| / half width) ** CORNER_FALLOFF``
#: in the model's neutral face (1 at the corners, ~0.2-0.3 at the lip points next to them, 0 in the middle).
#: Chosen on the wild clips and GRID s1 val (docs/motion.md section 6a).
CORNER_FALLOFF = 4.0

#: Share of the model's mean corner posture in speech the default request keeps (0: the photo's corners on
#: average, 1: the model's). Chosen on the 20 wild clips (0.75 and 1 removed tie best) and GRID s1 val
#: (0.5 best, the model's own speaker), before the unseen GRID speakers were run (docs/motion.md section 6a).
CORNER_POSTURE = 0.25


def corner_matrix(neutral: np.ndarray) -> np.ndarray:
    """The linear map from a mean displacement to its corners' part, spread over the mouth.

    For every mouth point (48-67), the mean displacement of the two corners of its side
    (:data:`CORNER_POINTS`) times the point's weight (:data:`CORNER_FALLOFF`); other points get none.

    Args:
        neutral: (68, 2) the motion model's canonical neutral face.

    Returns:
        (68, 68) float64 ``W``: ``W @ m`` (``m`` a (68, 2) displacement) is the corners' shift of every point.
    """
    n = np.asarray(neutral, dtype=np.float64)
    if n.shape != (68, 2):
        raise ValueError(f"neutral must be (68, 2), got {n.shape}")
    (l1, l2), (r1, r2) = CORNER_POINTS
    left, right = n[[l1, l2], 0].mean(), n[[r1, r2], 0].mean()
    centre, half = 0.5 * (left + right), max(0.5 * abs(right - left), 1e-9)
    w = np.zeros((68, 68))
    for p in range(48, 68):
        weight = min(1.0, abs(n[p, 0] - centre) / half) ** CORNER_FALLOFF
        side = (l1, l2) if (n[p, 0] - centre) * (left - centre) > 0 else (r1, r2)
        w[p, list(side)] = 0.5 * weight
    return w


def photo_corners(canonical: np.ndarray, neutral: np.ndarray, speech: np.ndarray,
                  keep: float = CORNER_POSTURE) -> np.ndarray:
    """Move the mouth corners' mean speech posture towards the photo's: keep ``keep`` of the model's.

    With the displacement ``d_t = canonical_t - neutral`` and its mean ``m`` over the speech frames (weighted by
    ``speech``): ``d'_t = d_t - speech_t (1 - keep) W m`` with ``W`` = :func:`corner_matrix`. The corners'
    motion about their mean is unchanged, pauses are the model's own.

    Args:
        canonical: (T, 68, 2) canonical landmarks (after the amplitude normalisation).
        neutral: (68, 2) the model's canonical neutral face.
        speech: (T,) speech presence in [0, 1] (:func:`speech_presence`).
        keep: share of the model's mean corner posture kept (1: unchanged).

    Returns:
        (T, 68, 2) float32; the input unchanged for ``keep`` 1 or no speech.
    """
    c = np.asarray(canonical, dtype=np.float64)
    n = np.asarray(neutral, dtype=np.float64)
    s = np.clip(np.asarray(speech, dtype=np.float64), 0.0, 1.0)
    if c.ndim != 3 or c.shape[1:] != (68, 2) or s.shape != (len(c),):
        raise ValueError(f"canonical (T, 68, 2) and speech (T,) expected, got {c.shape}, {s.shape}")
    if not (np.isfinite(keep) and 0.0 <= keep <= 1.0):
        raise ValueError(f"keep must be in [0, 1], got {keep}")
    if keep == 1.0 or s.sum() <= 0:
        return np.asarray(canonical, dtype=np.float32)
    mean = np.tensordot(s / s.sum(), c, axes=1) - n
    shift = corner_matrix(n) @ mean
    return (c - (1.0 - keep) * s[:, None, None] * shift[None]).astype(np.float32)


#: Where :class:`MouthRequest` can centre the amplitude gain.
CENTRES = ("speech_mean", "neutral")
#: What an open-mouthed photo's mouth is closed to (:func:`talkface.motion.retarget.close_mouth`).
REST_GAPS = ("model", "zero")
#: How far (mouth opening, inner-lip gap over the eye distance) a wide-open photo's mouth is closed while speaking.
#: A wider photo mouth (a tongue, both rows of teeth: ``retalking_examples_face_3`` at 0.33) rests a little open in
#: speech: its speakers mostly talk with the mouth open, and closing it all the way there cost LMD and identity
#: (docs/render.md "A wide-open photo mouth closes part way", "Closing an open photo mouth with a lip mesh"); in
#: pauses it closes all the way (:class:`PauseClosure`, ``MouthRequest.close_in_pauses``). Photos up to 0.2 + the
#: rest gap (every GRID first frame, 30 of the 33 wild ones) close all the way throughout.
MAX_CLOSING = 0.2


@dataclass(frozen=True)
class MouthRequest:
    """How the predicted speech motion becomes the mouth the renderer is asked for.

    Attributes:
        centre: where the per-utterance amplitude gain scales the motion about: ``"speech_mean"``
            (default: the utterance's mean mouth posture over its speech frames, :func:`centred_motion`)
            or ``"neutral"`` (the closed neutral face; the first version, which also inflates the mean
            posture).
        rest_gap: what an open-mouthed photo's mouth is closed to before the motion is added:
            ``"model"`` (default: the inner-lip gap of the motion model's own neutral face, the rest its
            displacements are measured from; GRID s1's closed lips read ~0.028 of the eye distance by
            dlib) or ``"zero"`` (lips pressed together; the first version: every frame then asks for a
            mouth more closed than the model means).
        corner_posture: share of the model's mean mouth-corner posture in speech that is kept
            (:func:`photo_corners`; default :data:`CORNER_POSTURE`; 1: the model's, as before 2026-12-01 late).
        max_closing: how far an open photo's mouth may be closed (:data:`MAX_CLOSING`; infinite: always to the
            rest gap, as before 2026-12-02).
        close_in_pauses: a mouth closed only part way (``max_closing``) closes all the way to the rest gap in the
            utterance's pauses (:class:`PauseClosure`; with the amplitude normalisation, offline and live).
    """

    centre: str = "speech_mean"
    rest_gap: str = "model"
    corner_posture: float = CORNER_POSTURE
    max_closing: float = MAX_CLOSING
    close_in_pauses: bool = True

    def rest_opening(self, canonical_neutral: np.ndarray) -> float:
        """The inner-lip gap (over the eye distance) an open photo mouth is closed to for this request.

        Args:
            canonical_neutral: (68, 2) the motion model's canonical neutral face.

        Returns:
            ``mouth_opening(canonical_neutral)`` for ``rest_gap="model"``, 0 for ``"zero"`` (the ``keep_gap``
            of :func:`talkface.motion.retarget.close_mouth`; offline and live use this one value).
        """
        return float(mouth_opening(np.asarray(canonical_neutral))) if self.rest_gap == "model" else 0.0

    def closed_opening(self, canonical_neutral: np.ndarray, photo_landmarks: np.ndarray) -> float:
        """The inner-lip gap (over the eye distance) an open photo's mouth is closed to: the rest gap
        (:meth:`rest_opening`), or for a photo opened more than ``max_closing`` beyond it, its own opening less
        ``max_closing`` (the ``keep_gap`` of :func:`talkface.motion.retarget.close_mouth`; offline and live).

        Args:
            canonical_neutral: (68, 2) the motion model's canonical neutral face.
            photo_landmarks: (68, 2) the photo's landmarks.
        """
        rest = self.rest_opening(canonical_neutral)
        return max(rest, float(mouth_opening(np.asarray(photo_landmarks, np.float64))) - self.max_closing)

    def closes_part_way(self, canonical_neutral: np.ndarray, photo_landmarks: np.ndarray) -> bool:
        """Whether an open photo's mouth is so wide that :meth:`closed_opening` stops above the rest gap."""
        return self.closed_opening(canonical_neutral, photo_landmarks) > self.rest_opening(canonical_neutral)

    def closes_in_pauses(self, canonical_neutral: np.ndarray, photo_landmarks: np.ndarray) -> bool:
        """Whether a photo's mouth closed part way (:meth:`closes_part_way`) closes all the way in pauses
        (``close_in_pauses``; :class:`PauseClosure`, offline and live)."""
        return self.close_in_pauses and self.closes_part_way(canonical_neutral, photo_landmarks)

    def __post_init__(self) -> None:
        if self.centre not in CENTRES:
            raise ValueError(f"MouthRequest.centre must be one of {CENTRES}, got {self.centre!r}")
        if self.rest_gap not in REST_GAPS:
            raise ValueError(f"MouthRequest.rest_gap must be one of {REST_GAPS}, got {self.rest_gap!r}")
        if not (np.isfinite(self.corner_posture) and 0.0 <= self.corner_posture <= 1.0):
            raise ValueError(f"MouthRequest.corner_posture must be in [0, 1], got {self.corner_posture!r}")
        if not self.max_closing > 0:
            raise ValueError(f"MouthRequest.max_closing must be > 0, got {self.max_closing!r}")


#: A wide-open photo mouth closed part way (:data:`MAX_CLOSING`) closes all the way once a pause has lasted this long
#: (seconds; :class:`PauseClosure`), over ``PAUSE_CLOSE_S``, and opens again over ``PAUSE_OPEN_S`` when speech resumes.
PAUSE_HOLD_S = 0.3
PAUSE_CLOSE_S = 0.2
PAUSE_OPEN_S = 0.08


class PauseClosure:
    """Per frame, how far a wide-open photo's mouth is closed beyond its part-way rest: 1 in pauses, 0 in speech.

    Causal (the same rule offline and live): once speech presence has stayed under 0.5 for :data:`PAUSE_HOLD_S`
    the weight rises to 1 over :data:`PAUSE_CLOSE_S`; when speech resumes it falls to 0 over :data:`PAUSE_OPEN_S`.
    The rest during speech stays part way (a speaker with a wide-open photo mouth mostly talks with it open:
    closing it all the way in speech too cost LMD and identity, docs/render.md), the pauses show closed lips.

    Args:
        fps: video frame rate, frames/s.
    """

    def __init__(self, fps: float) -> None:
        self.hold = max(1, int(round(PAUSE_HOLD_S * fps)))
        self.up = 1.0 / max(1.0, PAUSE_CLOSE_S * fps)
        self.down = 1.0 / max(1.0, PAUSE_OPEN_S * fps)
        self.silent = 0
        self.weight = 0.0

    def step(self, speech: np.ndarray) -> np.ndarray:
        """(n,) speech presence per frame (:func:`speech_presence`) -> (n,) float32 closing weights."""
        out = np.empty(len(speech), np.float32)
        for i, s in enumerate(np.asarray(speech, np.float64)):
            self.silent = self.silent + 1 if s < 0.5 else 0
            if self.silent >= self.hold:
                self.weight = min(1.0, self.weight + self.up)
            else:
                self.weight = max(0.0, self.weight - self.down)
            out[i] = self.weight
        return out


#: Named settings (``AnimateConfig.mouth_request``): ``centred`` (default since 2026-12-01), ``model_corners``
#: (the centred request with the model's own mean corner posture, the default before section 6a) and
#: ``neutral`` (the request as made before section 6); both earlier ones close any open photo mouth all the way.
MOUTH_REQUESTS: dict[str, MouthRequest] = {
    "centred": MouthRequest(),
    "model_corners": MouthRequest(corner_posture=1.0, max_closing=float("inf")),
    "neutral": MouthRequest(centre="neutral", rest_gap="zero", corner_posture=1.0, max_closing=float("inf")),
}


def mouth_request(value: str | MouthRequest | None) -> MouthRequest:
    """``value`` as a :class:`MouthRequest` (a name of :data:`MOUTH_REQUESTS`; None: the default).

    Raises:
        ValueError: an unknown name.
    """
    if value is None:
        return MouthRequest()
    if isinstance(value, MouthRequest):
        return value
    if value not in MOUTH_REQUESTS:
        raise ValueError(f"mouth request must be one of {tuple(MOUTH_REQUESTS)}, got {value!r}")
    return MOUTH_REQUESTS[value]


def centred_motion(canonical: np.ndarray, neutral: np.ndarray, speech: np.ndarray,
                   target_std: float = TARGET_OPENING_STD, max_gain: float = MAX_GAIN) -> tuple[np.ndarray, float]:
    """Amplify an utterance's speech motion about its mean posture, in speech only.

    With the displacement ``d_t = canonical_t - neutral``, its mean ``m`` over the speech frames
    (weighted by ``speech``) and a gain ``g``: ``d'_t = d_t + speech_t (g - 1) (d_t - m)``. In speech the
    mouth moves ``g`` times as far about ``m``; in pauses (``speech_t = 0``) the frame is the model's own.
    ``g`` is the smallest gain in ``[1, max_gain]`` that gives the mouth opening
    (:func:`talkface.eval.motion_metrics.mouth_opening`) the standard deviation ``target_std`` (bisection;
    the opening's std grows with ``g``): 1 when the prediction already varies as much, ``max_gain`` when
    even that is not enough.

    Args:
        canonical: (T, 68, 2) predicted canonical landmarks (before blinks).
        neutral: (68, 2) the model's canonical neutral face.
        speech: (T,) speech presence in [0, 1] (:func:`speech_presence`).
        target_std: wanted std of the mouth opening over the utterance.
        max_gain: upper bound of the gain.

    Returns:
        ``(landmarks, gain)``: (T, 68, 2) float32 canonical landmarks and the gain used; the input
        unchanged with gain 1 for fewer than 2 frames, no speech or a constant opening.
    """
    c = np.asarray(canonical, dtype=np.float64)
    n = np.asarray(neutral, dtype=np.float64)
    s = np.clip(np.asarray(speech, dtype=np.float64), 0.0, 1.0)
    if c.ndim != 3 or c.shape[1:] != (68, 2) or s.shape != (len(c),) or n.shape != (68, 2):
        raise ValueError(f"canonical (T, 68, 2), neutral (68, 2) and speech (T,) expected, got {c.shape}, "
                         f"{n.shape}, {s.shape}")
    out = np.asarray(canonical, dtype=np.float32)
    if len(c) < 2 or s.sum() <= 0:
        return out, 1.0
    mean = np.tensordot(s / s.sum(), c, axes=1) - n

    def spread(points: list[int] | slice) -> np.ndarray:
        """``speech_t (d_t - m)`` of some points: the motion the gain amplifies."""
        return s[:, None, None] * (c[:, points] - n[points] - mean[points])

    # the opening (:func:`mouth_opening`) of c + k * spread, from the few vectors it reads: the inner-lip
    # gaps and the eye-centre distance are each linear in k
    upper, lower = [u for u, _ in INNER_LIP_PAIRS], [v for _, v in INNER_LIP_PAIRS]
    lips = (c[:, upper] - c[:, lower], spread(upper) - spread(lower))
    eye = spread(slice(36, 48))
    eyes = (c[:, 42:48].mean(1) - c[:, 36:42].mean(1), eye[:, 6:].mean(1) - eye[:, :6].mean(1))

    def opening_std(gain: float) -> float:
        k = gain - 1.0
        gap = np.linalg.norm(lips[0] + k * lips[1], axis=-1).mean(axis=1)
        return float((gap / np.maximum(np.linalg.norm(eyes[0] + k * eyes[1], axis=-1), 1e-9)).std())

    if opening_std(1.0) < 1e-6 or opening_std(1.0) >= target_std:
        return out, 1.0
    lo, hi = 1.0, float(max_gain)
    if opening_std(hi) <= target_std:
        lo = hi
    else:
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if opening_std(mid) < target_std else (lo, mid)
    gain = 0.5 * (lo + hi) if lo < hi else lo
    return (c + (gain - 1.0) * spread(slice(None))).astype(np.float32), float(gain)
