"""End-to-end temporal GAN (talkface.e2e): shapes, SPP, L1 mask, training, streaming, mp4 output."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from talkface.audio.windows import raw_windows
from talkface.e2e import E2EDataConfig, ablation_config, animate_e2e, load_generator, train_e2e
from talkface.e2e.data import SequenceDataset, synthetic_clips
from talkface.e2e.temporal_gan import (
    E2EConfig,
    FrameDiscriminator,
    Generator,
    SequenceDiscriminator,
    SpatialPyramidPool1d,
    SPPSequenceDiscriminator,
    generate_batch,
    generate_stream,
    images_to_tensor,
    lower_half_l1,
    lower_half_mask,
    reconstruction_l1,
    stream_windows,
)
from talkface.errors import InputError
from talkface.train.core import TrainConfig

# A CPU-sized model: 16 x 16 frames, 8 kHz audio, 80-ms windows (640 samples).
TINY = {
    "image_size": 16,
    "sample_rate": 8000,
    "window_s": 0.08,
    "base_channels": 4,
    "audio_base_channels": 4,
    "audio_code_size": 16,
    "context_size": 16,
    "disc_frame_code_size": 8,
    "disc_audio_code_size": 8,
    "disc_rnn_size": 16,
}


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


def tiny(**kw: object) -> E2EConfig:
    return E2EConfig(**{**TINY, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("audio_encoder", ["raw", "mfcc"])
@pytest.mark.parametrize("length", [1, 3, 17])
def test_shapes_any_length(audio_encoder: str, length: int) -> None:
    cfg = tiny(image_size=32, audio_encoder=audio_encoder)
    torch.manual_seed(0)
    b = 2
    still = torch.rand(b, 3, 32, 32) * 2 - 1
    windows = torch.randn(b, length, cfg.window_samples) * 0.1
    g = Generator(cfg)
    frames = g(still, windows)
    assert frames.shape == (b, length, 3, 32, 32)
    assert float(frames.detach().abs().max()) <= 1.0
    assert FrameDiscriminator(cfg)(frames[:, 0], still).shape == (b,)
    for disc in (SequenceDiscriminator(cfg), SPPSequenceDiscriminator(cfg)):
        assert disc(frames, windows).shape == (b,)


def test_paper_sizes_layer_counts() -> None:
    cfg = E2EConfig()  # the paper's 128 x 128 model
    g = Generator(cfg)
    convs = [m for m in g.identity_encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 6 and convs[-1].out_channels == 50
    audio_convs = [m for m in g.context_encoder.audio_encoder.modules() if isinstance(m, torch.nn.Conv1d)]
    assert len(audio_convs) == 7 and audio_convs[0].kernel_size == (80,) and audio_convs[0].stride == (16,)
    assert g.context_encoder.rnn.num_layers == 2 and g.context_encoder.rnn.hidden_size == 256
    frame_d = [m for m in FrameDiscriminator(cfg).modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(frame_d) == 6 and frame_d[0].in_channels == 6


def test_spp_fixed_size_for_lengths_5_to_200() -> None:
    spp = SpatialPyramidPool1d((1, 2, 4))
    x = torch.randn(2, 8, 200)
    sizes = {tuple(spp(x[:, :, :n]).shape) for n in range(5, 201)}
    assert sizes == {(2, 8 * 7)}
    # level 1 is the global max; padded batches pool each item over its own length
    out = spp(x[:, :, :50])
    assert torch.equal(out[:, :8], x[:, :, :50].amax(-1))
    padded = spp(x[:, :, :60], lengths=[60, 25])
    assert torch.allclose(padded[1], spp(x[1:2, :, :25])[0])
    cfg = tiny()
    disc = SPPSequenceDiscriminator(cfg).eval()
    for n in (5, 37, 200):
        assert disc(torch.zeros(1, n, 3, 16, 16), torch.zeros(1, n, cfg.window_samples)).shape == (1,)


@pytest.mark.parametrize(("h", "w"), [(16, 16), (128, 128), (7, 5)])
def test_lower_half_mask_is_exactly_the_lower_half(h: int, w: int) -> None:
    mask = lower_half_mask(h, w)
    rows = torch.arange(h)[:, None].expand(h, w)
    assert mask.shape == (h, w) and mask.dtype == torch.bool
    assert torch.equal(mask, rows >= h // 2)
    real = torch.zeros(2, 3, 3, h, w)
    fake = real.clone()
    fake[..., : h // 2, :] = 5.0  # the upper half does not count
    assert float(lower_half_l1(fake, real)) == 0.0
    fake[..., h // 2 :, :] += 0.5
    assert float(lower_half_l1(fake, real)) == pytest.approx(0.5)
    assert float(reconstruction_l1(fake, real, "lower")) == pytest.approx(0.5)
    upper = (h // 2) / h
    assert float(reconstruction_l1(fake, real, "full")) == pytest.approx(5.0 * upper + 0.5 * (1 - upper))


def test_ablation_flags() -> None:
    l1 = ablation_config("l1")
    assert not l1.use_frame_discriminator and not l1.use_sequence_discriminator
    assert l1.l1_region == "full"  # the paper's L1-only model (Fig. 4a)
    assert ablation_config("l1+img").l1_region == "lower"
    spp = ablation_config("l1+img+spp")
    assert spp.use_frame_discriminator and spp.use_sequence_discriminator and spp.sequence_discriminator == "spp"
    with pytest.raises(ValueError, match="unknown ablation"):
        ablation_config("nope")


def test_dataset_mirrors_and_cuts_windows() -> None:
    cfg = tiny()
    clips = synthetic_clips(2, num_frames=20, image_size=16, sample_rate=8000)
    ds = SequenceDataset(clips, cfg, min_frames=4, max_frames=8, mirror=False)
    batch = ds.collate([ds[0], ds[1]])
    n = batch["frames"].shape[1]
    assert 4 <= n <= 8
    assert batch["frames"].shape == (2, n, 3, 16, 16) and batch["audio"].shape == (2, n, cfg.window_samples)
    full = SequenceDataset(clips, cfg, train=False)[0]
    assert torch.equal(full["audio"], torch.from_numpy(raw_windows(clips[0].audio, 20, 25.0, 640, 8000)))
    assert torch.equal(full["frames"], images_to_tensor(clips[0].frames))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """A tiny full model (D_img + SPP D_seq) trained for a few dozen steps through the training core."""
    out = tmp_path_factory.mktemp("e2e_run")
    clips = synthetic_clips(4, num_frames=24, image_size=16, sample_rate=8000, seed=1)
    cfg = replace(ablation_config("l1+img+spp"), **TINY)  # type: ignore[arg-type]
    ckpt = train_e2e(
        out,
        E2EDataConfig(min_frames=8, max_frames=12, samples_per_clip=4, mirror=False),
        cfg,
        TrainConfig(max_steps=40, batch_size=4, lr=5e-3, log_every_n_steps=1, progress_bar=False,
                    accelerator="cpu", checkpoint_every_n_steps=1000),
        train_clips=clips,
    )
    return ckpt, clips


def _l1(generator: Generator, clips: list) -> float:
    vals = []
    for c in clips:
        fake = generate_batch(generator, c.frames[c.still_index], c.audio, fps=c.fps, seed=0)
        vals.append(float(lower_half_l1(images_to_tensor(fake), images_to_tensor(c.frames))))
    return float(np.mean(vals))


def test_tiny_overfit_reduces_l1(trained: tuple[Path, list]) -> None:
    ckpt, clips = trained
    assert ckpt.is_file() and (ckpt.parent / "config.json").is_file()
    generator = load_generator(ckpt)
    torch.manual_seed(0)
    untrained = Generator(generator.config)
    before, after = _l1(untrained, clips), _l1(generator, clips)
    assert after < 0.7 * before, (before, after)
    with open(ckpt.parent / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    logged = {k for r in rows for k, v in r.items() if v}
    assert {"train/l1", "train/d_img", "train/d_seq", "train/g_img", "train/g_seq"} <= logged


def test_load_generator_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="x.ckpt"):
        load_generator(bad)


@pytest.mark.parametrize(("seconds", "fps"), [(1.0, 25.0), (1.37, 25.0), (0.9, 29.97)])
def test_stream_windows_match_batch_windows(seconds: float, fps: float) -> None:
    rng = np.random.default_rng(0)
    audio = rng.standard_normal(int(seconds * 8000)).astype(np.float32)
    chunks = [audio[i : i + 333] for i in range(0, audio.shape[0], 333)]
    got = np.concatenate(list(stream_windows(chunks, fps, 640, 8000, chunk_frames=4)))
    num = round(audio.shape[0] / 8000 * fps)
    assert got.shape == (num, 640)
    assert np.array_equal(got, raw_windows(audio, num, fps, 640, 8000))


def test_streaming_equals_batch_generation() -> None:
    torch.manual_seed(0)
    g = Generator(tiny(image_size=32)).eval()
    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal(int(1.3 * 8000))).astype(np.float32)
    still = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    batch = generate_batch(g, still, audio, seed=5)
    assert batch.shape == (round(1.3 * 25), 32, 32, 3)
    for chunk_frames in (1, 6):
        stream = np.stack(list(generate_stream(g, still, audio, seed=5, chunk_frames=chunk_frames)))
        np.testing.assert_array_equal(stream, batch)
    pieces = (audio[i : i + 1000] for i in range(0, audio.shape[0], 1000))  # an audio stream
    np.testing.assert_array_equal(np.stack(list(generate_stream(g, still, pieces, seed=5))), batch)
    other = np.stack(list(generate_stream(g, still, audio, seed=6)))
    assert not np.array_equal(other, batch)  # the noise matters


def test_animate_writes_mp4_with_audio(trained: tuple[Path, list], grid_mpg: Path, tmp_path: Path) -> None:
    from talkface.io.images import write_image
    from talkface.io.media import probe, read_audio, read_video

    ckpt, _ = trained
    frames, _ = read_video(grid_mpg)
    photo = tmp_path / "photo.png"
    write_image(photo, frames[0])
    out = tmp_path / "out.mp4"
    written = animate_e2e(photo, grid_mpg, out, ckpt)
    duration = read_audio(grid_mpg, sample_rate=8000).shape[0] / 8000
    assert written == round(duration * 25)
    video, fps = read_video(out)
    assert video.shape == (written, 288, 360, 3) and fps == pytest.approx(25.0)
    info = probe(out)
    assert info.has_audio
    # outside the face crop the photo is untouched (up to H.264 noise)
    assert np.abs(video[5, :20, :20].astype(int) - frames[0][:20, :20].astype(int)).mean() < 4
    with pytest.raises(InputError, match="photo.png"):
        animate_e2e(photo, photo, tmp_path / "bad.mp4", ckpt)
