"""Inputs a new user tried that broke talkface (the adversarial sweep of 2026-12-01), each kept working.

- an 8-channel 96 kHz WAV crashed the audio reader with a segmentation fault (PyAV's planar
  ``to_ndarray`` on >= 8 channels), with no message at all;
- a bad photo (truncated, no face, three faces, an mp3 named .jpg) printed its one-line error
  and then died with SIGSEGV / SIGABRT (exit 139/134, not 2): the speech encoder was still
  running in a background thread when Python exited;
- a 12000x9000 phone photo was refused as too large although ``max_side`` downscales it anyway;
- an AVIF photo was refused by the server as "an MP4/M4A file", a HEIC one "unrecognised";
- ``kill`` (SIGTERM) while encoding left the hidden temporary video in the output folder;
- Ctrl-C while the speech features were still computed in the background took 5-17 s to end the
  process (it waited at exit for the busy encoder thread); now about a second;
- peak memory grew by 0.84 MB per second of speech (1.1 GB for 10 min): the speech features,
  their pooling to frames, the loudness and the motion model's input windows are now computed
  in blocks, bit-identically (0.31 MB/s).
All files are generated here, small.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

import talkface.io.images as images
from talkface.errors import InputError
from talkface.io.media import read_audio
from talkface.photo_video import resize_to

SR = 16000


@pytest.mark.parametrize("channels", [8, 12])
def test_many_channel_high_rate_wav_is_mixed_down(tmp_path: Path, channels: int) -> None:
    rate = 96000
    t = np.arange(rate // 2) / rate
    tone = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    data = np.zeros((tone.size, channels), np.float32)
    data[:, 0] = tone  # one channel speaks, the others are silent: the mix keeps 1/channels of it
    path = tmp_path / "surround.wav"
    sf.write(path, data, rate, subtype="PCM_24")
    audio = read_audio(path)
    assert audio.dtype == np.float32 and abs(audio.size - SR // 2) <= 2
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    assert abs(np.fft.rfftfreq(audio.size, 1 / SR)[spectrum.argmax()] - 440) < 5
    assert np.sqrt(np.mean(audio[2000:-2000] ** 2)) == pytest.approx(0.4 / np.sqrt(2) / channels, rel=0.05)


def test_mono_and_stereo_still_read_as_before(tmp_path: Path) -> None:
    x = np.linspace(-0.5, 0.5, SR, dtype=np.float32)
    sf.write(tmp_path / "m.wav", x, SR, subtype="FLOAT")
    sf.write(tmp_path / "s.wav", np.stack([x, -x / 2], axis=1), SR, subtype="FLOAT")
    assert np.allclose(read_audio(tmp_path / "m.wav"), x, atol=1e-6)
    assert np.allclose(read_audio(tmp_path / "s.wav"), x / 4, atol=1e-6)


def _phone_photo(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A smooth JPEG (a gradient, a dark disc) of ``size``; returns its pixels as written."""
    w, h = size
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    rgb = np.stack([xx / w * 255, yy / h * 255, np.full_like(xx, 128)], axis=2)
    rgb[(xx - w / 2) ** 2 + (yy - h / 2) ** 2 < (h / 4) ** 2] = 20
    rgb8 = rgb.astype(np.uint8)
    Image.fromarray(rgb8).save(path, quality=90)
    return rgb8


def test_huge_jpeg_is_decoded_small_when_it_is_downscaled_anyway(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A photo over the size limits (scaled down here: 3000x2000 against 1000 px / 1 MP, as 12000x9000
    against 8192 px / 40 MP) is refused when read at full size, and read at 1/2..1/8 scale when the
    caller downscales to ``max_side`` anyway; the result matches downscaling the full image."""
    monkeypatch.setattr(images, "MAX_IMAGE_SIDE", 1000)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 1_000_000)
    path = tmp_path / "phone.jpg"
    full = _phone_photo(path, (3000, 2000))
    with pytest.raises(InputError, match="too large"):
        images.read_image(path)
    small = images.read_image(path, max_side=640)
    assert small.shape == (500, 750, 3)  # 1/4 scale: the largest reduction keeping 640 px
    out = resize_to(small, 640)
    assert out.shape == (427, 640, 3)
    reference = resize_to(full, 640)
    assert np.abs(out.astype(int) - reference.astype(int)).mean() < 2.0
    # a PNG cannot be decoded small: still refused, with the limits in the message
    Image.fromarray(full).save(tmp_path / "phone.png")
    with pytest.raises(InputError, match="too large"):
        images.read_image(tmp_path / "phone.png", max_side=640)


def test_huge_jpeg_keeps_its_exif_orientation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "MAX_IMAGE_SIDE", 1000)
    rgb = _phone_photo(tmp_path / "flat.jpg", (2400, 1600))
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    Image.fromarray(rgb).save(tmp_path / "rot.jpg", quality=90, exif=exif.tobytes())
    out = images.read_image(tmp_path / "rot.jpg", max_side=600)
    assert out.shape == (600, 400, 3)  # 1/4 scale, upright (portrait)


def test_a_failed_run_exits_cleanly_while_speech_features_are_computed(tmp_path: Path) -> None:
    """The process ends with its own status, not a crash, while the speech encoder still runs."""
    script = textwrap.dedent("""
        import sys, time, numpy as np, torch
        torch.ones(300, 300) @ torch.ones(300, 300)  # the command has torch loaded, as animate has
        from talkface.audio.prefetch import PrefetchingExtractor
        from talkface.audio.whisper import WhisperEncoder, load_whisper_model
        load_whisper_model()
        t = np.arange(16000 * 120) / 16000
        audio = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(t) > 0)).astype(np.float32)
        PrefetchingExtractor(WhisperEncoder()).start(audio, 3000, 25.0)
        time.sleep(1.0)  # the encoder is inside CTranslate2 now (the face stage runs meanwhile)
        print("talkface: error: photo.jpg: no face found", file=sys.stderr)
        sys.exit(2)
    """)
    for _ in range(2):
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert run.returncode == 2, run.stderr[-2000:]
        assert run.stderr.strip() == "talkface: error: photo.jpg: no face found"


def _iso_media(brand: bytes, compatible: bytes = b"") -> bytes:
    """The start of an ISO media file (the ftyp box) of a major brand, then filler."""
    box = brand + b"\0\0\0\0" + compatible
    return (8 + len(box)).to_bytes(4, "big") + b"ftyp" + box + b"\0" * 200


def test_an_iphone_heic_photo_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(_iso_media(b"heic", b"mif1heic"))
    with pytest.raises(InputError, match=r"IMG_0001.HEIC: HEIC/HEIF image \(an iPhone photo\) is not supported; "):
        images.read_image(path)


def test_the_server_tells_avif_and_heic_from_mp4() -> None:
    from talkface.serve.validate import IMAGE_FORMATS, _describe, sniff

    assert sniff(_iso_media(b"avif", b"mif1miaf")[:64]) == "avif"
    assert sniff(_iso_media(b"mif1", b"avifmiaf")[:64]) == "avif"
    assert sniff(_iso_media(b"heic", b"mif1heic")[:64]) == "heic"
    assert sniff(_iso_media(b"isom", b"iso2mp41")[:64]) == "mp4"
    assert sniff(_iso_media(b"M4A ")[:64]) == "mp4"
    assert "heic" not in IMAGE_FORMATS and "iPhone photo" in _describe("heic")


def test_an_avif_photo_reads_where_pillow_decodes_avif(tmp_path: Path) -> None:
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF decoder")
    from talkface.serve.validate import IMAGE_FORMATS, check_image

    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:, :32] = (200, 120, 90)
    Image.fromarray(rgb).save(tmp_path / "p.avif", quality=90)
    assert check_image(tmp_path / "p.avif", "face", max_pixels=10**6).format == "avif" and "avif" in IMAGE_FORMATS
    out = images.read_image(tmp_path / "p.avif")
    assert out.shape == (48, 64, 3) and np.abs(out.astype(int) - rgb).mean() < 6


_SLOW_ANIMATE = """
import sys, time
import numpy as np
import talkface.pipeline as pipeline
from talkface.photo_video import write_frames


class Slow:  # the animator as far as encoding, at a frame every 50 ms
    def __init__(self, config):
        pass

    def animate(self, face, speech, output, **options):
        def frames():
            for i in range(100000):
                if i == 5:
                    print("encoding", flush=True)
                time.sleep(0.05)
                yield np.full((64, 64, 3), i % 256, np.uint8)
        write_frames(output, frames(), 25.0, audio=None)


pipeline.Animator = Slow
from talkface.cli import main
sys.exit(main(["animate", sys.argv[1], sys.argv[2], "-o", sys.argv[3], "-q", "--model", sys.argv[4]]))
"""


@pytest.mark.parametrize(("sig", "rc", "word"), [("SIGTERM", 143, "terminated"), ("SIGINT", 130, "interrupted")])
def test_kill_or_ctrl_c_while_encoding_leaves_no_file(tmp_path: Path, sig: str, rc: int, word: str) -> None:
    """``kill`` (SIGTERM: timeout, docker stop) used to leave the hidden temporary video behind."""
    import signal

    from talkface.pipeline import DEFAULT_MODEL

    Image.new("RGB", (32, 32)).save(tmp_path / "face.png")
    sf.write(tmp_path / "speech.wav", np.zeros(SR, np.float32), SR)
    out = tmp_path / "videos" / "out.mp4"
    out.parent.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_ANIMATE, str(tmp_path / "face.png"), str(tmp_path / "speech.wav"), str(out),
         str(DEFAULT_MODEL)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))  # as in a terminal
    assert proc.stdout is not None and proc.stdout.readline().strip() == "encoding"
    assert [p.name for p in out.parent.iterdir() if ".part" in p.name]  # the temporary file exists
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == rc, err[-2000:]
    assert err.strip().splitlines()[-1] == f"talkface: {word}"
    assert list(out.parent.iterdir()) == []


_BUSY_AT_EXIT = """
import sys, time
from talkface.audio.background import exit_promptly, start_thread

def work():  # like a call into CTranslate2 / hama: does not look at stopping()
    time.sleep(60)

start_thread(work, "busy")
print("talkface: interrupted", file=sys.stderr)
exit_promptly(130)
sys.exit(130)
"""


def test_an_interrupt_does_not_wait_at_exit_for_busy_background_work() -> None:
    """At exit after Ctrl-C, a background thread stuck in native code is not waited for (it was, up to 30 s)."""
    import time

    t0 = time.monotonic()
    run = subprocess.run([sys.executable, "-c", _BUSY_AT_EXIT], capture_output=True, text=True, timeout=120)
    assert run.returncode == 130, run.stderr[-2000:]
    assert run.stderr.strip() == "talkface: interrupted"
    assert time.monotonic() - t0 < 15


def _read_until(fd: int, word: str, timeout: float) -> str:
    """What a pipe gave until ``word`` appeared in it."""
    import os
    import select
    import time

    seen = b""
    deadline = time.monotonic() + timeout
    while word.encode() not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 4096) if ready else b""
        if not chunk:
            raise AssertionError(f"no {word!r} within {timeout} s: {seen[-2000:]!r}")
        seen += chunk
    return seen.decode(errors="replace")


@pytest.mark.slow
def test_ctrl_c_in_a_real_animate_ends_it_promptly(tmp_path: Path) -> None:
    """Ctrl-C in ``talkface animate`` while the speech features are computed beside the face stage."""
    import os
    import signal
    import time

    root = Path(__file__).parents[1]
    speech, rate = sf.read(root / "examples" / "speech.wav", dtype="float32")
    sf.write(tmp_path / "long.wav", np.tile(speech, int(np.ceil(30 * rate / len(speech)))), rate)
    out = tmp_path / "videos" / "out.mp4"
    out.parent.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from talkface.cli import main; sys.exit(main())", "animate",
         str(root / "examples" / "face.png"), str(tmp_path / "long.wav"), "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))  # as in a terminal
    try:
        assert proc.stderr is not None
        _read_until(proc.stderr.fileno(), "face", timeout=120)  # the speech features are computed meanwhile
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=120)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    last = rest.decode(errors="replace").replace("\r", "\n").strip().splitlines()[-1]
    assert proc.returncode == 130, rest[-2000:]
    assert last == "talkface: interrupted"
    assert list(out.parent.iterdir()) == []
    assert took < 20, took  # generous (about 1 s; it took 5-17 s under load)


def test_whisper_log_mel_in_blocks_is_bit_identical_and_small() -> None:
    """Long speech: the log-mel is computed 30 s at a time (a 10-min file's STFT temporaries took 420 MB)."""
    import tracemalloc

    from talkface.audio.mel import stft
    from talkface.audio.whisper import _mel_filters, whisper_log_mel

    def whole(audio: np.ndarray) -> np.ndarray:  # the reference: the whole signal's STFT at once
        power = np.abs(stft(audio, 400, 160)[:, :-1]) ** 2
        log_spec = np.log10(np.maximum(_mel_filters(80) @ power, 1e-10))
        return ((np.maximum(log_spec, log_spec.max() - 8.0) + 4.0) / 4.0).astype(np.float32)

    rng = np.random.default_rng(3)
    t = np.arange(SR * 120) / SR
    audio = (0.2 * np.sin(2 * np.pi * 180 * t) * (np.sin(0.7 * t) > 0) + 0.01 * rng.standard_normal(t.size))
    audio = audio.astype(np.float32)
    for n in (300, 1645, 3267, 6194, SR * 30, SR * 30 + 160, SR * 61 + 7):  # below, at, across block boundaries
        assert np.array_equal(whisper_log_mel(audio[:n]), whole(audio[:n])), n
    tracemalloc.start()
    mel = whisper_log_mel(audio)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert mel.shape == (80, 12000)
    assert peak < 50e6, f"{peak / 1e6:.0f} MB for 120 s (the whole-signal STFT took ~85 MB)"


def test_per_frame_pooling_of_long_speech_is_unchanged_and_small() -> None:
    """10 min of speech: pooling Whisper's 50 Hz states to 25 fps and the per-frame loudness took
    ~460 MB and ~190 MB of temporaries; now a few columns / frames at a time, the same numbers."""
    import tracemalloc

    from talkface.audio import windows

    rng = np.random.default_rng(5)
    states = rng.standard_normal((30000, 384)).astype(np.float32)  # 600 s at 50 Hz
    audio = (0.1 * rng.standard_normal(SR * 600)).astype(np.float32)
    short = states[:151].astype(np.float64)
    # the reference: the whole-array formulas
    prefix = windows._prefix_integral(short)
    centres = windows.frame_centres(75, 25.0) * 50.0
    lo, hi = centres - 1.0, centres + 1.0
    whole = ((windows._integral_to(short, prefix, hi) - windows._integral_to(short, prefix, lo))
             / (hi - lo)[:, None]).astype(np.float32)
    assert np.array_equal(windows.resample_to_frames(states[:151], 50.0, 75, 25.0), whole)
    w = windows.raw_windows(audio[: SR * 50], 1250, 25.0, 640, SR)
    assert np.array_equal(windows.audio_rms_per_frame(audio[: SR * 50], 1250, 25.0),
                          np.sqrt(np.mean(np.square(w.astype(np.float64)), axis=1)).astype(np.float32))
    tracemalloc.start()
    pooled = windows.resample_to_frames(states, 50.0, 15000, 25.0)
    rms = windows.audio_rms_per_frame(audio, 15000, 25.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert pooled.shape == (15000, 384) and rms.shape == (15000,)
    assert peak < 100e6, f"{peak / 1e6:.0f} MB"


def test_motion_windows_in_blocks_equal_the_whole() -> None:
    """The l-GAN's input windows are made 1024 frames at a time (all of 10 min took 200 MB)."""
    from talkface.audio.windows import frame_window_blocks, frame_windows

    rng = np.random.default_rng(2)
    for frames in (0, 1, 5, 1023, 1025, 2100):
        feats = rng.standard_normal((frames, 7)).astype(np.float32)
        for dt in (1, 6):
            for align in ("centre", "end"):
                blocks = list(frame_window_blocks(feats, dt, align, 1024))  # type: ignore[arg-type]
                assert all(len(b) <= 1024 for b in blocks)
                got = np.concatenate(blocks) if blocks else np.zeros((0, dt, 7), np.float32)
                assert np.array_equal(got, frame_windows(feats, dt, align)), (frames, dt, align)  # type: ignore[arg-type]


def test_animate_replaces_an_existing_output_only_when_it_succeeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``-o`` over an existing video (as ``--help`` says): a run that fails while encoding keeps the old file
    byte for byte; one that succeeds replaces it. The animator is replaced by one that only encodes."""
    from types import SimpleNamespace

    import talkface.pipeline as pipeline
    from talkface.cli import main
    from talkface.io.media import probe
    from talkface.photo_video import write_frames

    fail_at: list[int | None] = [None]

    class Encoder:
        def __init__(self, config: object) -> None:
            pass

        def animate(self, face: object, speech: object, output: Path, **options: object) -> SimpleNamespace:
            def frames() -> object:
                for i in range(10):
                    if i == fail_at[0]:
                        raise InputError(speech, "unreadable audio (cut off)")
                    yield np.full((64, 64, 3), 20 * i, np.uint8)
            n = write_frames(output, frames(), 25.0, audio=None)  # type: ignore[arg-type]
            return SimpleNamespace(warnings=[], stage_seconds={}, output=output, frames=n, fps=25.0, duration_s=0.4,
                                   seconds=0.1, frames_per_second=100.0)

    monkeypatch.setattr(pipeline, "Animator", Encoder)
    Image.new("RGB", (32, 32)).save(tmp_path / "face.png")
    sf.write(tmp_path / "speech.wav", np.zeros(SR, np.float32), SR)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier video")
    argv = ["animate", str(tmp_path / "face.png"), str(tmp_path / "speech.wav"), "-o", str(out), "-q",
            "--model", str(pipeline.DEFAULT_MODEL)]
    fail_at[0] = 5
    assert main(argv) == 2
    assert "unreadable audio (cut off)" in capsys.readouterr().err
    assert out.read_bytes() == b"an earlier video" and sorted(p.name for p in tmp_path.iterdir()) == [
        "face.png", "out.mp4", "speech.wav"]  # no temporary file left either
    fail_at[0] = None
    assert main(argv) == 0
    assert probe(out).num_frames == 10
