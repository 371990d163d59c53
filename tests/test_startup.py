"""Start-up of `talkface animate` (issue 16): what was cut from the path to the first frame keeps the
same numbers — the HOG detector read from its cached copy, the one-pole filters instead of
scipy.signal, the shared/preloaded Whisper model and the speech features computed beside the face."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal

from talkface.audio.prefetch import PrefetchingExtractor
from talkface.io.images import read_image
from talkface.motion.onepole import filtfilt_one_pole, one_pole

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def test_cached_hog_detector_finds_the_same_face(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dlib

    from talkface.face.detect import _frontal_face_detector

    monkeypatch.setenv("TALKFACE_CACHE", str(tmp_path))
    image = read_image(EXAMPLES / "face.png")
    expected = dlib.get_frontal_face_detector().run(image, 1, 0.0)
    first = _frontal_face_detector()  # writes the copy
    (copy,) = tmp_path.glob("dlib-*-frontal_face_detector.svm")
    second = _frontal_face_detector()  # reads it
    for detector in (first, second):
        boxes, scores, _ = detector.run(image, 1, 0.0)
        assert [str(b) for b in boxes] == [str(b) for b in expected[0]] and scores == expected[1]
    copy.write_bytes(b"not a detector")  # a damaged copy is replaced, not an error
    assert _frontal_face_detector().run(image, 1, 0.0)[1] == expected[1]
    assert copy.stat().st_size > 1000


@pytest.mark.parametrize(("length", "frames"), [(11, 0.5), (75, 3.75), (400, 12.5), (3000, 50.0)])
def test_one_pole_filters_equal_scipy(length: int, frames: float) -> None:
    x = np.random.default_rng(length).standard_normal(length)
    a = float(np.exp(-1.0 / frames))
    pad = min(length - 1, int(3 * frames) + 1)
    np.testing.assert_array_equal(filtfilt_one_pole(x, a, pad), scipy.signal.filtfilt([1 - a], [1, -a], x, padlen=pad))
    np.testing.assert_array_equal(one_pole(one_pole(x, a), a),
                                  scipy.signal.lfilter([1 - a], [1, -a], scipy.signal.lfilter([1 - a], [1, -a], x)))


@pytest.mark.parametrize("seed", range(6))
def test_find_peaks_equals_scipy(seed: int) -> None:
    from talkface.motion.peaks import find_peaks

    rng = np.random.default_rng(seed)
    for x in (rng.standard_normal(500).cumsum(), np.round(rng.standard_normal(300) * 3),  # plateaus, ties
              np.where(rng.random(400) < 0.3, -60.0, np.convolve(rng.standard_normal(400) * 10, np.ones(12) / 12,
                                                                 mode="same"))):
        for prominence, distance in ((3.0, 8), (0.5, 1), (1.0, 3)):
            np.testing.assert_array_equal(find_peaks(x, prominence, distance),
                                          scipy.signal.find_peaks(x, prominence=prominence, distance=distance)[0])


class _Counting:
    name, dim = "counting", 2

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
        self.calls += 1
        if not np.isfinite(audio).all():
            raise ValueError("audio is not finite")
        return np.full((num_frames, 2), float(audio.sum()), np.float32)


def test_prefetching_extractor_returns_the_started_result_once() -> None:
    inner = _Counting()
    extractor = PrefetchingExtractor(inner)
    audio = np.ones(1600, np.float32)
    extractor.start(audio, 3, 25.0)
    np.testing.assert_array_equal(extractor(audio.copy(), 3, 25.0), inner(audio, 3, 25.0))
    assert inner.calls == 2  # the started job + the reference call above; the wrapper did not compute again
    assert extractor(audio, 4, 25.0).shape == (4, 2) and inner.calls == 3  # other arguments: computed now
    extractor.start(np.full(10, np.nan, np.float32), 1, 25.0)
    with pytest.raises(ValueError, match="not finite"):  # the job's error reaches the caller
        extractor(np.full(10, np.nan, np.float32), 1, 25.0)
    extractor.start(np.full(10, np.nan, np.float32), 1, 25.0)  # a job nobody asks for: its error is dropped
    assert extractor(audio, 1, 25.0).shape == (1, 2)


def test_animate_start_up_imports_neither_librosa_nor_scipy_signal() -> None:
    """The modules that cost most of a second each stay out of `animate` (default settings)."""
    code = (
        "import sys, tempfile, os; from talkface.pipeline import Animator, AnimateConfig;"
        f"r = Animator(AnimateConfig(threads=1)).animate({str(EXAMPLES / 'face.png')!r}, "
        f"{str(EXAMPLES / 'speech.wav')!r}, os.path.join(tempfile.mkdtemp(), 'o.mp4'));"
        "print(r.frames, sorted(m for m in ('librosa', 'numba', 'scipy.signal', 'lightning') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert out.stdout.split()[1:] == ["[]"], out.stdout + out.stderr


def test_cli_preload_matches_the_shipped_bundle() -> None:
    """`talkface animate` (no --model) starts loading whisper tiny.en before importing torch: it must be
    the shipped bundle's feature, and the model the Animator's extractor then uses (no second load)."""
    from talkface.audio.features import get_extractor, load_whisper_model, preload_whisper_model
    from talkface.pipeline import load_bundle

    name = load_bundle().lgan.config.feature_name
    assert name.split("+")[0] == "whisper-tiny.en"  # the shipped mix: whisper-tiny.en+hama
    preload_whisper_model("tiny.en")
    extractor = get_extractor(name)
    whisper = extractor.parts[0] if hasattr(extractor, "parts") else extractor
    assert whisper._load() is load_whisper_model("tiny.en")  # type: ignore[attr-defined]
