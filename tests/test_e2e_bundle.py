"""The bundled end-to-end generator: `talkface animate-e2e` without --checkpoint, generator files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from talkface.e2e.bundle import BUNDLED_GENERATOR, FORMAT, is_generator_file, load_e2e_generator
from talkface.e2e.config import E2EConfig
from talkface.e2e.networks import Generator
from talkface.e2e.stream import generate_batch
from talkface.errors import InputError
from talkface.io.checkpoint import save_inference_file


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


def test_bundled_generator_is_small_and_grid_only() -> None:
    assert BUNDLED_GENERATOR.is_file() and is_generator_file(BUNDLED_GENERATOR)
    assert BUNDLED_GENERATOR.stat().st_size < 8e6
    payload = torch.load(BUNDLED_GENERATOR, map_location="cpu", weights_only=True)
    assert payload["format"] == FORMAT and "state_dict" in payload
    assert not any(k.startswith(("frame_discriminator", "sequence_discriminator")) for k in payload["state_dict"])
    assert "GRID" in payload["meta"]["data"] and "wild" not in payload["meta"]["data"]
    assert (BUNDLED_GENERATOR.parent / "MODEL_CARD.md").is_file()
    assert load_e2e_generator().config == load_e2e_generator(BUNDLED_GENERATOR).config


def test_generator_file_round_trip(tmp_path: Path) -> None:
    cfg = E2EConfig(image_size=16, sample_rate=8000, window_s=0.08, base_channels=4, audio_base_channels=4,
                    audio_code_size=16, context_size=16)
    torch.manual_seed(0)
    gen = Generator(cfg).eval()
    path = save_inference_file(gen, FORMAT, tmp_path / "g.pt")
    back = load_e2e_generator(path)
    assert back.config == cfg
    rng = np.random.default_rng(0)
    still = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    audio = (0.1 * rng.standard_normal(8000)).astype(np.float32)
    a, b = generate_batch(gen, still, audio), generate_batch(back, still, audio)
    assert a.shape == b.shape == (25, 16, 16, 3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 3  # fp16 weights
    with pytest.raises(InputError, match="checkpoint not found"):
        load_e2e_generator(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not torch")
    with pytest.raises(InputError):
        load_e2e_generator(tmp_path / "junk.pt")


def test_cli_animate_e2e_without_checkpoint(grid_mpg: Path, grid_mpg_female: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The bundled generator animates an unseen GRID speaker's face; the photo keeps its size."""
    from talkface.cli import main
    from talkface.eval.metrics import psnr
    from talkface.io.images import write_image
    from talkface.io.media import probe, read_video

    frames, _ = read_video(grid_mpg_female, max_frames=1)
    photo = tmp_path / "photo.png"
    write_image(photo, frames[0])
    out = tmp_path / "out.mp4"
    rc = main(["animate-e2e", str(photo), str(grid_mpg), "-o", str(out), "--max-duration", "1", "--threads", "1",
               "-q"])
    assert rc == 0 and capsys.readouterr().out.strip() == f"{out}: 25 frames"
    info = probe(out)
    assert info.has_audio and info.num_frames == 25 and (info.width, info.height) == (360, 288)
    video, _ = read_video(out)
    # the photo around the face is kept, and the generated face moves with the speech
    assert psnr(frames[0][None], video[:1]) > 20.0
    assert np.abs(video[1:].astype(int) - video[:-1].astype(int)).mean(axis=(1, 2, 3)).max() > 0.05
