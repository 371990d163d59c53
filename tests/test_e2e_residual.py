"""The residual output of the temporal GAN, identity augmentation and full-resolution composition (issue 19)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from e2e_tiny import tiny
from talkface.e2e import E2EDataConfig, train_e2e
from talkface.e2e.bundle import FORMAT, export_generator, load_e2e_generator
from talkface.e2e.config import E2EConfig
from talkface.e2e.data import SequenceDataset, augment_identity, synthetic_clips
from talkface.e2e.networks import Generator, residual_output
from talkface.e2e.stream import (
    compose_full_resolution,
    frames_to_uint8,
    generate_batch,
    generate_stream,
    images_to_tensor,
    uses_full_resolution,
)
from talkface.e2e.temporal_gan import TemporalGAN
from talkface.io.checkpoint import dataclass_from_dict
from talkface.train.core import TrainConfig


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


def test_residual_output_keeps_the_still_where_mask_or_delta_is_zero() -> None:
    torch.manual_seed(0)
    still = torch.rand(2, 3, 8, 8) * 2 - 1
    raw = torch.randn(2, 4, 8, 8)
    raw[:, 3] = -1e4  # mask 0
    frames, mask = residual_output(still, raw)
    assert torch.equal(frames, still) and float(mask.max()) == 0.0
    raw = torch.randn(2, 4, 8, 8)
    raw[:, :3] = 0.0  # delta 0, any mask
    assert torch.equal(residual_output(still, raw)[0], still)
    raw = torch.full((2, 4, 8, 8), 50.0)  # mask 1, delta 1: +1, clamped to the range
    frames, mask = residual_output(still, raw)
    assert torch.allclose(frames, (still + 1).clamp(max=1)) and torch.allclose(mask, torch.ones_like(mask))


def test_residual_generator_copies_the_still_when_its_mask_is_closed() -> None:
    torch.manual_seed(0)
    g = Generator(tiny(output_mode="residual")).eval()
    assert g.frame_decoder.out[0].out_channels == 4
    with torch.no_grad():
        g.frame_decoder.out[0].weight.zero_()  # raw output 0: delta 0
    rng = np.random.default_rng(0)
    still = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    audio = (0.1 * rng.standard_normal(8000)).astype(np.float32)
    frames = generate_batch(g, still, audio, seed=0)
    assert frames.shape == (25, 16, 16, 3)
    assert np.array_equal(frames, np.broadcast_to(still, frames.shape))
    # a random residual generator changes the frames, streams like whole-clip generation, masks in (0, 1)
    torch.manual_seed(1)
    g = Generator(tiny(output_mode="residual")).eval()
    # the initial (DCGAN) weights give a residual far below one grey level in eval mode: amplify it
    g.frame_decoder.out.register_forward_hook(lambda _m, _i, out: out * 1e4)
    batch = generate_batch(g, still, audio, seed=3)
    assert not np.array_equal(batch, np.broadcast_to(still, batch.shape))
    np.testing.assert_array_equal(np.stack(list(generate_stream(g, still, audio, seed=3, chunk_frames=7))), batch)
    s = images_to_tensor(still)[None]
    frames_t, mask = g.forward_with_mask(s, torch.zeros(1, 5, g.config.window_samples))
    assert mask is not None and mask.shape == (1, 5, 1, 16, 16) and 0 < float(mask.min()) <= float(mask.max()) < 1
    assert Generator(tiny()).forward_with_mask(s, torch.zeros(1, 5, 640))[1] is None


def test_old_configs_load_as_direct_and_bad_values_fail() -> None:
    stored = asdict(tiny())
    del stored["output_mode"], stored["mask_weight"]  # a checkpoint of before the option
    cfg = dataclass_from_dict(E2EConfig, stored)
    assert cfg.output_mode == "direct" and Generator(cfg).frame_decoder.out[0].out_channels == 3
    with pytest.raises(ValueError, match="output_mode"):
        tiny(output_mode="blend")
    with pytest.raises(ValueError, match="mask_weight"):
        tiny(mask_weight=-1.0)


def test_augmentation_is_deterministic_under_a_seed_and_the_same_for_still_and_frames() -> None:
    rng = np.random.default_rng(0)
    still = images_to_tensor(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    frames = torch.stack([still, still.flip(-1), still])
    a = augment_identity(still, frames, torch.Generator().manual_seed(7))
    b = augment_identity(still, frames, torch.Generator().manual_seed(7))
    c = augment_identity(still, frames, torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert a[0].shape == still.shape and a[1].shape == frames.shape
    assert float(a[1].abs().max()) <= 1.0
    assert not torch.equal(a[0], still)  # it does change the picture
    # the still and the frames get exactly the same change
    assert torch.allclose(a[1][0], a[0], atol=1e-6) and torch.allclose(a[1][2], a[0], atol=1e-6)


def test_dataset_augments_only_training_samples() -> None:
    cfg = tiny()
    clips = synthetic_clips(2, num_frames=20, image_size=16, sample_rate=8000)
    torch.manual_seed(0)
    item = SequenceDataset(clips, cfg, min_frames=4, max_frames=8, mirror=False, augment=True)[0]
    assert item["frames"].shape[1:] == (3, 16, 16)
    plain = SequenceDataset(clips, cfg, train=False, augment=True)[0]
    assert torch.equal(plain["frames"], images_to_tensor(clips[0].frames))


def test_full_resolution_composition() -> None:
    rng = np.random.default_rng(0)
    still = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    small = cv2.resize(still, (16, 16), interpolation=cv2.INTER_AREA)
    # a frame equal to the downsampled still gives the full-resolution still back, pixel for pixel
    assert np.array_equal(compose_full_resolution(still, small), still)
    # a change in one region changes only (about) that region, at the still's resolution elsewhere
    changed = small.copy()
    changed[10:14, 6:10] = 255
    frames = np.stack([small, changed])
    out = compose_full_resolution(still, frames)
    assert out.shape == (2, 64, 64, 3) and out.dtype == np.uint8
    assert np.array_equal(out[0], still)
    assert np.array_equal(out[1, :28], still[:28])  # rows above the changed block (+ the cubic's reach)
    assert out[1, 44:52, 28:36].astype(int).mean() > still[44:52, 28:36].astype(int).mean() + 20
    # frames already at the still's size are returned as they are
    assert compose_full_resolution(still, still) is still


def test_full_resolution_composition_keeps_the_photos_colours_by_default() -> None:
    rng = np.random.default_rng(1)
    still = rng.integers(60, 190, (64, 64, 3), dtype=np.uint8)
    small = cv2.resize(still, (16, 16), interpolation=cv2.INTER_AREA)
    changed = small.astype(np.int16)
    changed[6:10, 6:10] += np.array([40, -10, 0], np.int16)  # a tinted change: R up, G down
    changed = changed.astype(np.uint8)
    luma = compose_full_resolution(still, changed).astype(int) - still
    rgb = compose_full_resolution(still, changed, luma_only=False).astype(int) - still
    block = (slice(24, 40), slice(24, 40))
    # luminance only: the three channels change alike (grey), by the change's luma (0.299*40 - 0.587*10 = 6.1)
    assert np.abs(luma[block][..., 0] - luma[block][..., 1]).max() <= 1
    assert np.abs(luma[block][..., 1] - luma[block][..., 2]).max() <= 1
    assert 3 < luma[block].mean() < 8
    # the RGB change tints: red up, green down
    assert rgb[block][..., 0].mean() > 15 and rgb[block][..., 1].mean() < -5


def test_full_resolution_is_the_default_for_residual_generators_only() -> None:
    assert uses_full_resolution(Generator(tiny(output_mode="residual")))
    assert not uses_full_resolution(Generator(tiny()))
    assert uses_full_resolution(Generator(tiny()), True)


def test_tiny_residual_training_with_augmentation_logs_the_mask_and_exports(tmp_path: Path) -> None:
    clips = synthetic_clips(4, num_frames=24, image_size=16, sample_rate=8000, seed=1)
    cfg = tiny(output_mode="residual", mask_weight=1.0, l1_region="full")
    ckpt = train_e2e(tmp_path / "run", E2EDataConfig(min_frames=8, max_frames=12, samples_per_clip=2, augment=True),
                     cfg, TrainConfig(max_steps=6, batch_size=4, lr=5e-3, log_every_n_steps=1, progress_bar=False,
                                      accelerator="cpu", checkpoint_every_n_steps=1000), train_clips=clips)
    text = (ckpt.parent / "metrics.csv").read_text()
    assert "train/mask" in text
    module = TemporalGAN.load_from_checkpoint(ckpt, map_location="cpu", weights_only=False)
    assert module.config.output_mode == "residual"
    out = export_generator(ckpt, tmp_path / "g.pt", {"data": "synthetic"})
    g = load_e2e_generator(out)
    assert g.config.output_mode == "residual" and torch.load(out, weights_only=True)["format"] == FORMAT
    c = clips[0]
    fake = generate_batch(g, c.frames[c.still_index], c.audio, seed=0)
    assert fake.shape == c.frames.shape
    assert frames_to_uint8(images_to_tensor(fake)).shape == fake.shape
