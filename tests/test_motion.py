"""Motion stage: losses, PCA init, retargeting, MMD, data modules, tiny l-GAN / blink training, metrics, render."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from talkface.data.dataset import Clip, PreparedDataset, save_clip
from talkface.eval.motion_metrics import (
    blink_statistics,
    crop_aligned,
    landmark_distance,
    mouth_opening,
    mouth_opening_correlation,
)
from talkface.face.align import Similarity, align_to_canonical, canonical_face, mean_face
from talkface.face.eyes import eye_aspect_ratio
from talkface.motion.blink import EYE_POINTS, BlinkConfig, load_blink, min_max_loss, mmd_loss, train_blink
from talkface.motion.data import BlinkDataConfig, LGANDataModule, MotionDataConfig
from talkface.motion.lgan import (
    SPEECH_POINTS,
    LGANConfig,
    adversarial_d_loss,
    adversarial_g_loss,
    direction_loss,
    distance_loss,
    load_lgan,
    motion_direction,
    temporal_consistency_loss,
    temporal_regularisation_loss,
    train_lgan,
)
from talkface.motion.pca import fit_pca, init_decoder, init_encoder
from talkface.motion.render import (
    plot_mouth_vs_energy,
    predict_canonical_landmarks,
    predict_landmarks,
    render_landmark_video,
)
from talkface.motion.retarget import retarget, to_canonical
from talkface.train.core import TrainConfig

FPS = 25
DIM = 39  # the "mfcc" extractor's size, so render can run the real extractor on the tiny models
LOWER_MOUTH = (5, 6, 7, 8, 9, 10, 11, 55, 56, 57, 58, 59, 65, 66, 67)
UPPER_LIDS = (37, 38, 43, 44)


# ----------------------------------------------------------------------------------------------
# A tiny synthetic prepared dataset: mouth opening driven by feature 0, random blinks, head motion
# ----------------------------------------------------------------------------------------------


def _synthetic_clip(rng: np.random.Generator, speaker: str, name: str, person: Similarity, stretch: np.ndarray,
                    num_frames: int) -> Clip:
    face = canonical_face().astype(np.float64) * stretch
    raw = np.cumsum(rng.normal(size=(num_frames, DIM)), axis=0) * 0.4
    raw -= raw.mean(0)
    features = np.tanh(raw).astype(np.float32)
    opening = 1.0 / (1.0 + np.exp(-4.0 * features[:, 0]))  # (T,) in (0, 1), set by the frame's own feature
    seq = np.repeat(face[None], num_frames, axis=0)
    seq[:, list(LOWER_MOUTH), 1] += 0.35 * opening[:, None]
    start = int(rng.integers(5, num_frames - 10))
    for k, depth in enumerate((0.5, 1.0, 1.0, 0.5)):
        seq[start + k, list(UPPER_LIDS), 1] += 0.09 * depth
    # head motion: small rotation / translation / scale per frame, then the person's placement
    angle = 0.05 * np.sin(np.arange(num_frames) / 7.0)
    shift = rng.normal(scale=0.02, size=(num_frames, 2))
    for t in range(num_frames):
        seq[t] = Similarity.from_params(1.0 + 0.02 * np.sin(t / 5.0), angle[t], shift[t]).apply(seq[t])
    landmarks = person.apply(seq).astype(np.float32)
    closed = np.where(np.isin(np.arange(num_frames), range(start, start + 4)), np.inf, opening)
    return Clip(
        clip_id=f"{speaker}/{name}",
        speaker=speaker,
        fps=FPS,
        landmarks=landmarks,
        crop_landmarks=landmarks,
        crop_affine=np.tile(np.eye(2, 3, dtype=np.float32), (num_frames, 1, 1)),
        canonical=align_to_canonical(landmarks),
        detected=np.ones(num_frames, bool),
        neutral_index=int(np.argmin(closed)),
        ear=eye_aspect_ratio(landmarks),
        features=features,
        audio=np.zeros(int(num_frames / FPS * 16000), np.float32),
        sample_rate=16000,
    )


def make_synthetic_dataset(root: Path, speakers: int = 3, clips: int = 8, num_frames: int = 50, seed: int = 0) -> Path:
    """Write a tiny PreparedDataset (the last speaker is val and test)."""
    rng = np.random.default_rng(seed)
    ids: dict[str, list[str]] = {}
    neutrals = []
    for s in range(speakers):
        spk = f"spk{s}"
        person = Similarity.from_params(40.0 + 10 * s, 0.1 * (s - 1), (160.0 + 5 * s, 140.0))
        stretch = np.array([1.0 + 0.08 * s, 1.0 - 0.05 * s])
        for c in range(clips):
            clip = _synthetic_clip(rng, spk, f"u{c:02d}", person, stretch, num_frames)
            (root / "clips" / spk).mkdir(parents=True, exist_ok=True)
            save_clip(root / "clips" / f"{clip.clip_id}.npz", clip)
            ids.setdefault(spk, []).append(clip.clip_id)
            neutrals.append(clip.landmarks[clip.neutral_index])
    meta = {"format": "talkface-dataset", "version": 1, "fps": FPS, "crop_size": 128,
            "feature": {"name": "mfcc", "dim": DIM}}
    (root / "dataset.json").write_text(json.dumps(meta))
    last = f"spk{speakers - 1}"
    train = sorted(c for s, v in ids.items() if s != last for c in v)
    (root / "splits.json").write_text(json.dumps({"train": train, "val": ids[last], "test": ids[last]}))
    np.save(root / "mean_face.npy", mean_face(np.stack(neutrals)))
    return root


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Tiny models on shared cores: more threads only add contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("prepared"))


def _train_config(steps: int) -> TrainConfig:
    return TrainConfig(max_steps=steps, batch_size=16, lr=2e-3, accelerator="cpu", devices=1, log_every_n_steps=1,
                       checkpoint_every_n_steps=10_000, progress_bar=False, num_threads=1)


TINY_LGAN = LGANConfig(encoder_channels=(32, 32), hidden_dim=32, discriminator_hidden=32)


@pytest.fixture(scope="module")
def trained_lgan(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lgan")
    data = MotionDataConfig(roots=(str(synthetic_root),), sequence_length=8, stride=2)
    return train_lgan(out, data, _train_config(120), TINY_LGAN)


@pytest.fixture(scope="module")
def trained_blink(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("blink")
    cfg = BlinkConfig(hidden_dim=16, num_layers=1, sequence_length=40, burn_in=5, calibration_scales=(0.5, 1.0, 2.0),
                      calibration_sequences=20, calibration_seconds=4.0)
    return train_blink(out, BlinkDataConfig(roots=(str(synthetic_root),), stride=5), _train_config(20), cfg)


def _metric(out: Path, name: str) -> np.ndarray:
    with open(out / "metrics.csv") as fh:
        return np.array([float(r[name]) for r in csv.DictReader(fh) if r.get(name)])


# ----------------------------------------------------------------------------------------------
# Losses of eq. 1-4
# ----------------------------------------------------------------------------------------------


def test_distance_and_temporal_losses_known_values() -> None:
    target = torch.zeros(1, 3, 2, 2)
    pred = target.clone()
    pred[0, :, 0] = torch.tensor([3.0, 4.0])  # point 0 off by a 3-4-5 vector in every frame
    assert distance_loss(pred, target).item() == pytest.approx(25.0 / 2)  # mean over 2 points
    seq = torch.zeros(1, 3, 1, 2)
    seq[0, 1, 0, 0] = 1.0  # x: 0 -> 1 -> 0
    assert temporal_regularisation_loss(seq).item() == pytest.approx(1.0)  # (1 + 1) / 2 pairs
    assert temporal_consistency_loss(seq, seq).item() == 0.0
    assert temporal_consistency_loss(seq, torch.zeros_like(seq)).item() == pytest.approx(1.0)
    shifted = seq + 5.0  # a constant offset has the same frame-to-frame motion
    assert temporal_consistency_loss(shifted, seq).item() == 0.0


def test_direction_loss() -> None:
    up = torch.tensor([0.0, 1.0, 2.0]).view(1, 3, 1, 1).expand(1, 3, 1, 2).contiguous()
    down = -up
    assert motion_direction(up).tolist() == [[[[1.0, 1.0]], [[1.0, 1.0]]]]
    assert motion_direction(down).sum().item() == 0.0
    # hard indicator: every coordinate disagrees -> 1 per coordinate, 2 per point
    assert direction_loss(up, down, 0.0).item() == pytest.approx(2.0)
    assert direction_loss(up, up, 0.1).item() == 0.0
    soft = direction_loss(up, down, 0.1).item()
    assert 1.9 < soft < 2.0  # sigmoid(10) - sigmoid(-10) is nearly 1
    # differentiable: the gradient pushes the prediction's motion towards the truth's direction
    pred = down.clone().requires_grad_(True)
    direction_loss(pred, up, 1.0).backward()
    assert pred.grad is not None and pred.grad[0, 2].sum() < 0 < pred.grad[0, 0].sum()


def test_adversarial_losses() -> None:
    zeros = torch.zeros(5)
    assert adversarial_d_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    assert adversarial_g_loss(zeros).item() == pytest.approx(math.log(2))
    assert adversarial_d_loss(torch.full((3,), 20.0), torch.full((3,), -20.0)).item() < 1e-6
    assert adversarial_g_loss(torch.full((3,), 20.0)).item() < 1e-6


# ----------------------------------------------------------------------------------------------
# PCA initialisation
# ----------------------------------------------------------------------------------------------


def test_pca_init_reproduces_data_subspace() -> None:
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.normal(size=(20, 3)))[0].T  # 3 orthonormal directions in R^20
    codes = rng.normal(size=(500, 3)) * np.array([3.0, 1.0, 0.6])
    mean = rng.normal(size=20)
    data = codes @ basis + mean + rng.normal(scale=1e-4, size=(500, 20))
    pca = fit_pca(data, variance=0.99, max_components=10)
    assert pca.num_components == 3
    projector = pca.components.T @ pca.components
    np.testing.assert_allclose(basis @ projector, basis, atol=1e-3)  # same subspace
    assert fit_pca(data, variance=0.999999, max_components=2).num_components == 2  # cap
    decoder, encoder = torch.nn.Linear(8, 20), torch.nn.Linear(20, 8)
    for whiten in (False, True):
        init_decoder(decoder, pca, whiten=whiten)
        init_encoder(encoder, pca, whiten=whiten)
        x = torch.as_tensor(data, dtype=torch.float32)
        with torch.no_grad():
            code = encoder(x)
            recon = decoder(code)
        np.testing.assert_allclose(recon.numpy(), data, atol=2e-3)
        assert torch.all(code[:, 3:] == 0)  # unused code dimensions are inert
        if whiten:
            np.testing.assert_allclose(code[:, :3].std(0).numpy(), 1.0, rtol=0.05)


# ----------------------------------------------------------------------------------------------
# Retargeting (eq. 7)
# ----------------------------------------------------------------------------------------------


def test_retarget_round_trip_and_neutral() -> None:
    rng = np.random.default_rng(2)
    canon = canonical_face()
    person = Similarity.from_params(85.0, 0.3, (250.0, 310.0)).apply(canon * np.array([1.1, 0.9])).astype(np.float32)
    person_seq = person + rng.normal(scale=3.0, size=(40, 68, 2)).astype(np.float32)
    canonical = to_canonical(person_seq, person, canon)
    back = retarget(canonical, canon, person)
    assert np.abs(back - person_seq).max() < 1e-4
    np.testing.assert_allclose(retarget(canon, canon, person), person, atol=1e-4)
    np.testing.assert_allclose(to_canonical(person, person, canon), canon, atol=1e-6)
    # motion is rotated and scaled with the face: an opening jaw (+y in canonical) moves along the
    # person's own "down" axis, by the Procrustes scale times the height ratio
    moved = canon.copy()
    moved[8, 1] += 0.1
    delta = retarget(moved, canon, person)[8] - person[8]
    down = np.array([-math.sin(0.3), math.cos(0.3)])
    assert abs(float(np.dot(delta, down)) - np.linalg.norm(delta)) < 1e-3
    assert 0.1 * 85 * 0.8 < np.linalg.norm(delta) < 0.1 * 85 * 1.0


# ----------------------------------------------------------------------------------------------
# Blink losses
# ----------------------------------------------------------------------------------------------


def test_close_mouth_lifts_the_lower_lip_and_jaw() -> None:
    from talkface.eval.motion_metrics import mouth_opening
    from talkface.motion.retarget import close_mouth

    face = Similarity.from_params(60.0, 0.2, (100.0, 100.0)).apply(canonical_face()).astype(np.float64)
    down = np.array([-np.sin(0.2), np.cos(0.2)]) * 12.0  # "down" in the rotated face, pixels
    open_face = face.copy()
    open_face[[65, 66, 67, 55, 56, 57, 58, 59]] += down
    open_face[[6, 7, 8, 9, 10]] += 0.5 * down
    assert mouth_opening(open_face) > 0.15
    closed = close_mouth(open_face)
    assert closed.dtype == np.float32 and mouth_opening(closed) < mouth_opening(face) + 0.01
    unmoved = [i for i in range(68) if i not in (5, 6, 7, 8, 9, 10, 11, 55, 56, 57, 58, 59, 65, 66, 67)]
    np.testing.assert_allclose(closed[unmoved], open_face[unmoved], atol=1e-4)  # upper lip, corners, eyes
    gap = (open_face[[61, 62, 63]] - open_face[[67, 66, 65]]).mean(axis=0)
    np.testing.assert_allclose(closed[66] - open_face[66], gap, atol=1e-4)  # the lower lip meets the upper
    np.testing.assert_allclose(closed[8] - open_face[8], 0.6 * gap, atol=1e-4)  # the chin follows part-way
    with pytest.raises(ValueError):
        close_mouth(face[:60])


def test_mmd_zero_for_identical_and_grows_with_shift() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 10, generator=gen)
    bw = torch.tensor([0.5, 1.0, 4.0, 16.0])
    assert mmd_loss(x, x, bw).abs().item() < 1e-6
    values = [mmd_loss(x, x + shift, bw).item() for shift in (0.1, 0.5, 1.0, 2.0)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False)) and values[0] > 0
    y = torch.randn(64, 10, generator=gen)  # another sample of the same distribution: small
    assert mmd_loss(x, y, bw).item() < values[1]


def test_min_max_loss() -> None:
    seq = torch.tensor([[[0.0], [1.0], [-2.0]]])  # one sequence, max 1, min -2
    assert min_max_loss(seq, torch.tensor([1.0]), torch.tensor([-2.0])).item() == 0.0
    assert min_max_loss(seq, torch.tensor([2.0]), torch.tensor([-2.0])).item() == pytest.approx(1.0)


# ----------------------------------------------------------------------------------------------
# Data and training on the synthetic dataset
# ----------------------------------------------------------------------------------------------


def test_lgan_datamodule_ground_truth(synthetic_root: Path) -> None:
    dm = LGANDataModule(MotionDataConfig(roots=(str(synthetic_root),), sequence_length=8, stride=4, window=6))
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["windows"].shape == (32, 8, 6, DIM) and batch["landmarks"].shape == (32, 8, 68, 2)
    # ground truth: each clip's neutral frame is exactly the common canonical neutral face
    ds = PreparedDataset(synthetic_root)
    clip = next(ds.clips("train"))
    assert dm.train_clips is not None
    gt = dm.train_clips[0].landmarks
    np.testing.assert_allclose(gt[clip.neutral_index], dm.canonical_neutral, atol=1e-5)
    # head motion is gone: jaw drop follows feature 0 (the synthetic mouth driver) closely
    drop = gt[:, 8, 1] - dm.canonical_neutral[8, 1]
    assert np.corrcoef(drop, np.tanh(clip.features[:, 0] * 4))[0, 1] > 0.95
    stats = dm.statistics()
    assert 1 <= stats.pca.num_components <= 33 and stats.pca.components.shape[1] == 2 * len(SPEECH_POINTS)
    assert len(SPEECH_POINTS) + len(EYE_POINTS) == 68


def test_lgan_training_lowers_loss_and_learns_mouth(trained_lgan: Path, synthetic_root: Path) -> None:
    out = trained_lgan.parent
    dist = _metric(out, "train/dist")
    assert dist[-10:].mean() < 0.5 * dist[:10].mean()
    assert len(_metric(out, "train/gan")) > 0 and len(_metric(out, "train/d")) > 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"]["feature_dim"] == DIM and saved["data"]["batch_size"] == 16  # the batch size used
    model = load_lgan(trained_lgan)
    assert model.discriminator is not None and model.config.feature_name == "mfcc"
    clip = next(PreparedDataset(synthetic_root).clips("val"))  # unseen speaker
    pred = model.predict_canonical(clip.features)
    assert pred.shape == (clip.num_frames, 68, 2)
    gt = to_canonical(clip.canonical, clip.canonical[clip.neutral_index], model.canonical_neutral.numpy())
    assert mouth_opening_correlation(pred, gt) > 0.7
    np.testing.assert_array_equal(pred[:, list(EYE_POINTS)], np.broadcast_to(
        model.canonical_neutral.numpy()[list(EYE_POINTS)], (clip.num_frames, len(EYE_POINTS), 2)))
    static = np.broadcast_to(model.canonical_neutral.numpy(), gt.shape)
    assert landmark_distance(pred, gt) < landmark_distance(static, gt)


def test_lgan_regression_only(synthetic_root: Path, tmp_path: Path) -> None:
    cfg = LGANConfig(encoder_channels=(8,), hidden_dim=8, regression_only=True)
    data = MotionDataConfig(roots=(str(synthetic_root),), sequence_length=4, stride=8)
    last = train_lgan(tmp_path, data, _train_config(3), cfg)
    model = load_lgan(last)
    assert model.discriminator is None and model.optimizer_steps_per_batch == 1
    assert torch.load(last, weights_only=False)["global_step"] == 3
    assert len(_metric(tmp_path, "train/dist")) == 3


def test_lgan_fine_tune_from_a_trained_model(
    trained_lgan: Path, synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataclasses import replace

    from talkface.cli import main
    from talkface.errors import InputError

    data = MotionDataConfig(roots=(str(synthetic_root),), sequence_length=4, stride=8)
    frozen = replace(_train_config(1), lr=0.0)  # Adam with lr 0 leaves the weights as initialised
    # the architecture comes from the init model, the loss settings from the given config
    last = train_lgan(tmp_path / "ft", data, frozen, LGANConfig(regression_only=True, lambda_dist=2.0),
                      init=trained_lgan)
    tuned, start = load_lgan(last), load_lgan(trained_lgan)
    assert tuned.config.encoder_channels == TINY_LGAN.encoder_channels and tuned.config.hidden_dim == 32
    assert tuned.config.regression_only and tuned.config.lambda_dist == 2.0 and tuned.discriminator is None
    for name, value in start.generator.state_dict().items():
        assert torch.equal(tuned.generator.state_dict()[name], value), name
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["init"]["model"] == str(trained_lgan)
    # a model trained on other speech features cannot be fine-tuned on this data
    ckpt = torch.load(trained_lgan, weights_only=False)
    ckpt["hyper_parameters"]["config"]["feature_name"] = "whisper-tiny.en"
    torch.save(ckpt, tmp_path / "other.ckpt")
    with pytest.raises(InputError, match="whisper-tiny.en"):
        train_lgan(tmp_path / "x", data, frozen, init=tmp_path / "other.ckpt")
    # CLI: --init with a model on other features is one line, no traceback
    capsys.readouterr()
    rc = main(["train", "regression", str(synthetic_root), "-o", str(tmp_path / "cli"), "--init",
               str(tmp_path / "other.ckpt"), "--steps", "1", "--accelerator", "cpu", "--threads", "1", "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "other.ckpt" in err and "--feature whisper-tiny.en" in err
    # --init default: the shipped motion model is an ensemble of two G_L (docs/motion.md 5c), not fine-tunable
    rc = main(["train", "regression", str(synthetic_root), "-o", str(tmp_path / "cli2"), "--init", "default",
               "--steps", "1", "--accelerator", "cpu", "--threads", "1", "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "lgan.pt" in err and "motion ensemble" in err


def test_blink_training_and_generation(trained_blink: Path) -> None:
    out = trained_blink.parent
    assert len(_metric(out, "train/mmd_sequence")) == 20
    model = load_blink(trained_blink)
    eyes = model.generate_eyes(123, num_sequences=2, seed=4)
    assert eyes.shape == (2, 123, len(EYE_POINTS), 2) and np.isfinite(eyes).all()
    np.testing.assert_array_equal(eyes, model.generate_eyes(123, num_sequences=2, seed=4))
    assert not np.array_equal(eyes, model.generate_eyes(123, num_sequences=2, seed=5))
    faces = model.generate(30, 1, seed=0)
    non_eye = [i for i in range(68) if i not in EYE_POINTS]
    np.testing.assert_array_equal(faces[0, :, non_eye], np.broadcast_to(
        model.canonical_neutral.numpy()[non_eye], (30, len(non_eye), 2)).transpose(1, 0, 2))
    rates = model.calibration_rates.numpy()  # measured at the end of training
    assert rates.shape == (3,) and np.isfinite(rates).all()
    assert model.config.calibration_scales[0] <= model.noise_scale_for_rate(0.3) <= model.config.calibration_scales[-1]


# ----------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------


def test_landmark_distance_definition() -> None:
    face = canonical_face()
    seq = np.repeat(face[None], 5, axis=0)
    assert landmark_distance(seq, seq) == pytest.approx(0.0, abs=1e-4)
    # pose and size do not count: the same face in pixels of a tilted, larger, shifted head
    moved = Similarity.from_params(120.0, 0.4, (300.0, 200.0)).apply(seq)
    assert landmark_distance(moved, seq) == pytest.approx(0.0, abs=1e-3)
    # a mouth displaced by 0.1 inter-ocular distances is 0.1 * IOD(128-px crop) pixels away
    opened = seq.copy()
    opened[:, 48:68, 1] += 0.1
    iod_px = np.linalg.norm(crop_aligned(face)[42:48].mean(0) - crop_aligned(face)[36:42].mean(0))
    assert 35 < iod_px < 40
    assert landmark_distance(opened, seq) == pytest.approx(0.1 * iod_px, rel=1e-3)


def test_mouth_opening_and_correlation() -> None:
    face = canonical_face()
    seq = np.repeat(face[None], 20, axis=0)
    amount = np.abs(np.sin(np.arange(20) / 3.0))
    seq[:, 65:68, 1] += 0.3 * amount[:, None]
    opening = mouth_opening(seq)
    assert opening.shape == (20,) and np.corrcoef(opening, amount)[0, 1] > 0.99
    assert mouth_opening_correlation(seq, seq) == pytest.approx(1.0)
    assert math.isnan(mouth_opening_correlation(np.repeat(face[None], 20, axis=0), seq))


def test_blink_statistics_counts_blinks() -> None:
    face = canonical_face()
    seq = np.repeat(face[None], 250, axis=0)  # 10 s
    for start in (30, 110, 200):
        for k, depth in enumerate((0.5, 1.0, 1.0, 1.0, 0.5)):
            seq[start + k, list(UPPER_LIDS), 1] += 0.09 * depth
    summary = blink_statistics([seq, np.repeat(face[None], 250, axis=0)], FPS)
    assert summary.rates.tolist() == [pytest.approx(0.3), 0.0]
    assert summary.rate == pytest.approx(0.15) and summary.seconds == pytest.approx(20.0)
    assert len(summary.durations) == 3 and 0.08 <= summary.duration <= 0.25


# ----------------------------------------------------------------------------------------------
# Render
# ----------------------------------------------------------------------------------------------


def test_predict_and_render(trained_lgan: Path, trained_blink: Path, tmp_path: Path) -> None:
    lgan, blink = load_lgan(trained_lgan), load_blink(trained_blink)
    t = np.arange(int(1.6 * 16000)) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    person = Similarity.from_params(60.0, 0.0, (100.0, 100.0)).apply(canonical_face()).astype(np.float32)
    image = np.zeros((200, 200, 3), np.uint8)
    lm = predict_landmarks(image, audio, lgan, blink, seed=1, person_landmarks=person)
    assert lm.shape == (40, 68, 2) and np.isfinite(lm).all()
    again = predict_landmarks(image, audio, lgan, blink, seed=1, person_landmarks=person)
    np.testing.assert_array_equal(lm, again)
    # an open-mouthed photo: the motion is added to the same face with the mouth closed (or, asked, as it is)
    from talkface.motion.retarget import close_mouth

    gaping = person.copy()
    gaping[[55, 56, 57, 58, 59, 65, 66, 67]] += np.array([0.0, 15.0], np.float32)
    kept = predict_landmarks(image, audio, lgan, blink, seed=1, person_landmarks=gaping, close_mouth=False)
    shut = predict_landmarks(image, audio, lgan, blink, seed=1, person_landmarks=gaping)
    assert (mouth_opening(shut) < mouth_opening(kept) - 0.1).all()  # closed by the ~15 px the lips were apart
    assert mouth_opening(close_mouth(gaping)) < 0.05 < 0.2 < mouth_opening(gaping)
    np.testing.assert_allclose(predict_landmarks(image, audio, lgan, blink, seed=1, person_landmarks=person,
                                                 close_mouth=False), lm)  # a closed mouth is left alone
    video = render_landmark_video(tmp_path / "lm.mp4", lm, audio, FPS, 200)
    assert video.is_file() and video.stat().st_size > 1000
    r = plot_mouth_vs_energy(tmp_path / "mouth.png", lm, audio, FPS)
    assert (tmp_path / "mouth.png").read_bytes()[:4] == b"\x89PNG" and -1.0 <= r <= 1.0

    # motion_scale: a gain on the speech motion around the neutral face; blinks untouched
    base = predict_canonical_landmarks(audio, lgan, blink, seed=1)
    neutral = lgan.canonical_neutral.numpy()
    speech, eyes = list(SPEECH_POINTS), list(EYE_POINTS)
    for gain in (0.0, 1.5):
        scaled = predict_canonical_landmarks(audio, lgan, blink, seed=1, motion_scale=gain)
        np.testing.assert_allclose(scaled[:, speech] - neutral[speech], gain * (base[:, speech] - neutral[speech]),
                                   atol=1e-5)
        np.testing.assert_array_equal(scaled[:, eyes], base[:, eyes])
    assert np.abs(base[:, speech] - neutral[speech]).max() > 1e-3  # the test is not vacuous
    with pytest.raises(ValueError, match="motion_scale"):
        predict_canonical_landmarks(audio, lgan, blink, motion_scale=-1.0)


def test_motion_sequences_match_whole_clip_windows() -> None:
    from talkface.audio.windows import frame_windows
    from talkface.motion.data import MotionClip, MotionSequences

    rng = np.random.default_rng(5)
    features = rng.normal(size=(30, 4)).astype(np.float16)
    clip = MotionClip("a/b", features, rng.normal(size=(30, 68, 2)).astype(np.float32))
    for align in ("centre", "end"):
        full = frame_windows(clip.features, 6, align)
        ds = MotionSequences([clip], sequence_length=7, stride=1, window=6, window_align=align)
        assert len(ds) == 24
        for item in (0, 1, 10, 23):
            s = ds.index[item][1]
            np.testing.assert_array_equal(ds[item]["windows"].numpy(), full[s : s + 7].astype(np.float32))
            np.testing.assert_array_equal(ds[item]["landmarks"].numpy(), clip.landmarks[s : s + 7])


def test_evaluate_motion_and_dataset_blinks(trained_lgan: Path, synthetic_root: Path) -> None:
    from talkface.eval.motion_metrics import dataset_blink_statistics, evaluate_motion

    scores = evaluate_motion([str(synthetic_root)], {"static": None, "lgan": load_lgan(trained_lgan)}, split="val")
    assert scores["static"].num_clips == scores["lgan"].num_clips == 8
    assert math.isnan(scores["static"].mouth_correlation)
    assert scores["lgan"].lmd < scores["static"].lmd and scores["lgan"].mouth_correlation > 0.7
    assert scores["lgan"].lmd_person == pytest.approx(scores["lgan"].lmd, rel=0.2)
    truth = dataset_blink_statistics([str(synthetic_root)], "val")  # one 4-frame blink per 2-s clip
    assert truth.rate == pytest.approx(0.5) and len(truth.durations) == 8
    assert evaluate_motion([str(synthetic_root)], {"static": None}, split="all")["static"].num_clips == 24
    from talkface.errors import InputError

    with pytest.raises(InputError, match="no clips in split 'tset'.*test"):  # a typo is an error, not NaNs
        evaluate_motion([str(synthetic_root)], {"static": None}, split="tset")


def test_cli_train_and_landmarks(synthetic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`talkface train regression` then `talkface landmarks` on a real GRID still and real speech."""
    from talkface.cli import main
    from talkface.io.images import write_image
    from talkface.io.media import probe, read_video

    run = tmp_path / "run"
    args = ["train", "regression", str(synthetic_root), "-o", str(run), "--steps", "3", "--batch-size", "8",
            "--accelerator", "cpu", "--threads", "1", "-q", "--val-every", "2"]
    assert main(args) == 0
    assert (run / "last.ckpt").is_file() and (run / "config.json").is_file()
    assert torch.load(run / "best.ckpt", weights_only=False)["global_step"] == 2  # the one validation
    fixtures = Path(__file__).parent / "fixtures"
    frames, _ = read_video(fixtures / "lbbc2a.mpg", max_frames=1)
    still = tmp_path / "still.png"
    write_image(still, frames[0])
    out = tmp_path / "lm.mp4"
    rc = main(["landmarks", str(still), str(fixtures / "bbaf2n.mpg"), "-o", str(out), "--lgan", str(run / "last.ckpt"),
               "--plot", str(tmp_path / "lm.png"), "--threads", "1"])
    assert rc == 0
    info = probe(out)
    assert info.has_audio
    assert info.num_frames is not None and abs(info.num_frames - 75) <= 1  # 3-s clip at 25 fps
    assert (tmp_path / "lm.png").stat().st_size > 5_000
    # bad input: an image given as speech -> one line, no output
    capsys.readouterr()
    rc = main(["landmarks", str(still), str(still), "-o", str(tmp_path / "bad.mp4"), "--lgan", str(run / "last.ckpt")])
    assert rc == 2 and not (tmp_path / "bad.mp4").exists()
    assert capsys.readouterr().err.count("\n") == 1
