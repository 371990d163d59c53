"""Head/brow motion prior (talkface.motion.head): geometry, determinism, stationarity, speech coupling, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from talkface.face.align import Similarity, canonical_face
from talkface.motion.head import (
    HeadMotion,
    HeadMotionConfig,
    apply_head_motion,
    calm_weight,
    estimate_pose,
    generate_head_motion,
    loudness_envelope,
    motion_energy_correlation,
    speaking_rate,
)

FPS = 25.0
SR = 16000


def _speech_like(seconds: float, seed: int = 0, pause_every: float = 0.0) -> np.ndarray:
    """Noise in syllable-sized bursts (4/s) with random loudness; silent pauses every ``pause_every`` s."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    syll = np.maximum(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0) ** 2
    loud = np.repeat(rng.uniform(0.2, 1.0, int(seconds * 4) + 1), SR // 4)[:n]
    audio = 0.2 * rng.standard_normal(n) * syll * loud
    if pause_every:
        audio *= (np.floor(t / pause_every) % 2 == 0)
    return audio.astype(np.float32)


def _syllables(seconds: float, rate: float, seed: int = 0, pause_every: float = 0.0) -> np.ndarray:
    """Continuous noise speech with ``rate`` loudness bursts (syllables) per second; pauses every ``pause_every`` s."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    syll = 0.05 + np.sin(np.pi * rate * t) ** 2
    loud = np.repeat(rng.uniform(0.3, 1.0, int(seconds * rate) + 2), int(SR / rate))[:n]
    audio = 0.2 * rng.standard_normal(n) * syll * loud
    if pause_every:
        audio *= (np.floor(t / pause_every) % 2 == 0)
    return audio.astype(np.float32)


def test_pose_round_trip_and_still_is_identity() -> None:
    person = Similarity.from_params(70.0, 0.2, (320.0, 240.0)).apply(canonical_face())
    frames = 120
    motion = generate_head_motion(_speech_like(frames / FPS), frames, FPS, seed=4)
    track = np.repeat(person[None], frames, 0)
    moved = apply_head_motion(track, person, canonical_face(), motion)
    est = estimate_pose(moved)
    for k in range(3):  # the estimator reads back the applied angles (up to a constant)
        err = (est[:, k] - est[:, k].mean()) - (motion.pose[:, k] - motion.pose[:, k].mean())
        assert np.abs(err).max() < 0.05, k
    assert motion.pose[:, :3].std(0).min() > 0.3  # not vacuous: the head moves by degrees
    still = apply_head_motion(track, person, canonical_face(), HeadMotion.still(frames))
    np.testing.assert_allclose(still, track, atol=1e-3)
    assert (motion.brow >= 0).all()


def test_prior_is_seeded_and_scales_with_strength() -> None:
    audio = _speech_like(8.0)
    a = generate_head_motion(audio, 200, FPS, seed=1)
    b = generate_head_motion(audio, 200, FPS, seed=1)
    c = generate_head_motion(audio, 200, FPS, seed=2)
    np.testing.assert_array_equal(a.pose, b.pose)
    np.testing.assert_array_equal(a.brow, b.brow)
    assert np.abs(a.pose - c.pose).max() > 1.0
    half = generate_head_motion(audio, 200, FPS, seed=1, strength=0.5)
    np.testing.assert_allclose(half.pose, 0.5 * a.pose)
    zero = generate_head_motion(audio, 200, FPS, seed=1, strength=0.0)
    assert not zero.pose.any() and not zero.brow.any()
    with pytest.raises(ValueError, match="head_motion"):
        generate_head_motion(audio, 200, FPS, strength=-1.0)


@pytest.mark.parametrize("rate", [3.0, 6.0])  # lively and calm (read-out) speech
def test_no_drift_over_ten_minutes(rate: float) -> None:
    audio = _syllables(600.0, rate, seed=3, pause_every=7.0)
    frames = int(600 * FPS)
    motion = generate_head_motion(audio, frames, FPS, seed=0)
    minute = int(60 * FPS)
    first, last, whole = motion.pose[:minute], motion.pose[-minute:], motion.pose
    ratio = last.std(0) / first.std(0)
    assert ((ratio > 0.6) & (ratio < 1.6)).all(), ratio
    assert (np.abs(whole.mean(0)) < 0.25 * whole.std(0)).all()  # mean-reverting around the photo's pose
    # bounded: the soft limit keeps every axis within a few standard deviations
    assert (np.abs(whole).max(0) < 3.5 * whole.std(0)).all()


def test_head_motion_energy_follows_speech_energy() -> None:
    audio = _speech_like(120.0, seed=5, pause_every=4.0)
    frames = int(120 * FPS)
    env = loudness_envelope(audio, frames, FPS)
    assert env[: int(3.5 * FPS)].mean() > 0.25 > 0.05 > env[int(4.5 * FPS): int(7.5 * FPS)].mean()
    r = [motion_energy_correlation(generate_head_motion(audio, frames, FPS, seed=s).pose, audio, FPS)
         for s in range(3)]
    assert min(r) > 0.2, r


def test_fast_read_out_speech_gets_a_calmer_head() -> None:
    """The prior's amplitude follows the speaking rate: slow, spontaneous speech moves the head by
    ``std``, fast read-out speech (GRID's commands) by ``calm_std``; no speech counts as lively."""
    slow, fast = _syllables(20.0, 3.0), _syllables(20.0, 6.0)
    assert abs(speaking_rate(slow) - 3.0) < 0.3 and abs(speaking_rate(fast) - 6.0) < 0.5
    assert calm_weight(speaking_rate(slow)) < 0.05 < 0.95 < calm_weight(speaking_rate(fast))
    assert speaking_rate(np.zeros(3 * SR, np.float32)) == 0.0 and calm_weight(0.0) == 0.0
    cfg = HeadMotionConfig()
    assert cfg.calm_std is not None
    expected = np.asarray(cfg.calm_std) / np.asarray(cfg.std)
    for config, want in ((cfg, expected), (HeadMotionConfig(calm_std=None), np.ones(6))):
        std_slow = np.mean([generate_head_motion(slow, 500, FPS, seed=s, config=config).pose.std(0)
                            for s in range(4)], axis=0)
        std_fast = np.mean([generate_head_motion(fast, 500, FPS, seed=s, config=config).pose.std(0)
                            for s in range(4)], axis=0)
        ratio = std_fast / std_slow
        assert ((ratio > 0.7 * want) & (ratio < 1.4 * want)).all(), (ratio, want)
    assert expected.max() < 0.5  # not vacuous: calm is at least twice as calm on every axis


@pytest.fixture(scope="module")
def still_png(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Path:
    from talkface.io.images import write_image
    from talkface.io.media import read_video

    frames, _ = read_video(fixtures_dir / "lbbc2a.mpg", max_frames=1)
    path = tmp_path_factory.mktemp("still") / "still.png"
    write_image(path, frames[0])
    return path


def test_predict_landmarks_head_motion_zero_is_today(still_png: Path, fixtures_dir: Path) -> None:
    """head_motion=0 gives exactly the landmarks without head motion; 1 moves the head, not the mouth."""
    from talkface.eval.motion_metrics import mouth_opening
    from talkface.io.images import read_image
    from talkface.io.media import read_audio
    from talkface.models import load_lgan_net as load_lgan
    from talkface.motion.blink import load_blink
    from talkface.motion.render import predict_canonical_landmarks, predict_landmarks
    from talkface.motion.retarget import close_mouth, mouth_is_open, retarget
    from talkface.pipeline import DEFAULT_MODEL

    lgan, blink = load_lgan(DEFAULT_MODEL / "lgan.pt"), load_blink(DEFAULT_MODEL / "blink.pt")
    image = read_image(still_png)
    audio = read_audio(fixtures_dir / "bbaf2n.mpg")
    from talkface.face.landmarks import landmarks_for_image

    person = landmarks_for_image(image, still_png)
    # what predict_landmarks did before head motion (an open mouth closed to the model's rest gap since the
    # centred mouth request, docs/motion.md section 6)
    rest_gap = float(mouth_opening(lgan.canonical_neutral.numpy()))
    neutral = close_mouth(person, keep_gap=rest_gap) if mouth_is_open(person) else person
    from talkface.motion.lids import apply_closure, blink_closure, open_eye_level

    canonical = predict_canonical_landmarks(audio, lgan, blink, seed=3)
    today = apply_closure(retarget(canonical, lgan.canonical_neutral.numpy(), neutral), neutral,
                          blink_closure(canonical, open_eye_level(blink)))  # + blink depth on the photo's eyes
    still = predict_landmarks(image, audio, lgan, blink, seed=3, person_landmarks=person, head_motion=0.0)
    np.testing.assert_array_equal(still, today)
    moving = predict_landmarks(image, audio, lgan, blink, seed=3, person_landmarks=person, head_motion=1.0)
    assert moving.shape == still.shape and moving.dtype == np.float32
    assert np.abs(moving - still).max() > 2.0  # pixels: the head moves
    np.testing.assert_array_equal(moving, predict_landmarks(image, audio, lgan, blink, seed=3,
                                                            person_landmarks=person, head_motion=1.0))
    # the mouth opening (relative to the eye distance) is the same with and without head motion
    assert np.abs(mouth_opening(moving) - mouth_opening(still)).max() < 0.03


def test_landmarks_cli_uses_the_default_model(still_png: Path, fixtures_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from talkface.cli import main
    from talkface.io.media import probe

    out = tmp_path / "lm.mp4"
    assert main(["landmarks", str(still_png), str(fixtures_dir / "bbaf2n.mpg"), "-o", str(out), "--threads", "1",
                 "--head-motion", "1.5", "--on-photo", "--strip", str(tmp_path / "strip.png")]) == 0
    from PIL import Image

    strip = Image.open(tmp_path / "strip.png")  # 15 columns of predicted above real (the video's speaker)
    assert strip.size == (15 * 112, 16 + 2 * 112)
    info = probe(out)
    assert info.has_audio and info.num_frames is not None and abs(info.num_frames - 75) <= 1
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:  # argparse: usage + one line
        main(["landmarks", str(still_png), str(fixtures_dir / "bbaf2n.mpg"), "-o", str(tmp_path / "x.mp4"),
              "--head-motion", "-1"])
    assert exc.value.code == 2
    assert "head-motion" in capsys.readouterr().err and not (tmp_path / "x.mp4").exists()


def test_amplitude_gain_brings_a_damped_mouth_to_real_variability() -> None:
    from talkface.eval.motion_metrics import mouth_opening
    from talkface.motion.amplitude import MAX_GAIN, TARGET_OPENING_STD, amplitude_gain

    face = canonical_face()
    t = np.arange(100)
    lively = np.repeat(face[None], 100, 0)
    lively[:, [56, 57, 58, 65, 66, 67], 1] += (0.1 + 0.1 * np.sin(t / 3.0))[:, None]
    std = float(mouth_opening(lively).std())
    damped = face + 0.4 * (lively - face)
    g = amplitude_gain(damped, target_std=std)
    assert g == pytest.approx(2.5, rel=0.02)
    assert float(mouth_opening(face + g * (damped - face)).std()) == pytest.approx(std, rel=0.03)
    assert amplitude_gain(lively, target_std=0.5 * std) == 1.0  # never made smaller
    assert amplitude_gain(face + 0.01 * (lively - face)) == MAX_GAIN  # near silence: capped
    assert amplitude_gain(np.repeat(face[None], 10, 0)) == 1.0 and 0.03 < TARGET_OPENING_STD < 0.07


@pytest.fixture(scope="module")
def grid_dataset(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Path:
    """A prepared folder with one real clip (lbbc2a: tracked landmarks, speech; no crops)."""
    import json

    from talkface.data.dataset import FORMAT_NAME, FORMAT_VERSION, Clip, save_clip
    from talkface.face.align import align_to_canonical
    from talkface.face.eyes import eye_aspect_ratio
    from talkface.face.landmarks import track_landmarks
    from talkface.io.media import read_audio, read_video

    frames, fps = read_video(fixtures_dir / "lbbc2a.mpg")
    audio = read_audio(fixtures_dir / "lbbc2a.mpg", sample_rate=SR)[: int(len(frames) / fps * SR)]
    lm = track_landmarks(frames).landmarks.astype(np.float32)
    root = tmp_path_factory.mktemp("live") / "ds"
    (root / "clips" / "lbbc2a").mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION, "fps": fps,
                                                   "crop_size": 128, "feature": {"name": "mfcc", "dim": 1}}))
    n = len(frames)
    save_clip(root / "clips" / "lbbc2a" / "lbbc2a.npz", Clip(
        clip_id="lbbc2a/lbbc2a", speaker="lbbc2a", fps=fps, landmarks=lm, crop_landmarks=lm,
        crop_affine=np.tile(np.eye(2, 3, dtype=np.float32), (n, 1, 1)), canonical=align_to_canonical(lm),
        detected=np.ones(n, bool), neutral_index=0, ear=eye_aspect_ratio(lm), features=np.zeros((n, 1)),
        audio=audio, sample_rate=SR))
    return root


def test_liveliness_metrics_on_a_real_clip(grid_dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from talkface.cli import main
    from talkface.eval.liveliness import evaluate_liveliness, summarise
    from talkface.models import load_lgan_net as load_lgan
    from talkface.pipeline import DEFAULT_MODEL

    lgan = load_lgan(DEFAULT_MODEL / "lgan.pt")
    still = summarise(evaluate_liveliness([str(grid_dataset)], lgan, head_motion=0.0))
    moving = summarise(evaluate_liveliness([str(grid_dataset)], lgan, head_motion=1.0))
    raw = summarise(evaluate_liveliness([str(grid_dataset)], lgan, head_motion=0.0, normalise_mouth=False))
    assert still.num_clips == 1 and still.opening_corr > 0.6 and 0.5 < still.opening_std_ratio < 1.5
    assert still.opening_std_ratio >= raw.opening_std_ratio  # the normalisation never shrinks the mouth
    assert still.av_within_1 == 1.0  # the predicted mouth follows the speech without offset
    # a GRID speaker reads a command holding still: the prior, coupled to the speaking style, moves the
    # head about as much as they did (the uncoupled prior: 2-10x), a still head less
    assert (still.pose_std_ratio[:3] < 1.0).all() and (moving.pose_std_ratio[:3] < 3.0).all()
    assert moving.pose_std_ratio[:3].mean() > 1.5 * still.pose_std_ratio[:3].mean()
    assert main(["evaluate-motion", str(grid_dataset), "--split", "all", "--liveliness", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "opening std ratio (generated/real)" in out and "head: pose std ratio" in out and "within +-1" in out


def test_silence_is_not_amplified() -> None:
    from talkface.models import load_lgan_net as load_lgan
    from talkface.motion.amplitude import has_speech
    from talkface.motion.render import predict_canonical_landmarks
    from talkface.pipeline import DEFAULT_MODEL

    lgan = load_lgan(DEFAULT_MODEL / "lgan.pt")
    silence = np.zeros(SR, np.float32)
    np.testing.assert_array_equal(predict_canonical_landmarks(silence, lgan),
                                  predict_canonical_landmarks(silence, lgan, normalise_mouth=False))
    assert not has_speech(np.zeros(25)) and has_speech(np.full(25, 0.05))
