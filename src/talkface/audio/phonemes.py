"""Phone log-posteriors from hama's IPA phone recogniser as speech features (``hama``, extra ``phonemes``).

Registered in :mod:`talkface.audio.features`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from talkface.audio.background import stopping
from talkface.audio.extractor import SAMPLE_RATE
from talkface.audio.extractor import check_input as _check_input
from talkface.audio.extractor import cover_frames as _cover_frames
from talkface.audio.windows import resample_to_frames

__all__ = ["HamaPhonemes"]

HAMA_STEP_RATE = 50.0  # output steps per second (as Whisper's encoder)
_STEP_SAMPLES = int(SAMPLE_RATE / HAMA_STEP_RATE)  # 320


_HAMA_HINT = "the 'hama' extractor needs the optional extra 'phonemes': pip install 'talkface[phonemes]' (hama==1.7.0)"


@dataclass
class HamaPhonemes:
    """Phone log-posteriors from hama's IPA phone recogniser (CTC, 50 Hz), per frame.

    191 classes (IPA phones, word boundary, blank; ``phones()`` lists them). The 50 Hz
    log-probabilities (step ``k`` taken as centred at ``0.02 k`` s) are mean-pooled per video
    frame (a geometric mean of the probabilities). CTC posteriors are peaky: most steps
    are dominated by the blank class, so these carry *which* phone and roughly *when*, not
    its exact extent.

    The recogniser truncates its output at 30 s and its cost grows faster than linearly
    with length (3 s: 0.35 s, 10 s: 1.5 s, 30 s: 11 s on 2 cores), so the audio is run in
    pieces: steps ``[k hop_s, (k+1) hop_s)`` come from a piece with ``context_s`` of real
    audio on either side (the posteriors barely depend on context beyond that).

    Attributes:
        hop_s: seconds of output kept per piece.
        context_s: extra audio on each side of a piece, seconds.
    """

    hop_s: float = 8.0
    context_s: float = 1.0
    _model: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if importlib.util.find_spec("hama") is None:
            raise ImportError(_HAMA_HINT)
        if self.hop_s < 0.1 or self.context_s < 0 or self.hop_s + 2 * self.context_s > 29.0:
            raise ValueError(f"need hop_s >= 0.1, context_s >= 0, hop_s + 2 context_s <= 29; got {self}")

    @property
    def name(self) -> str:
        """``"hama"``."""
        return "hama"

    @property
    def dim(self) -> int:
        """191."""
        return 191

    def _load(self) -> Any:
        if self._model is None:
            import hama

            self._model = hama.ASRModel()
        return self._model

    def phones(self) -> list[str]:
        """The ``dim`` class labels, in feature order."""
        return list(self._load().decoder_tokens)

    def log_posteriors(self, audio: np.ndarray) -> np.ndarray:
        """``(S, 191)`` float32 log-probabilities at 50 Hz, ``S ~ N / 320``."""
        audio = _check_input(audio, 0, 1.0)
        session = self._load().session
        (wave_name,) = [i.name for i in session.get_inputs() if i.name.startswith("waveform") and "len" not in i.name]
        (len_name,) = [i.name for i in session.get_inputs() if i.name.startswith("waveform_len")]
        steps = audio.shape[0] // _STEP_SAMPLES + 1  # the recogniser's own count
        hop = max(1, round(self.hop_s * HAMA_STEP_RATE))
        ctx = round(self.context_s * HAMA_STEP_RATE)
        out = np.empty((steps, self.dim), dtype=np.float32)
        for first in range(0, steps, hop):
            if stopping():  # the process is exiting (a background prefetch nobody will use)
                raise RuntimeError("the process is exiting")
            lo = max(0, first - ctx)  # piece start, in steps
            hi = min(steps, first + hop + ctx)
            wav = np.clip(audio[lo * _STEP_SAMPLES : hi * _STEP_SAMPLES], -1.0, 1.0)
            if wav.shape[0] < _STEP_SAMPLES:  # the recogniser needs a few STFT frames
                wav = np.pad(wav, (0, _STEP_SAMPLES - wav.shape[0]))
            log_probs, _ = session.run(
                ["log_probs", "out_lengths"],
                {wave_name: wav[None, :], len_name: np.array([wav.shape[0]], dtype=np.int64)},
            )
            keep = min(hop, steps - first)
            out[first : first + keep] = np.asarray(log_probs, dtype=np.float32)[0, first - lo : first - lo + keep]
        return out

    def __call__(self, audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
        """``(T, 191)`` float32 log-posteriors; see :class:`FeatureExtractor`."""
        audio = _cover_frames(_check_input(audio, num_frames, fps), num_frames, fps)
        return resample_to_frames(self.log_posteriors(audio), HAMA_STEP_RATE, num_frames, fps)
