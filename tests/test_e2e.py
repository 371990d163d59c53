"""End-to-end temporal GAN (talkface.e2e): shapes, SPP, L1 mask, training, streaming, mp4 output, CLI."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from e2e_tiny import TINY, tiny
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


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


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


# ----------------------------------------------------------------------------------------------
# Command line: `talkface train e2e`, `talkface animate-e2e`


def make_crop_dataset(root: Path, speakers: int = 2, clips_per_speaker: int = 2, num_frames: int = 24) -> Path:
    """A tiny prepared dataset whose crop videos are synthetic talking faces (32 x 32, 16 kHz audio).

    The first speaker is the train split, the others val and test. Landmarks are zeros (unused by
    the end-to-end model's training).
    """

    from talkface.data.dataset import Clip, save_clip
    from talkface.io.media import write_video

    clips = synthetic_clips(speakers * clips_per_speaker, num_frames=num_frames, image_size=32, seed=2)
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for i, c in enumerate(clips):
        speaker = f"spk{i // clips_per_speaker}"
        cid = f"{speaker}/u{i % clips_per_speaker}"
        zeros = np.zeros((num_frames, 68, 2), np.float32)
        (root / "clips" / speaker).mkdir(parents=True, exist_ok=True)
        save_clip(root / "clips" / f"{cid}.npz", Clip(
            clip_id=cid, speaker=speaker, fps=25.0, landmarks=zeros, crop_landmarks=zeros,
            crop_affine=np.tile(np.eye(2, 3, dtype=np.float32), (num_frames, 1, 1)), canonical=zeros,
            detected=np.ones(num_frames, bool), neutral_index=0, ear=np.zeros(num_frames, np.float32),
            features=np.zeros((num_frames, 1), np.float32), audio=c.audio, sample_rate=16000,
        ))
        write_video(root / "clips" / f"{cid}.mp4", c.frames, 25.0)
        for split in ("train",) if i < clips_per_speaker else ("val", "test"):
            splits[split].append(cid)
    meta = {"format": "talkface-dataset", "version": 1, "fps": 25.0, "crop_size": 32, "sample_rate": 16000,
            "feature": {"name": "raw", "dim": 1}}
    (root / "dataset.json").write_text(json.dumps(meta))
    (root / "splits.json").write_text(json.dumps(splits))
    return root


CLI_TINY = ["--image-size", "16", "--base-channels", "4", "--audio-base-channels", "4", "--audio-code-size", "16",
            "--context-size", "16", "--disc-frame-code-size", "8", "--disc-audio-code-size", "8",
            "--disc-rnn-size", "16", "--min-frames", "6", "--max-frames", "8", "--max-val-clips", "0"]


def test_cli_ablation_choices_match_the_library() -> None:
    from talkface.cli import build_parser
    from talkface.e2e import ABLATIONS

    parser = build_parser()
    for name in ABLATIONS:
        assert parser.parse_args(["train", "e2e", "data", "-o", "run", "--ablation", name]).ablation == name
    args = parser.parse_args(["train", "e2e", "data", "-o", "run"])
    assert not {"ablation", "spp", "no_frame_disc", "image_size", "min_frames"} & set(vars(args))  # unset: config's


def test_cli_train_e2e_variants_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`talkface train e2e` writes the config asked for, and a second call resumes from last.ckpt."""

    from talkface.cli import main
    from talkface.train.core import read_checkpoint

    data = make_crop_dataset(tmp_path / "prepared")
    run = tmp_path / "run"
    common = ["train", "e2e", str(data), "-o", str(run), "--batch-size", "2", "--accelerator", "cpu", "--threads",
              "1", "-q", *CLI_TINY]
    assert main([*common, "--steps", "2", "--spp", "--l1-region", "full", "--no-mirror"]) == 0
    assert capsys.readouterr().out.strip().endswith("last.ckpt")
    config = json.loads((run / "config.json").read_text())
    model, data_cfg = config["model"], config["data"]
    assert model["sequence_discriminator"] == "spp" and model["l1_region"] == "full"
    assert model["use_frame_discriminator"] and model["use_sequence_discriminator"]
    assert model["image_size"] == 16 and model["crop_size"] == 32 and model["sample_rate"] == 16000
    assert model["l1_weight"] == 400.0 and model["window_s"] == 0.16  # unset options keep the paper's values
    assert data_cfg["root"] == str(data) and data_cfg["mirror"] is False and data_cfg["max_frames"] == 8
    assert read_checkpoint(run / "last.ckpt")["global_step"] == 2 * 2  # 2 batches x (D step + G step)
    # resume: two more batches on top of the first two
    assert main([*common, "--steps", "4", "--spp", "--l1-region", "full", "--no-mirror"]) == 0
    assert read_checkpoint(run / "last.ckpt")["global_step"] == 4 * 2
    # an ablation preset: the L1-only model has no discriminators (one optimiser step per batch)
    l1_run = tmp_path / "l1"
    assert main(["train", "e2e", str(data), "-o", str(l1_run), "--steps", "1", "--batch-size", "2",
                 "--accelerator", "cpu", "--threads", "1", "-q", "--ablation", "l1", *CLI_TINY]) == 0
    l1_model = json.loads((l1_run / "config.json").read_text())["model"]
    assert not l1_model["use_frame_discriminator"] and not l1_model["use_sequence_discriminator"]
    assert read_checkpoint(l1_run / "last.ckpt")["global_step"] == 1


def test_cli_train_e2e_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from talkface.cli import main

    rc = main(["train", "e2e", str(tmp_path / "nope"), "-o", str(tmp_path / "run"), "--steps", "1", "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "nope" in err
    data = make_crop_dataset(tmp_path / "prepared", speakers=1)
    rc = main(["train", "e2e", str(data), "-o", str(tmp_path / "run"), "--steps", "1", "-q", "--image-size", "20"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "image_size" in err


@pytest.mark.parametrize(("listing", "message"), [
    ({"train": "spk0/u0"}, "split 'train' is not a list of clip ids (got \"spk0/u0\")"),
    ({"train": ["spk0/u0", 7]}, "split 'train' is not a list of clip ids (item 1 is 7)"),
    ({"train": ["spk0/u0"], "val": {"s0": 1}}, "split 'val' is not a list of clip ids (got {\"s0\": 1})"),
])
def test_cli_train_e2e_names_what_is_wrong_with_a_split(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       listing: dict[str, object], message: str) -> None:
    """A mangled splits.json entry said "no split 'train'" (or, for an item that is not a clip id, failed later):
    the loader now names splits.json and what is wrong, as ``talkface evaluate`` does (PreparedDataset.check_split)."""
    from talkface.cli import main

    data = make_crop_dataset(tmp_path / "prepared", speakers=1)
    (data / "splits.json").write_text(json.dumps(listing))
    rc = main(["train", "e2e", str(data), "-o", str(tmp_path / "run"), "--steps", "1", "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert err.startswith(f"talkface: error: {data / 'splits.json'}: ") and message in err, err


def test_cli_animate_e2e(trained: tuple[Path, list], grid_mpg: Path, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    """`talkface animate-e2e`: crops with the speech muxed in; bad input gives one line and no file."""
    from talkface.cli import main
    from talkface.io.images import write_image
    from talkface.io.media import probe, read_video

    ckpt, _ = trained
    frames, _ = read_video(grid_mpg, max_frames=1)
    photo = tmp_path / "photo.png"
    write_image(photo, frames[0])
    out = tmp_path / "out.mp4"
    rc = main(["animate-e2e", str(photo), str(grid_mpg), "-o", str(out), "--checkpoint", str(ckpt),
               "--max-duration", "1", "--crop-only", "--threads", "1", "-q"])
    assert rc == 0 and capsys.readouterr().out.strip() == f"{out}: 25 frames"
    info = probe(out)
    assert info.has_audio and info.num_frames == 25 and (info.width, info.height) == (128, 128)
    for bad in (
        [str(photo), str(photo), "--checkpoint", str(ckpt)],  # an image as speech
        [str(grid_mpg), str(grid_mpg), "--checkpoint", str(ckpt)],  # a video as photo
        [str(photo), str(grid_mpg), "--checkpoint", str(photo)],  # an image as checkpoint
    ):
        target = tmp_path / "bad.mp4"
        rc = main(["animate-e2e", *bad, "-o", str(target), "-q"])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert not target.exists()


def test_datamodule_joins_several_datasets(tmp_path: Path) -> None:
    from talkface.e2e import E2EDataModule
    from talkface.e2e.data import dataset_model_settings

    a = make_crop_dataset(tmp_path / "a", speakers=2, clips_per_speaker=2, num_frames=12)
    b = make_crop_dataset(tmp_path / "b", speakers=2, clips_per_speaker=1, num_frames=12)
    dm = E2EDataModule(E2EDataConfig(root=str(a), extra_roots=(str(b),)), tiny(sample_rate=16000, window_s=0.16))
    dm.setup()
    assert len(dm._train or []) == 3 and len(dm._val or []) == 3
    limited = E2EDataModule(E2EDataConfig(root=str(a), extra_roots=(str(b),), max_train_clips=2, max_val_clips=0),
                            tiny(sample_rate=16000, window_s=0.16))
    limited.setup()
    assert len(limited._train or []) == 2 and limited._val == []
    assert dataset_model_settings(a, b) == {"fps": 25.0, "sample_rate": 16000, "crop_size": 32}
    meta = json.loads((b / "dataset.json").read_text())
    (b / "dataset.json").write_text(json.dumps({**meta, "fps": 30.0}))
    with pytest.raises(InputError, match="differ"):
        dataset_model_settings(a, b)
