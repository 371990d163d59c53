"""The mouth-weighted L1 of the temporal GAN and fine-tuning with ``init`` (issue 19)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from e2e_tiny import tiny
from talkface.e2e import E2EDataConfig, train_e2e
from talkface.e2e.config import E2EConfig
from talkface.e2e.data import SequenceDataset, VideoClip, augment_identity, augment_with_masks, synthetic_clips
from talkface.e2e.mouth import mouth_masks, weighted_l1
from talkface.e2e.temporal_gan import TemporalGAN, reconstruction_l1
from talkface.errors import InputError
from talkface.io.checkpoint import dataclass_from_dict
from talkface.train.core import TrainConfig


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def real_crop(grid_mpg_female: Path) -> tuple[np.ndarray, np.ndarray]:
    """A 128² face crop of a real GRID frame (mouth open) and its landmarks in the crop's pixels."""
    import cv2

    from talkface.face.landmarks import landmarks_for_image
    from talkface.io.media import read_video

    frames, _ = read_video(grid_mpg_female, max_frames=30)
    frame = frames[25]
    lm = landmarks_for_image(frame, grid_mpg_female).astype(np.float64)
    centre = (lm.min(0) + lm.max(0)) / 2.0
    side = 1.5 * float((lm.max(0) - lm.min(0)).max())
    x0, y0 = centre - side / 2.0
    affine = np.array([[128.0 / side, 0.0, -x0 * 128.0 / side], [0.0, 128.0 / side, -y0 * 128.0 / side]])
    crop = cv2.warpAffine(frame, affine, (128, 128), flags=cv2.INTER_AREA)
    return crop, (lm - [x0, y0]) * (128.0 / side)


def test_mouth_mask_lands_on_the_lips_of_a_real_frame(real_crop: tuple[np.ndarray, np.ndarray]) -> None:
    crop, lm = real_crop
    mask = mouth_masks(lm[None], 64, 128)[0]
    assert mask.shape == (64, 64) and mask.dtype == np.float32
    assert float(mask.min()) >= 0.0 and float(mask.max()) == pytest.approx(1.0)
    at = (lm * 0.5).round().astype(int)  # landmarks at 64²
    lips = mask[at[48:60, 1], at[48:60, 0]]
    assert (lips > 0.7).all(), "every outer-lip point is inside (the corners on the hull's edge)"
    assert np.median(lips) > 0.95
    mid_jaw = ((lm[57] + lm[8]) / 4.0).round().astype(int)  # half-way from the lower lip to the chin, at 64²
    assert mask[mid_jaw[1], mid_jaw[0]] > 0.4, "the jaw region below the lips is covered"
    for idx in (*range(36, 48), 27, 30, 0, 16):  # eyes, nose, face contour at eye height
        assert mask[at[idx, 1], at[idx, 0]] < 0.05, f"landmark {idx} is outside"
    # the masked pixels are the lips': redder than the face around them
    small = crop[::2, ::2].astype(np.float64)
    redness = small[..., 0] - small[..., 1]
    face = np.zeros((64, 64), bool)
    face[at[29, 1] - 4 : at[29, 1] + 4, at[31, 0] : at[35, 0]] = True  # cheeks/nose band above the mouth
    assert redness[mask > 0.9].mean() > redness[face].mean() + 5
    # the same landmarks at 16² give a mask of about the same share of the frame
    assert abs(float(mouth_masks(lm[None], 16, 128).mean()) - float(mask.mean())) < 0.03
    # a frame without a face (NaN landmarks) has no mouth weight
    assert float(mouth_masks(np.full((1, 68, 2), np.nan), 64, 128).max()) == 0.0
    with pytest.raises(ValueError, match="68"):
        mouth_masks(lm[None, :60], 64, 128)


def test_loss_is_larger_when_the_mouth_differs_than_when_the_same_error_is_elsewhere(
    real_crop: tuple[np.ndarray, np.ndarray]
) -> None:
    _, lm = real_crop
    mask = torch.from_numpy(mouth_masks(lm[None], 64, 128))[:, None]  # (1, 1, 64, 64)
    real = torch.zeros(1, 3, 64, 64)
    inside, outside = mask[0, 0] > 0.99, mask[0, 0] == 0
    n = int(inside.sum())
    rows, cols = torch.nonzero(outside, as_tuple=True)
    elsewhere = torch.zeros(64, 64, dtype=torch.bool)
    elsewhere[rows[:n], cols[:n]] = True  # as many pixels, outside the mask
    fake_mouth = real.clone()
    fake_mouth[..., inside] = 0.5
    fake_else = real.clone()
    fake_else[..., elsewhere] = 0.5
    plain = reconstruction_l1(fake_mouth, real, "full")
    assert plain == pytest.approx(float(reconstruction_l1(fake_else, real, "full")))  # the old loss: no difference
    w_mouth = reconstruction_l1(fake_mouth, real, "full", mask, 8.0)
    w_else = reconstruction_l1(fake_else, real, "full", mask, 8.0)
    assert float(w_else) == pytest.approx(float(plain))
    assert float(w_mouth) == pytest.approx(9.0 * float(plain), rel=1e-3)  # mask > 0.99 there, not exactly 1
    # weight 0 or no mask: exactly the plain L1; the lower-half region cuts the mask with the frames
    assert torch.equal(weighted_l1(fake_mouth, real, mask, 0.0), plain)
    assert torch.equal(weighted_l1(fake_mouth, real, None, 8.0), plain)
    assert float(reconstruction_l1(fake_mouth, real, "lower", mask, 8.0)) > float(
        reconstruction_l1(fake_else, real, "lower", mask, 8.0))


def test_masks_get_the_flip_and_warp_of_the_frames() -> None:
    still = torch.full((3, 32, 32), -1.0)
    frames = still[None].repeat(2, 1, 1, 1)
    frames[:, :, 20:26, 6:14] = 1.0  # a white block where the "mouth" is
    masks = torch.zeros(2, 1, 32, 32)
    masks[:, :, 20:26, 6:14] = 1.0
    g = torch.Generator().manual_seed(3)
    s2, f2, m2 = augment_with_masks(still, frames, masks, g)
    assert m2 is not None and m2.shape == masks.shape
    # the same draws as augment_identity: the pictures are identical
    s1, f1 = augment_identity(still, frames, torch.Generator().manual_seed(3))
    assert torch.equal(s1, s2) and torch.equal(f1, f2)
    # the warped mask sits on the warped block: brightness inside the mask far above outside it
    grey = f2.mean(1, keepdim=True)
    assert float(grey[m2 > 0.9].mean()) > float(grey[m2 < 0.01].mean()) + 0.5
    assert float(m2.sum()) == pytest.approx(float(masks.sum()), rel=0.25)


def test_dataset_draws_masks_from_each_frames_landmarks_and_flips_them() -> None:
    cfg = tiny(mouth_weight=4.0, image_size=32, crop_size=64)
    base = synthetic_clips(1, num_frames=10, image_size=32, sample_rate=8000)[0]
    lm = np.zeros((10, 68, 2), np.float32)
    lm[:, :, 0], lm[:, :, 1] = 12.0, 8.0  # every point in the upper left (crop pixels at 64²) ...
    lm[:, 48:60] = np.stack([np.linspace(8, 20, 12), np.full(12, 40.0)], 1)  # ... but the lips, at y = 40
    lm[:, 6:11] = np.stack([np.linspace(10, 18, 5), np.full(5, 50.0)], 1)
    lm[5:, 48:60, 1] += 8.0  # the mouth moves down in the second half
    clip = VideoClip(base.clip_id, base.frames, base.audio, 0, base.fps, base.sample_rate, lm)
    item = SequenceDataset([clip], cfg, train=False, mouth_masks=True)[0]
    m = item["mouth"]
    assert m.shape == (10, 1, 32, 32)
    rows = torch.arange(32.0)[:, None]
    centre = [float((m[t, 0] * rows).sum() / m[t, 0].sum()) for t in (0, 9)]
    assert centre[1] > centre[0] + 3  # follows each frame's landmarks (4 px at 32²)
    assert float(m[0, 0, :, 16:].sum()) < 0.05 * float(m[0].sum())  # left half only
    batch = SequenceDataset([clip], cfg, train=False, mouth_masks=True).collate([item])
    assert batch["mouth"].shape == (1, 10, 1, 32, 32)
    torch.manual_seed(0)
    ds = SequenceDataset([clip], cfg, min_frames=4, max_frames=4, mirror=True, mouth_masks=True)
    flipped = [ds[0] for _ in range(12)]
    right = [float(it["mouth"][:, 0, :, 16:].sum()) > float(it["mouth"][:, 0, :, :16].sum()) for it in flipped]
    assert any(right) and not all(right)  # mirrored samples carry mirrored masks
    for it in flipped:  # and the frames were flipped with them (the synthetic mouth is centred: check shapes)
        assert it["frames"].shape[0] == it["mouth"].shape[0]
    # clips without landmarks get zero masks; no masks unless asked
    bare = VideoClip(base.clip_id, base.frames, base.audio, 0, base.fps, base.sample_rate)
    assert float(SequenceDataset([bare], cfg, train=False, mouth_masks=True)[0]["mouth"].sum()) == 0.0
    assert "mouth" not in SequenceDataset([clip], cfg, train=False)[0]


def test_old_configs_have_no_mouth_weight_and_bad_values_fail() -> None:
    stored = asdict(tiny())
    del stored["mouth_weight"]
    assert dataclass_from_dict(E2EConfig, stored).mouth_weight == 0.0
    with pytest.raises(ValueError, match="mouth_weight"):
        tiny(mouth_weight=-1.0)


def test_init_starts_from_a_checkpoint_with_fresh_optimisers(tmp_path: Path) -> None:
    clips = synthetic_clips(4, num_frames=24, image_size=16, sample_rate=8000, seed=1)
    cfg = tiny(output_mode="residual", l1_region="full")

    def run(folder: str, config: E2EConfig, steps: int, init: Path | None = None) -> Path:
        return train_e2e(tmp_path / folder, E2EDataConfig(min_frames=8, max_frames=12, samples_per_clip=2), config,
                         TrainConfig(max_steps=steps, batch_size=4, lr=5e-3, log_every_n_steps=1, progress_bar=False,
                                     accelerator="cpu", checkpoint_every_n_steps=1000),
                         train_clips=clips, init=init)

    first = run("a", cfg, 4)
    start = TemporalGAN.load_from_checkpoint(first, map_location="cpu", weights_only=False)
    # two small steps from the init weights stay far closer to them than a fresh model is
    second = run("b", tiny(output_mode="residual", l1_region="full", mouth_weight=6.0), 2, init=first)
    tuned = torch.load(second, map_location="cpu", weights_only=False)
    assert tuned["global_step"] == 2 * 2  # counted from 0 (2 optimiser steps per batch), not from the init's 8
    moved = [float((tuned["state_dict"][k] - v).abs().max()) for k, v in start.state_dict().items()
             if v.dtype.is_floating_point]
    fresh = TemporalGAN(cfg).state_dict()
    far = [float((fresh[k] - v).abs().max()) for k, v in start.state_dict().items() if v.dtype.is_floating_point]
    assert np.median(moved) < np.median(far)
    assert TemporalGAN.load_from_checkpoint(second, map_location="cpu", weights_only=False).config.mouth_weight == 6.0
    assert '"init"' in (second.parent / "config.json").read_text()
    assert "train/l1_mouth" in (second.parent / "metrics.csv").read_text()
    with pytest.raises(InputError, match="base_channels"):
        run("c", tiny(output_mode="residual", l1_region="full", base_channels=8), 1, init=first)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.ckpt"):
        run("d", cfg, 1, init=tmp_path / "junk.ckpt")
