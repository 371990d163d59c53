"""talkface.audio.mel: the numpy STFT and mel filters give librosa's numbers exactly (Whisper's
log-mel is computed with them, so `talkface animate` does not import librosa)."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.signal

from talkface.audio.mel import hann_window, mel_filters, stft
from talkface.io.media import read_audio

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("length", [401, 12345, 16000 * 30])
def test_stft_equals_librosa(length: int) -> None:
    speech = read_audio(EXAMPLES / "speech.wav")
    x = np.resize(speech, length).astype(np.float32)
    expected = librosa.stft(x, n_fft=400, hop_length=160, window="hann", center=True, pad_mode="reflect")
    got = stft(x, 400, 160)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("n_fft", "n_mels"), [(400, 80), (512, 80), (400, 128)])
def test_mel_filters_equal_librosa(n_fft: int, n_mels: int) -> None:
    np.testing.assert_array_equal(mel_filters(16000, n_fft, n_mels), librosa.filters.mel(sr=16000, n_fft=n_fft,
                                                                                          n_mels=n_mels))
    np.testing.assert_array_equal(hann_window(n_fft), scipy.signal.get_window("hann", n_fft))


def test_whisper_log_mel_does_not_import_librosa() -> None:
    import subprocess
    import sys

    code = ("import sys, numpy as np; from talkface.audio.features import whisper_log_mel;"
            "m = whisper_log_mel(np.zeros(48000, np.float32)); print(m.shape, 'librosa' in sys.modules)")
    src = Path(__file__).resolve().parents[1] / "src"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert out.stdout.split() == ["(80,", "300)", "False"], out.stdout + out.stderr
