"""The one photo -> video path (:mod:`talkface.photo_video`) gives the same message for the same bad input.

Each bad input is given to ``talkface animate``, ``talkface animate-e2e`` and ``talkface landmarks``
(in-process, ``talkface.cli.main``) and uploaded to ``talkface serve`` (the live server with the real
pipeline): every front end must refuse it with one line naming the same file (the CLI) or form field
(the server) and the same problem, word for word, and must write nothing. Inputs that cannot reach
the server (a missing file, an output path: the server chooses its own) are walked through the
three commands only.
"""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from serve_media import real_pipeline_missing, shared_server
from talkface.cli import main
from talkface.errors import InputError
from talkface.photo_video import check_paths, prepare_photo, read_speech, resize_to

if real_pipeline_missing():
    pytest.skip(str(real_pipeline_missing()), allow_module_level=True)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FIX = Path(__file__).parent / "fixtures"
COMMANDS = ("animate", "animate-e2e", "landmarks")

# A CPU-sized end-to-end model (untrained: only the checks in front of it are walked here).
TINY_E2E = {"image_size": 16, "window_s": 0.08, "base_channels": 4, "audio_base_channels": 4, "audio_code_size": 16,
            "context_size": 16, "disc_frame_code_size": 8, "disc_audio_code_size": 8, "disc_rnn_size": 16}


@dataclasses.dataclass
class Bad:
    """One bad input: ``make(dir)`` returns (face, speech, output); ``at`` is the input at fault
    (``"face"``, ``"speech"`` or ``"output"``); ``text`` is in the problem; ``serve``: also uploaded."""

    name: str
    make: Callable[[Path], tuple[Path, Path, Path]]
    at: str
    text: str
    serve: bool = True
    unwritable: bool = False


def _png(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(rgb).save(path)
    return path


def _wav(path: Path, audio: np.ndarray) -> Path:
    sf.write(path, audio, 16000)
    return path


def _good(d: Path) -> tuple[Path, Path, Path]:
    return EXAMPLES / "face.png", EXAMPLES / "speech.wav", d / "out.mp4"


def _no_face(d: Path) -> tuple[Path, Path, Path]:
    yy, xx = np.mgrid[:240, :320].astype(np.float32)
    gradient = np.stack([xx / 320 * 255, yy / 240 * 255, np.full_like(xx, 128)], axis=2).astype(np.uint8)
    return _png(d / "wall.png", gradient), EXAMPLES / "speech.wav", d / "out.mp4"


def _two_faces(d: Path) -> tuple[Path, Path, Path]:
    face = np.asarray(Image.open(EXAMPLES / "face.png").convert("RGB"))
    return _png(d / "two.png", np.concatenate([face, face], axis=1)), EXAMPLES / "speech.wav", d / "out.mp4"


def _truncated_photo(d: Path) -> tuple[Path, Path, Path]:
    buf = io.BytesIO()
    Image.open(EXAMPLES / "face.png").convert("RGB").save(buf, "JPEG", quality=95)
    (d / "cut.jpg").write_bytes(buf.getvalue()[:6000])
    return d / "cut.jpg", EXAMPLES / "speech.wav", d / "out.mp4"


def _missing_speech(d: Path) -> tuple[Path, Path, Path]:
    return EXAMPLES / "face.png", d / "nowhere.wav", d / "out.mp4"


def _empty_speech(d: Path) -> tuple[Path, Path, Path]:
    (d / "empty.wav").write_bytes(b"")
    return EXAMPLES / "face.png", d / "empty.wav", d / "out.mp4"


def _silent_speech(d: Path) -> tuple[Path, Path, Path]:
    return EXAMPLES / "face.png", _wav(d / "silent.wav", np.zeros(16000, np.float32)), d / "out.mp4"


def _short_speech(d: Path) -> tuple[Path, Path, Path]:
    speech, rate = sf.read(EXAMPLES / "speech.wav", dtype="float32")
    assert rate == 16000
    return EXAMPLES / "face.png", _wav(d / "short.wav", speech[8000:9600]), d / "out.mp4"  # 0.1 s of speech


def _output_is_speech(d: Path) -> tuple[Path, Path, Path]:
    clip = Path(shutil.copy(FIX / "bbaf2n.mp4", d / "clip.mp4"))
    return EXAMPLES / "face.png", clip, clip


BAD = [
    Bad("no_face", _no_face, "face", "no face found"),
    Bad("two_faces", _two_faces, "face", "faces found"),
    Bad("unreadable_photo", _truncated_photo, "face", "truncated"),
    Bad("missing_speech", _missing_speech, "speech", "no such file", serve=False),
    Bad("empty_speech", _empty_speech, "speech", "file is empty"),
    Bad("silent_speech", _silent_speech, "speech", "silent"),
    Bad("too_short_speech", _short_speech, "speech", "too short"),
    Bad("output_is_input", _output_is_speech, "output", "output is the input file", serve=False),
    Bad("output_folder_unwritable", _good, "output", "output folder is not writable", serve=False, unwritable=True),
]


@pytest.fixture(scope="module")
def e2e_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny temporal-GAN checkpoint as ``talkface train e2e`` writes it (untrained weights)."""
    from talkface.e2e import E2EConfig, TemporalGAN
    from talkface.io.checkpoint import MODULE_CLASS_KEY

    torch.manual_seed(0)
    config = E2EConfig(**TINY_E2E)  # type: ignore[arg-type]
    module = TemporalGAN(config)
    path = tmp_path_factory.mktemp("e2e") / "tiny.ckpt"
    torch.save({MODULE_CLASS_KEY: f"{TemporalGAN.__module__}:{TemporalGAN.__qualname__}",
                "hyper_parameters": {"config": dataclasses.asdict(config)}, "state_dict": module.state_dict()}, path)
    return path


def _argv(command: str, face: Path, speech: Path, out: Path, checkpoint: Path) -> list[str]:
    if command == "animate":
        return ["animate", str(face), str(speech), "-o", str(out), "-q", "--threads", "1"]
    if command == "animate-e2e":
        return ["animate-e2e", str(face), str(speech), "-o", str(out), "--checkpoint", str(checkpoint), "-q",
                "--threads", "1"]
    return ["landmarks", str(face), str(speech), "-o", str(out), "--threads", "1"]


def _cli_problem(command: str, bad: Bad, d: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> str:
    """Run one command on one bad input; the problem of its one-line error (after the file it names)."""
    face, speech, out = bad.make(d)
    before = sorted(p.name for p in d.iterdir())
    with monkeypatch.context() as m:
        if bad.unwritable:
            import talkface.config_checks as checks

            m.setattr(checks.os, "access", lambda path, mode: False)  # tests run as root: chmod would not do
        code = main(_argv(command, face, speech, out, checkpoint))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (command, bad.name, err)
    line = err[-1]
    assert "Traceback" not in "\n".join(err), err
    named = {"face": face, "speech": speech, "output": out}[bad.at]
    prefix = f"talkface: error: {named}: "
    assert line.startswith(prefix), (command, bad.name, line)
    assert sorted(p.name for p in d.iterdir()) == before, f"{command} wrote something for {bad.name}"
    return line.removeprefix(prefix)


def _serve_problem(client: httpx.Client, bad: Bad, d: Path) -> str:
    """Upload one bad input to the live server; the problem of its one-line error (after the form field)."""
    face, speech, _ = bad.make(d)
    files = {"face": (face.name, face.read_bytes(), "application/octet-stream"),
             "speech": (speech.name, speech.read_bytes(), "application/octet-stream")}
    r = client.post("/v1/animate", files=files, data={"size": "128"})
    if r.status_code == 202:  # accepted: the pipeline finds the problem
        job_id = r.json()["job"]
        deadline = time.monotonic() + 120
        while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job["status"] == "failed", job
        message = str(job["error"])
    else:  # refused at the upload
        assert 400 <= r.status_code < 500, r.text
        message = str(r.json()["error"])
    assert "\n" not in message
    assert message.startswith(f"{bad.at}: "), (bad.name, message)
    return message.removeprefix(f"{bad.at}: ")


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    server = shared_server()
    with httpx.Client(base_url=server.url, timeout=60, limits=httpx.Limits(max_keepalive_connections=0)) as c:
        yield c


@pytest.mark.parametrize("bad", BAD, ids=[b.name for b in BAD])
def test_same_bad_input_same_message_everywhere(bad: Bad, tmp_path: Path, e2e_checkpoint: Path,
                                                 client: httpx.Client, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    problems = {}
    for command in COMMANDS:
        d = tmp_path / command
        d.mkdir()
        problems[command] = _cli_problem(command, bad, d, e2e_checkpoint, capsys, monkeypatch)
    if bad.serve:
        d = tmp_path / "serve"
        d.mkdir()
        problems["serve"] = _serve_problem(client, bad, d)
    assert bad.text in problems["animate"], problems
    assert len(set(problems.values())) == 1, problems


def test_photo_is_read_upright_downscaled_and_its_face_found(tmp_path: Path) -> None:
    face = np.asarray(Image.open(EXAMPLES / "face.png").convert("RGB"))
    big = _png(tmp_path / "big.png", np.asarray(Image.fromarray(face).resize((face.shape[1] * 3, face.shape[0] * 3))))
    photo = prepare_photo(big, max_side=400)
    assert max(photo.image.shape[:2]) == 400 and photo.landmarks.shape == (68, 2)
    assert photo.landmarks[:, 0].max() < photo.image.shape[1] and photo.landmarks[:, 1].max() < photo.image.shape[0]
    assert resize_to(face, 0) is face and resize_to(face, 10_000) is face


def test_read_speech_cuts_or_refuses(tmp_path: Path) -> None:
    speech = EXAMPLES / "speech.wav"
    assert len(read_speech(speech, cut_s=1.0)) == 16000
    with pytest.raises(InputError, match=re.escape("speech too long (3.0 s; the limit is 1 s)")):
        read_speech(speech, max_duration_s=1.0)
    with pytest.raises(InputError, match="is a folder, not a photo"):
        check_paths(tmp_path, speech, tmp_path / "out.mp4")


def test_animate_e2e_checks_the_output_before_loading(tmp_path: Path) -> None:
    """The library call (not only the CLI) refuses an output that is its input, before the checkpoint is read."""
    from talkface.e2e import animate_e2e

    clip = Path(shutil.copy(FIX / "bbaf2n.mp4", tmp_path / "clip.mp4"))
    with pytest.raises(InputError, match="output is the input file"):
        animate_e2e(EXAMPLES / "face.png", clip, clip, tmp_path / "no.ckpt")
