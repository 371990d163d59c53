"""End-to-end tests of the cascade (talkface.pipeline, `talkface animate`) with the bundled default model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from talkface.cli import main
from talkface.errors import InputError
from talkface.io.media import probe, read_audio, read_video
from talkface.pipeline import BUNDLE_FILE, DEFAULT_MODEL, AnimateConfig, Animator, load_bundle, make_bundle
from talkface.train.core import export_module, load_module

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def animator() -> Animator:
    torch.set_num_threads(1)
    return Animator(AnimateConfig(threads=1))


@pytest.fixture(scope="module")
def example_video(animator: Animator, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("animate") / "out.mp4"
    stages: list[tuple[str, float]] = []
    result = animator.animate(EXAMPLES / "face.png", EXAMPLES / "speech.wav", out,
                              progress=lambda s, f: stages.append((s, f)))
    assert stages[-1] == ("done", 1.0)
    assert [s for s, _ in stages if s == "texture"], "texture progress was reported"
    return out, result


def test_default_bundle_is_small_and_complete() -> None:
    info = json.loads((DEFAULT_MODEL / BUNDLE_FILE).read_text())
    total = sum(p.stat().st_size for p in DEFAULT_MODEL.iterdir())
    assert total < 50e6
    for key in ("lgan", "blink", "texture"):
        assert (DEFAULT_MODEL / info[key]).is_file()
    assert (DEFAULT_MODEL / "MODEL_CARD.md").is_file()


def test_animate_writes_playable_video_with_speech(example_video: tuple[Path, object]) -> None:
    out, result = example_video
    info = probe(out)
    face = np.asarray(Image.open(EXAMPLES / "face.png").convert("RGB"))
    speech = read_audio(EXAMPLES / "speech.wav")
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (face.shape[1], face.shape[0])
    expected = round(len(speech) / 16000 * 25)
    assert info.num_frames == expected == result.frames  # type: ignore[attr-defined]
    assert abs(info.duration_s - len(speech) / 16000) < 0.1


def test_animated_mouth_moves_and_background_stays(example_video: tuple[Path, object]) -> None:
    out, _ = example_video
    frames, _ = read_video(out)
    face = np.asarray(Image.open(EXAMPLES / "face.png").convert("RGB")).astype(np.float32)
    from talkface.face.landmarks import landmarks_for_image

    lm = landmarks_for_image(face.astype(np.uint8), "face.png")
    x0, y0 = lm[48:68].min(0).astype(int)
    x1, y1 = lm[48:68].max(0).astype(int)
    mouth = frames[:, y0 - 4 : y1 + 6, x0 - 4 : x1 + 4].astype(np.float32)
    # the mouth changes over time (std over frames, mean over pixels, 0-255 scale)
    assert mouth.std(axis=0).mean() > 4.0
    # far from the face nothing changes but codec noise
    corner = frames[:, :40, :40].astype(np.float32)
    assert np.abs(corner - face[None, :40, :40]).mean() < 4.0


def test_animate_crop_output_and_blink_rate_none(animator: Animator, tmp_path: Path) -> None:
    out = tmp_path / "crop.mp4"
    result = animator.animate(EXAMPLES / "face.png", EXAMPLES / "speech.wav", out, size=96, blink_rate=None)
    info = probe(out)
    assert (info.width, info.height) == (96, 96)
    assert result.frames == info.num_frames


def test_same_seed_same_motion(animator: Animator) -> None:
    still = np.asarray(Image.open(EXAMPLES / "face.png").convert("RGB"))
    audio = read_audio(EXAMPLES / "speech.wav")[: 16000]
    a = animator.talking_head(still, audio)
    b = animator.talking_head(still, audio)
    assert a.shape == (25, *still.shape)
    assert np.array_equal(a, b)


def test_motion_scale_sets_how_much_the_mouth_moves(animator: Animator) -> None:
    from dataclasses import replace

    from talkface.face.landmarks import landmarks_for_image

    still = np.asarray(Image.open(EXAMPLES / "face.png").convert("RGB"))
    audio = read_audio(EXAMPLES / "speech.wav")[: 32000]
    lm = landmarks_for_image(still, "face.png")
    (x0, y0), (x1, y1) = lm[48:68].min(0).astype(int), lm[48:68].max(0).astype(int)
    motion = {}
    config = animator.config
    try:
        for gain in (0.0, 1.0, 1.5):
            animator.config = replace(config, motion_scale=gain, head_motion=0.0)  # the mouth alone
            frames = animator.talking_head(still, audio)
            motion[gain] = float(frames[:, y0 - 4 : y1 + 6, x0 - 4 : x1 + 4].astype(np.float32).std(axis=0).mean())
    finally:
        animator.config = config
    assert motion[0.0] < 0.5 * motion[1.0] < 0.5 * motion[1.5], motion
    with pytest.raises(ValueError, match="motion.scale"):  # --motion-scale: a config refuses it when made
        Animator(AnimateConfig(motion_scale=float("nan")))


def test_animate_takes_a_per_call_motion_scale(animator: Animator, tmp_path: Path) -> None:
    out = tmp_path / "still_mouth.mp4"
    with pytest.raises(ValueError, match="motion_scale"):
        animator.animate(EXAMPLES / "face.png", EXAMPLES / "speech.wav", out, motion_scale=-1.0)
    assert not out.exists()
    with pytest.raises(ValueError, match="head_motion"):
        animator.animate(EXAMPLES / "face.png", EXAMPLES / "speech.wav", out, head_motion=-1.0)
    assert not out.exists()
    result = animator.animate(EXAMPLES / "face.png", EXAMPLES / "speech.wav", out, size=128, motion_scale=0.0,
                              head_motion=0.0)
    frames, _ = read_video(out)
    lower = frames[:, 80:120, 32:96].astype(np.float32)  # the mouth region of the aligned crop
    assert result.frames == len(frames) and lower.std(axis=0).mean() < 2.0  # closed, still mouth


def _two_faces() -> np.ndarray:
    face = np.asarray(Image.open(EXAMPLES / "face.png").convert("RGB"))
    return np.concatenate([face, face], axis=1)


@pytest.mark.parametrize(
    "case",
    ["empty_audio", "silent_audio", "no_face", "two_faces", "image_as_audio", "audio_as_image", "bad_output"],
)
def test_bad_input_gives_input_error_and_no_file(animator: Animator, tmp_path: Path, case: str) -> None:
    face, speech, out = EXAMPLES / "face.png", EXAMPLES / "speech.wav", tmp_path / "out.mp4"
    if case == "empty_audio":
        speech = tmp_path / "empty.wav"
        speech.write_bytes(b"")
    elif case == "silent_audio":
        speech = tmp_path / "silent.wav"
        sf.write(speech, np.zeros(32000, np.float32), 16000)
    elif case == "no_face":
        face = tmp_path / "wall.png"
        Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(face)
    elif case == "two_faces":
        face = tmp_path / "two.png"
        Image.fromarray(_two_faces()).save(face)
    elif case == "image_as_audio":
        speech = tmp_path / "speech.wav"
        shutil.copy(EXAMPLES / "face.png", speech)
    elif case == "audio_as_image":
        face = tmp_path / "face.jpg"
        shutil.copy(EXAMPLES / "speech.wav", face)
    elif case == "bad_output":
        out = tmp_path / "missing" / "out.mp4"
    with pytest.raises(InputError) as err:
        animator.animate(face, speech, out)
    assert "\n" not in str(err.value)
    assert not out.exists()
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".mp4", ".tmp")]


def test_cli_animate_bad_input_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "speech.mp3"
    empty.write_bytes(b"")
    code = main(["animate", str(EXAMPLES / "face.png"), str(empty), "-o", str(tmp_path / "x.mp4"), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "speech.mp3" in err
    assert not (tmp_path / "x.mp4").exists()


def test_export_roundtrip_and_bundle_errors(tmp_path: Path) -> None:
    info = json.loads((DEFAULT_MODEL / BUNDLE_FILE).read_text())
    src = DEFAULT_MODEL / info["blink"]
    again = export_module(src, tmp_path / "blink32.pt", dtype=torch.float32)
    a, b = load_module(src).state_dict(), load_module(again).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k].float(), b[k].float()) for k in a)
    with pytest.raises(InputError):
        load_bundle(tmp_path)  # no talkface-model.json
    with pytest.raises(InputError):
        load_bundle(tmp_path / "nowhere")
    bundle = make_bundle(tmp_path / "b", DEFAULT_MODEL / info["lgan"], DEFAULT_MODEL / info["texture"], None)
    assert load_bundle(bundle).blink is None


def test_onnx_backend_matches_torch(animator: Animator) -> None:
    assert animator.backend == "onnx"  # the bundle carries texture_maps.onnx and onnxruntime is a dependency
    torch_animator = Animator(AnimateConfig(threads=1, backend="torch"))
    assert torch_animator.backend == "torch"
    still = np.asarray(Image.open(EXAMPLES / "face.png").convert("RGB"))
    audio = read_audio(EXAMPLES / "speech.wav")[:12000]
    a = animator.talking_head(still, audio).astype(np.int16)
    b = torch_animator.talking_head(still, audio).astype(np.int16)
    assert np.abs(a - b).max() <= 3


def test_photo_warnings_flag_an_open_mouth(grid_mpg_female: Path) -> None:
    from talkface.face.landmarks import landmarks_for_image
    from talkface.pipeline import photo_warnings

    neutral = np.asarray(Image.open(EXAMPLES / "face.png").convert("RGB"))
    assert photo_warnings(landmarks_for_image(neutral, "face.png")) == []
    frames, _ = read_video(grid_mpg_female)  # frame 0 of lbbc2a: mouth open
    notes = photo_warnings(landmarks_for_image(frames[0], grid_mpg_female))
    assert len(notes) == 1 and "mouth" in notes[0] and "better lip sync" in notes[0]
    closing = photo_warnings(landmarks_for_image(frames[0], grid_mpg_female), closing_mouth=True)
    assert len(closing) == 1 and "closed for the animation" in closing[0]
    wide = photo_warnings(landmarks_for_image(frames[0], grid_mpg_female), closing_mouth=True, part_way=True)
    assert len(wide) == 1 and "closed only part way" in wide[0]


def test_an_open_mouth_in_the_photo_is_closed_in_pauses(animator: Animator, grid_mpg_female: Path) -> None:
    """lbbc2a's first frame has the mouth open; over silence the animated mouth is closed (dlib on the
    output frames), unless close_mouth is off, when it stays open."""
    from dataclasses import replace

    from talkface.eval.motion_metrics import mouth_opening
    from talkface.face.landmarks import landmarks_for_image
    from talkface.motion.retarget import OPEN_MOUTH, mouth_is_open

    frames, _ = read_video(grid_mpg_female, max_frames=1)
    assert mouth_is_open(landmarks_for_image(frames[0], grid_mpg_female))
    silence = np.zeros(8000, np.float32)
    config = animator.config
    opening = {}
    try:
        for close in (True, False):
            animator.config = replace(config, close_mouth=close)
            out = animator.talking_head(frames[0], silence)
            opening[close] = max(float(mouth_opening(landmarks_for_image(f, "frame"))) for f in out[::4])
    finally:
        animator.config = config
    assert opening[True] < OPEN_MOUTH < opening[False], opening


class _InLine:
    """Stand-in for talkface.io.ahead.made_ahead: the frames made in the consumer's thread, as before."""

    waited_s = 0.0

    def __init__(self, frames: object, ahead: int, context: object = None) -> None:
        self.frames = frames

    def __iter__(self) -> object:
        return iter(self.frames)  # type: ignore[call-overload]

    def __enter__(self) -> object:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_frames_made_ahead_are_the_frames_made_in_line(animator: Animator, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The renderer thread beside the encoder (and its one torch thread) changes no pixel."""
    import threading

    import talkface.pipeline as pipeline

    real_write = pipeline.write_frames
    raw: dict[str, list[np.ndarray]] = {}
    threads: dict[str, list[str]] = {}

    def spy(name: str) -> object:
        def write(output: Path, frames: object, fps: float, **kw: object) -> int:
            def kept() -> object:
                for f in frames:  # type: ignore[attr-defined]
                    raw[name].append(f.copy())
                    threads[name] += [t.name for t in threading.enumerate() if t.name == "talkface-made-ahead"]
                    yield f
            raw[name], threads[name] = [], []
            return real_write(output, kept(), fps, **kw)  # type: ignore[arg-type]
        return write

    before = torch.get_num_threads()
    torch.set_num_threads(2)  # in line: the shading net on 2 threads; ahead: on 1
    try:
        monkeypatch.setattr(pipeline, "write_frames", spy("ahead"))
        animator.animate(EXAMPLES / "face.png", EXAMPLES / "speech.wav", tmp_path / "ahead.mp4")
        monkeypatch.setattr(pipeline, "write_frames", spy("inline"))
        monkeypatch.setattr(pipeline, "made_ahead", _InLine)
        animator.animate(EXAMPLES / "face.png", EXAMPLES / "speech.wav", tmp_path / "inline.mp4")
    finally:
        torch.set_num_threads(before)
    assert threads["ahead"] and not threads["inline"]  # the frames were made in the renderer thread, then not
    assert not [t for t in threading.enumerate() if t.name == "talkface-made-ahead"]  # joined
    assert len(raw["ahead"]) == len(raw["inline"]) > 50
    for a, b in zip(raw["ahead"], raw["inline"], strict=True):
        assert np.array_equal(a, b)  # the property: every frame handed to the encoder is bit-identical
    # the decoded videos: the same frames, encoded twice; once in ~6 full-suite runs under load (2026-12-02) the two
    # H.264 files differed by a level in some pixels although every raw frame was equal (the encoder, not the
    # frames), so they are compared as near-identical rather than bit for bit
    ahead, inline = read_video(tmp_path / "ahead.mp4")[0], read_video(tmp_path / "inline.mp4")[0]
    assert ahead.shape == inline.shape and float(np.abs(ahead.astype(np.int16) - inline).mean()) < 0.25


def test_warped_reference_is_the_same_request_with_nothing_painted(animator: Animator) -> None:
    """``talkface evaluate``'s "Colour Δ warp" reference: the last talking_head call's photo warped by the same
    requested landmarks, no interior or shading painted; outside mouth and eyes the two match (issue 14: ≤ 2/255)."""
    from talkface.eval.render_metrics import colour_change

    photo = np.asarray(Image.open(EXAMPLES / "face.png").convert("RGB"))
    audio = read_audio(EXAMPLES / "speech.wav")[:24000]
    frames = animator.talking_head(photo, audio)
    reference = animator.warped_reference()
    assert reference is not None and reference.shape == frames.shape
    requested = animator.last_requested_landmarks
    assert requested is not None
    assert colour_change(frames, reference, requested) < 2.0
    assert np.abs(frames.astype(int) - reference).max() > 20  # the painted mouth (and shading) is what differs
