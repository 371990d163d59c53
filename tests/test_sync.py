"""Tests of the lip-sync scorer (talkface.eval.sync) and its bundled model on real GRID clips.

The bundled ``assets/syncnet.pt`` was trained on GRID speaker s1 without ``bbaf2n``; ``lbbc2a``
is another speaker (female) the model never saw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from talkface.eval.sync import (
    MAX_OFFSET,
    SyncClip,
    SyncNet,
    SyncNetConfig,
    SyncNetDataConfig,
    SyncScorer,
    default_syncnet_path,
    export_syncnet,
    load_syncnet,
    log_mel,
    mouth_crops,
    offset_search,
    opening_energy_offset,
    realign_clips,
    resample_to_sync_fps,
    shift_audio,
)
from talkface.face.landmarks import track_landmarks
from talkface.io.media import read_audio, read_video

FIXTURES = Path(__file__).parent / "fixtures"
SR = 16000


@pytest.fixture(scope="module")
def scorer() -> SyncScorer:
    return SyncScorer()


@pytest.fixture(scope="module", params=["lbbc2a", "bbaf2n"])
def real_clip(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    """(mouth crops (T, 48, 96) uint8, 16 kHz speech) of a real fixture clip."""
    path = FIXTURES / f"{request.param}.mpg"
    frames, fps = read_video(path)
    assert fps == pytest.approx(25.0)
    audio = read_audio(path, sample_rate=SR)
    mouths = mouth_crops(frames, track_landmarks(frames, fps=fps).landmarks)
    return mouths, audio


def test_offset_search_finds_a_known_shift() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(60, 16))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    a = np.roll(v, 4, axis=0)  # audio window t + 4 matches video window t: audio 4 frames late
    res = offset_search(v, a)
    assert res.offset == 4 and res.lse_d == pytest.approx(0.0, abs=1e-9)
    assert res.lse_c == pytest.approx(float(np.median(res.distances)))
    assert list(res.offsets) == list(range(-MAX_OFFSET, MAX_OFFSET + 1))
    assert res.num_windows == 60 - 2 * MAX_OFFSET
    short = offset_search(v[:11], a[:11])  # short clips search a smaller range
    assert short.offsets[-1] == 5
    with pytest.raises(ValueError):
        offset_search(v[:2], a[:2])


def test_shift_audio_and_frame_rate_resampling() -> None:
    a = np.arange(1, 3201, dtype=np.float32)
    late = shift_audio(a, 2, SR)  # 2 frames = 1280 samples
    assert late.shape == a.shape and not late[:1280].any() and late[1280] == 1.0
    early = shift_audio(a, -1, SR)
    assert early[0] == 641.0 and not early[-640:].any()
    half = shift_audio(a, -0.5, SR)  # fractional frames round to whole samples (realign_clips)
    assert half[0] == 321.0 and not half[-320:].any() and half[-321] != 0
    assert np.array_equal(resample_to_sync_fps(10, 25.0), np.arange(10))
    assert np.array_equal(resample_to_sync_fps(10, 50.0), [0, 2, 4, 6, 8])
    assert len(resample_to_sync_fps(30, 30.0)) == 25


def test_log_mel_frames_and_normalisation() -> None:
    rng = np.random.default_rng(1)
    audio = rng.normal(0, 0.1, SR).astype(np.float32) * np.hanning(SR).astype(np.float32)
    mel = log_mel(audio, SR)
    assert mel.shape == (101, 40) and mel.dtype == np.float32
    assert np.allclose(mel.mean(axis=0), 0.0, atol=1e-4) and np.allclose(mel.std(axis=0), 1.0, atol=1e-2)
    assert log_mel(np.repeat(audio, 2), 2 * SR).shape == (101, 40)  # resampled to 16 kHz


def test_syncnet_window_alignment_and_export_roundtrip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = SyncNet(SyncNetConfig()).eval()
    mouths = torch.randint(0, 255, (2, 12, 48, 96), dtype=torch.uint8)
    mel = torch.randn(2, 12 * 4 + 1, 40)
    v, a = net(mouths, mel)
    assert v.shape == (2, 8, 128) and a.shape == (2, 8, 128)
    assert torch.allclose(v.norm(dim=-1), torch.ones(2, 8), atol=1e-5)
    # video window t depends on frames t..t+4 only
    changed = mouths.clone()
    changed[:, 9] = 0
    v2, _ = net(changed, mel)
    assert torch.allclose(v[:, :5], v2[:, :5], atol=1e-6) and not torch.allclose(v[:, 5], v2[:, 5])
    path = export_syncnet(net, tmp_path / "s.pt", {"note": "test"})
    loaded = load_syncnet(path)
    v3, a3 = loaded(mouths, mel)
    assert torch.allclose(v, v3, atol=2e-2) and torch.allclose(a, a3, atol=2e-2)  # fp16 weights


def test_bundled_model_is_small_and_loads() -> None:
    path = default_syncnet_path()
    assert path.is_file() and path.stat().st_size < 5 * 2**20
    net = load_syncnet()
    assert not net.training and isinstance(net, SyncNet)


def test_real_clip_scores_offset_zero_and_finds_shifted_audio(
    real_clip: tuple[np.ndarray, np.ndarray], scorer: SyncScorer
) -> None:
    mouths, audio = real_clip
    real = scorer.score(mouths, audio, SR)
    assert real.offset == 0
    for k in (3, -4):
        assert scorer.score(mouths, shift_audio(audio, k, SR), SR).offset == k
    frozen = scorer.score(np.repeat(mouths[:1], len(mouths), axis=0), audio, SR)  # still baseline
    assert frozen.lse_c < 0.5 * real.lse_c
    assert real.lse_d < frozen.lse_d


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_training_step_runs_on_synthetic_clips() -> None:
    from talkface.eval.sync.data import _SyncItems
    from talkface.eval.sync.module import SyncNetModule

    rng = np.random.default_rng(0)
    clips = [
        SyncClip(f"s/{i}", rng.integers(0, 255, (50, 48, 96), dtype=np.uint8),
                 rng.normal(size=(201, 40)).astype(np.float16), np.zeros(32000, np.int16))
        for i in range(3)
    ]
    items = iter(_SyncItems(clips, SyncNetDataConfig(windows_per_item=4), seed=0))
    batch = [next(items) for _ in range(3)]
    mouths = torch.stack([b[0] for b in batch])
    mel = torch.stack([b[1] for b in batch])
    assert mouths.shape == (3, 8, 48, 96) and mel.shape == (3, (8 + 2 * MAX_OFFSET) * 4, 40)
    module = SyncNetModule(SyncNetConfig())
    loss = module.training_step((mouths, mel), 0)
    assert torch.isfinite(loss) and float(loss.detach()) > 0
    loss.backward()
    assert module.net.log_scale.grad is not None


def test_audio_context_keeps_windows_aligned_and_trains_on_real_context() -> None:
    from talkface.eval.sync.data import _SyncItems
    from talkface.eval.sync.module import SyncNetModule

    net = SyncNet(SyncNetConfig(audio_context=2)).eval()
    mel = torch.randn(1, 300, 40)
    with torch.no_grad():
        padded = net.embed_audio(mel)
        raw = net.embed_audio(mel, pad=False)
    assert padded.shape == (1, 300 // 4 - 4, 128)  # one row per video window, as without context
    assert raw.shape == (1, 300 // 4 - 4 - 2 * 2, 128)
    torch.testing.assert_close(padded[:, 2:-2], raw)  # away from the edges, padding changes nothing
    rng = np.random.default_rng(0)
    clips = [SyncClip("s/0", rng.integers(0, 255, (60, 48, 96), dtype=np.uint8),
                      rng.normal(size=(241, 40)).astype(np.float16), np.zeros(1, np.int16))]
    mouths, item_mel = next(iter(_SyncItems(clips, SyncNetDataConfig(windows_per_item=4), 0, audio_context=2)))
    assert mouths.shape == (8, 48, 96) and item_mel.shape == ((4 + 4 + 2 * MAX_OFFSET + 2 * 2) * 4, 40)
    module = SyncNetModule(SyncNetConfig(audio_context=2))
    loss = module.training_step((mouths[None].repeat(2, 1, 1, 1), item_mel[None].repeat(2, 1, 1)), 0)
    assert torch.isfinite(loss)


def test_realign_clips_advances_late_speech_and_keeps_outliers() -> None:
    """realign_clips removes the scorer's sub-frame offset from each clip (a stand-in scorer
    reports the offsets, the unit under test is the shifting)."""
    from types import SimpleNamespace

    audio = (np.sin(np.arange(SR, dtype=np.float32) / 7.0) * 0.5).astype(np.float32)
    pcm = np.round(audio * 32767.0).astype(np.int16)
    mouths = np.zeros((25, 48, 96), np.uint8)
    clips = [SyncClip(f"s/{i}", mouths, log_mel(audio).astype(np.float16), pcm) for i in range(2)]
    offsets = iter([0.5, 4.0])  # 0.5 frame late -> advanced by 320 samples; 4 > max_shift -> untouched
    scorer = SimpleNamespace(score=lambda *a, **k: SimpleNamespace(subframe_offset=next(offsets)))
    moved, kept = realign_clips(clips, scorer, max_shift=3.0)  # type: ignore[arg-type]
    assert np.array_equal(moved.audio[:-320], pcm[320:]) and not moved.audio[-320:].any()
    assert moved.mouths is mouths and moved.mel.shape == clips[0].mel.shape
    assert kept is clips[1]


def test_opening_energy_offset_finds_known_delays() -> None:
    """Synthetic: speech energy that follows a mouth-opening curve k frames later is found at +k."""
    rng = np.random.default_rng(0)
    fps, frames = 25.0, 100
    opening = np.convolve((rng.random(frames) > 0.7).astype(float), np.hanning(5), "same")
    t = np.arange(int(frames / fps * SR)) / SR
    for k in (-2.0, 0.0, 1.5, 3.0):
        envelope = np.interp(t - k / fps, np.arange(frames) / fps, opening, left=0, right=0)
        audio = (0.01 + envelope) * rng.normal(0, 0.3, t.shape)
        offset, peak = opening_energy_offset(opening, audio, SR, fps)
        assert offset == pytest.approx(k, abs=0.25) and peak > 0.6
    with pytest.raises(ValueError):
        opening_energy_offset(opening[:1], audio, SR, fps)


def test_opening_energy_offset_on_real_clips_is_near_zero() -> None:
    """Real GRID recordings come out roughly in sync (one clip's value is only good to about a frame)."""
    from talkface.eval.motion_metrics import mouth_opening

    for name in ("lbbc2a", "bbaf2n"):
        path = FIXTURES / f"{name}.mpg"
        frames, fps = read_video(path)
        opening = mouth_opening(track_landmarks(frames, fps=fps).landmarks)
        offset, peak = opening_energy_offset(opening, read_audio(path, sample_rate=SR), SR, fps)
        assert abs(offset) < 1.5 and peak > 0.4, (name, offset, peak)


def test_training_checkpoint_naming_the_old_module_still_loads(tmp_path: Path) -> None:
    """Checkpoints written before ``talkface.eval.sync`` became a package name the class
    ``talkface.eval.sync:SyncNetModule``; :func:`load_module` still rebuilds them."""
    from dataclasses import asdict

    from talkface.eval.sync.module import SyncNetModule
    from talkface.io.checkpoint import MODULE_CLASS_KEY
    from talkface.train.core import load_module

    config = SyncNetConfig(audio_context=1)
    module = SyncNetModule(config)
    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": {"config": asdict(config)},
                MODULE_CLASS_KEY: "talkface.eval.sync:SyncNetModule"}, path)
    loaded = load_module(path)
    assert isinstance(loaded, SyncNetModule) and loaded.net.config.audio_context == 1
    for key, value in module.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
