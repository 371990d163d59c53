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
"""

from __future__ import annotations

import numpy as np

from talkface.face.geometry import mouth_opening

__all__ = ["MAX_GAIN", "PAUSE_DB", "SILENCE_DBFS", "TARGET_OPENING_STD", "amplitude_gain", "has_speech",
           "speech_presence"]

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
