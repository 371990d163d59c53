"""Bad-input corpus for the ``talkface`` command, run in-process (``talkface.cli.main``).

Every case is a command line a user could type that cannot work: an out-of-range or non-finite
number, an unknown device, an output that is an input, a missing or unusable file, a broken
dataset or model description. Each must end with the expected exit status and a one-line error
(the last line of stderr, naming the option or the file; argparse's own errors come after its
usage line), never a traceback, and must leave the workspace exactly as it was (nothing
written, nothing clobbered). No case may get as far as loading a model or starting a server:
those are replaced by tripwires, which also keeps the whole corpus fast (a few seconds).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from talkface.cli import main

FIX = Path(__file__).parent / "fixtures"
BIG_SEED = str(2**70)


class Tripwire(Exception):
    """A case got as far as loading a model or starting a server."""


@dataclass
class Case:
    """``argv`` (``{name}`` is replaced by the workspace file ``name``), the exit status, and text the last
    line of stderr must contain (``{name}`` replaced too). ``patch`` prepares a monkeypatch."""

    name: str
    argv: list[str]
    text: str
    rc: int = 2
    patch: Callable[[pytest.MonkeyPatch], None] | None = None


def _no_space(monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_animator(monkeypatch, OSError(errno.ENOSPC, "No space left on device", "out.mp4"))


def _no_permission(monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_animator(monkeypatch, PermissionError(errno.EACCES, "Permission denied", "out.mp4"))


def _failing_animator(monkeypatch: pytest.MonkeyPatch, error: OSError) -> None:
    """The animator as far as writing the video, where the disk fails (what encoding to a full disk raises)."""
    import talkface.pipeline as pipeline

    class Failing:
        def __init__(self, config: Any) -> None:
            self.config = config

        def animate(self, *args: Any, **kwargs: Any) -> Any:
            raise error

    monkeypatch.setattr(pipeline, "Animator", Failing)


def _unwritable(monkeypatch: pytest.MonkeyPatch) -> None:
    import talkface.config_checks as checks

    monkeypatch.setattr(checks.os, "access", lambda path, mode: False)  # tests run as root: chmod would not do


def _animate(*extra: str, out: str = "{dir}/out.mp4", face: str = "{face}", speech: str = "{speech}") -> list[str]:
    return ["animate", face, speech, "-o", out, "-q", *extra]


def _landmarks(*extra: str, out: str = "{dir}/lm.mp4") -> list[str]:
    return ["landmarks", "{face}", "{speech}", "-o", out, "--lgan", "{fake_ckpt}", *extra]


def _adapt(*extra: str, out: str = "{dir}/person.pt", inputs: tuple[str, ...] = ("{video}",)) -> list[str]:
    return ["adapt", *inputs, "-o", out, "-q", *extra]


def _pre(*extra: str, inputs: tuple[str, ...] = ("{corpus}",), out: str = "{dir}/ds") -> list[str]:
    return ["preprocess", *inputs, "-o", out, "-q", "--feature", "mfcc", *extra]


def _e2e(*extra: str, out: str = "{dir}/e2e.mp4") -> list[str]:
    return ["animate-e2e", "{face}", "{speech}", "-o", out, "--checkpoint", "{fake_ckpt}", "-q", *extra]


def _live(*extra: str, out: str = "{dir}/live.mp4", face: str = "{face}", audio: str = "{speech}") -> list[str]:
    return ["live", face, "--audio-from", audio, "-o", out, "-q", "--no-realtime", *extra]


def _batch(*extra: str) -> list[str]:
    return ["batch", "{dir}/jobs.csv", "-o", "{dir}/batch_out", "-q", *extra]


def _serve(*extra: str) -> list[str]:
    return ["serve", "--work-dir", "{dir}/serve-work", *extra]


def _worker(*extra: str) -> list[str]:
    return ["worker", "--queue", "redis://127.0.0.1:9/0", "--work-dir", "{dir}", *extra]


def _train(*extra: str) -> list[str]:
    return ["train", "motion", "{tiny_ds}", "-o", "{dir}/run", "-q", *extra]


def _number_cases(prefix: str, build: Callable[..., list[str]], option: str, values: list[str]) -> list[Case]:
    return [Case(f"{prefix}_{option.strip('-')}_{v}", build(option, v), option) for v in values]


CASES: list[Case] = [
    # ------------------------------------------------------------------ animate: numbers
    *_number_cases("animate", _animate, "--blink-rate", ["nan", "inf", "-inf", "1000", "3.5", "abc", "1e400"]),
    *_number_cases("animate", _animate, "--motion-scale", ["nan", "-1", "4", "inf", "x"]),
    *_number_cases("animate", _animate, "--size", ["-5", "4096", "16", "1025", "2.5", "abc"]),
    *_number_cases("animate", _animate, "--max-side", ["-1", "10", "100000"]),
    *_number_cases("animate", _animate, "--seed", [BIG_SEED, "-1", str(2**32), "1.5"]),
    *_number_cases("animate", _animate, "--max-duration", ["nan", "-1", "0", "inf", "1e9"]),
    *_number_cases("animate", _animate, "--threads", ["-1", "0", "100000", "x"]),
    *_number_cases("animate", _animate, "--crf", ["99", "-1", "52", "1.5"]),
    *_number_cases("animate", _animate, "--shading", ["nan", "-0.5", "5", "x"]),
    Case("animate_device_banana", _animate("--device", "banana"), "--device: unknown device 'banana'"),
    Case("animate_device_empty", _animate("--device", ""), "--device"),
    Case("animate_device_cuda_7", _animate("--device", "cuda:7"), "--device: 'cuda:7'"),
    Case("animate_device_tpu", _animate("--device", "xla"), "--device"),
    Case("animate_backend", _animate("--backend", "gpu"), "--backend"),
    # ------------------------------------------------------------------ animate: paths
    Case("animate_out_avi", _animate(out="{dir}/out.avi"), "output must be a video file"),
    Case("animate_out_no_suffix", _animate(out="{dir}/out"), "output must be a video file"),
    Case("animate_out_txt", _animate(out="{dir}/out.mp4.txt"), "output must be a video file"),
    Case("animate_out_is_speech_video", _animate(speech="{video_mp4}", out="{video_mp4}"), "output is the input file"),
    Case("animate_out_is_speech_other_spelling", _animate(speech="{video_mp4}", out="{dir}/sub/../clip.mp4"),
         "output is the input file"),
    Case("animate_out_is_symlink_to_speech", _animate(speech="{video_mp4}", out="{link_mp4}"),
         "output is the input file"),
    Case("animate_out_is_hardlink_of_speech", _animate(speech="{video_mp4}", out="{hardlink_mp4}"),
         "output is the input file"),
    Case("animate_out_is_photo", _animate(face="{face_mp4}", out="{face_mp4}"), "output is the input file"),
    Case("animate_out_missing_folder", _animate(out="{dir}/nowhere/out.mp4"), "output folder does not exist"),
    Case("animate_out_is_folder", _animate(out="{dir}/folder.mp4"), "output is a folder"),
    Case("animate_out_unwritable", _animate(), "output folder is not writable", patch=_unwritable),
    Case("animate_face_missing", _animate(face="{dir}/nobody.png"), "{dir}/nobody.png: no such file"),
    Case("animate_face_folder", _animate(face="{dir}/sub"), "is a folder"),
    Case("animate_speech_missing", _animate(speech="{dir}/silence.wav"), "{dir}/silence.wav: no such file"),
    Case("animate_speech_folder", _animate(speech="{dir}/sub"), "is a folder"),
    Case("animate_person_missing", _animate("--person", "{dir}/me.pt"), "{dir}/me.pt: no such file"),
    Case("animate_person_folder", _animate("--person", "{dir}/sub"), "is a folder"),
    Case("animate_model_missing", _animate("--model", "{dir}/nomodel"), "model folder not found"),
    Case("animate_model_not_bundle", _animate("--model", "{dir}/sub"), "not a talkface model bundle"),
    Case("animate_model_broken_json", _animate("--model", "{broken_bundle}"), "unreadable model description"),
    Case("animate_model_json_no_lgan", _animate("--model", "{partial_bundle}"), "names no 'lgan' file"),
    Case("animate_no_output", ["animate", "{face}", "{speech}"], "-o/--output"),
    Case("animate_no_args", ["animate"], "required"),
    Case("animate_unknown_option", _animate("--colour", "red"), "unrecognized arguments"),
    Case("animate_disk_full", _animate(), "no space left on device", rc=1, patch=_no_space),
    Case("animate_permission_denied", _animate(), "permission denied", rc=1, patch=_no_permission),
    # ------------------------------------------------------------------ landmarks
    *_number_cases("landmarks", _landmarks, "--blink-rate", ["nan", "inf", "1000", "-1"]),
    *_number_cases("landmarks", _landmarks, "--seed", [BIG_SEED, "-3"]),
    *_number_cases("landmarks", _landmarks, "--max-duration", ["nan", "-1", "0"]),
    *_number_cases("landmarks", _landmarks, "--threads", ["-1", "0"]),
    *_number_cases("landmarks", _landmarks, "--motion-scale", ["5", "nan"]),
    Case("landmarks_out_avi", _landmarks(out="{dir}/lm.avi"), "output must be a video file"),
    Case("landmarks_out_is_speech", ["landmarks", "{face}", "{video_mp4}", "-o", "{video_mp4}", "--lgan",
                                     "{fake_ckpt}"], "output is the input file"),
    Case("landmarks_lgan_missing", ["landmarks", "{face}", "{speech}", "-o", "{dir}/lm.mp4", "--lgan",
                                    "{dir}/nolgan.ckpt"], "checkpoint not found"),
    Case("landmarks_blink_missing", _landmarks("--blink", "{dir}/noblink.ckpt"), "checkpoint not found"),
    Case("landmarks_plot_jpg", _landmarks("--plot", "{dir}/plot.jpg"), "output must be a PNG file"),
    Case("landmarks_plot_missing_folder", _landmarks("--plot", "{dir}/nowhere/plot.png"), "output folder"),
    Case("landmarks_face_missing", ["landmarks", "{dir}/x.png", "{speech}", "-o", "{dir}/lm.mp4", "--lgan",
                                    "{fake_ckpt}"], "no such file"),
    # (no --lgan is not an error: the shipped model's motion is used, issue 15)
    # ------------------------------------------------------------------ live (animate's options, its own)
    *_number_cases("live", _live, "--blink-rate", ["nan", "inf", "-inf", "3.5", "abc"]),
    *_number_cases("live", _live, "--motion-scale", ["nan", "-1", "4", "x"]),
    *_number_cases("live", _live, "--head-motion", ["-2", "3.5", "nan"]),
    *_number_cases("live", _live, "--shading", ["nan", "-0.5", "5", "x"]),
    *_number_cases("live", _live, "--size", ["-5", "4096", "16", "2.5"]),
    *_number_cases("live", _live, "--max-side", ["-1", "10", "100000"]),
    *_number_cases("live", _live, "--seed", [BIG_SEED, "-1", "1.5"]),
    *_number_cases("live", _live, "--threads", ["-1", "0", "x"]),
    *_number_cases("live", _live, "--chunk-ms", ["0", "-40", "nan", "inf", "1e6", "x"]),
    *_number_cases("live", _live, "--max-duration", ["nan", "-1", "0", "1e9"]),
    Case("live_device_banana", _live("--device", "banana"), "--device: unknown device 'banana'"),
    Case("live_mouth_request", _live("--mouth-request", "wide"), "--mouth-request"),
    Case("live_renderer", _live("--renderer", "gan"), "--renderer"),
    Case("live_out_avi", _live(out="{dir}/live.avi"), "output must be a video file"),
    Case("live_out_is_speech_video", _live(audio="{video_mp4}", out="{video_mp4}"), "output is the input file"),
    Case("live_out_is_photo", _live(face="{face_mp4}", out="{face_mp4}"), "output is the input file"),
    Case("live_out_missing_folder", _live(out="{dir}/nowhere/live.mp4"), "output folder does not exist"),
    Case("live_out_is_folder", _live(out="{dir}/folder.mp4"), "output is a folder"),
    Case("live_face_missing", _live(face="{dir}/nobody.png"), "{dir}/nobody.png: no such file"),
    Case("live_audio_missing", _live(audio="{dir}/silence.wav"), "{dir}/silence.wav: no such file"),
    Case("live_audio_folder", _live(audio="{dir}/sub"), "is a folder"),
    Case("live_person_missing", _live("--person", "{dir}/me.pt"), "{dir}/me.pt: no such file"),
    Case("live_model_missing", _live("--model", "{dir}/nomodel"), "model folder not found"),
    Case("live_model_not_bundle", _live("--model", "{dir}/sub"), "not a talkface model bundle"),
    Case("live_no_audio_from", ["live", "{face}", "-o", "{dir}/live.mp4"], "--audio-from"),
    Case("live_unknown_option", _live("--colour", "red"), "unrecognized arguments"),
    # ------------------------------------------------------------------ batch (animate's options, its own)
    *_number_cases("batch", _batch, "--blink-rate", ["nan", "inf", "3.5"]),
    *_number_cases("batch", _batch, "--motion-scale", ["-1", "x"]),
    *_number_cases("batch", _batch, "--shading", ["5"]),
    *_number_cases("batch", _batch, "--size", ["-5", "16"]),
    *_number_cases("batch", _batch, "--threads", ["0", "-1"]),
    *_number_cases("batch", _batch, "--seed", ["-1"]),
    *_number_cases("batch", _batch, "--max-duration", ["nan", "0"]),
    *_number_cases("batch", _batch, "--workers", ["0", "x"]),
    *_number_cases("batch", _batch, "--retries", ["-1"]),
    Case("batch_device_banana", _batch("--device", "banana"), "--device: unknown device 'banana'"),
    Case("batch_mouth_request", _batch("--mouth-request", "wide"), "--mouth-request"),
    Case("batch_manifest_missing", _batch(), "{dir}/jobs.csv"),
    # ------------------------------------------------------------------ adapt
    *_number_cases("adapt", _adapt, "--frames", ["0", "-1", "100000"]),
    *_number_cases("adapt", _adapt, "--steps", ["-3", "0"]),
    *_number_cases("adapt", _adapt, "--lr", ["-1", "nan", "inf", "2"]),
    *_number_cases("adapt", _adapt, "--seed", ["-1", BIG_SEED]),
    *_number_cases("adapt", _adapt, "--threads", ["-1"]),
    Case("adapt_out_txt", _adapt(out="{dir}/person.txt"), "output must be a person model file"),
    Case("adapt_out_missing_folder", _adapt(out="{dir}/nowhere/p.pt"), "output folder does not exist"),
    Case("adapt_out_is_folder", _adapt(out="{dir}/folder.pt"), "output is a folder"),
    Case("adapt_out_is_input", _adapt(out="{photo_pt}", inputs=("{photo_pt}",)), "output is the input file"),
    Case("adapt_input_missing", _adapt(inputs=("{dir}/none.mp4",)), "no such file"),
    Case("adapt_input_folder", _adapt(inputs=("{dir}/sub",)), "is a folder"),
    Case("adapt_model_missing", _adapt("--model", "{dir}/nomodel"), "model folder not found"),
    # ------------------------------------------------------------------ preprocess
    Case("preprocess_missing_input", _pre(inputs=("{dir}/nothing",)), "no such file or folder"),
    Case("preprocess_empty_input", _pre(inputs=("{dir}/empty_folder",)), "no video files found"),
    Case("preprocess_output_is_file", _pre(out="{text}"), "output exists and is not a folder"),
    Case("preprocess_broken_dataset_json", _pre(out="{broken_ds}"), "unreadable dataset description"),
    Case("preprocess_dataset_json_not_object", _pre(out="{list_ds}"), "not a talkface dataset description"),
    Case("preprocess_crop_size", _pre("--crop-size", "64"), "--crop-size"),
    *_number_cases("preprocess", _pre, "--detect-every", ["0", "-1"]),
    *_number_cases("preprocess", _pre, "--max-duration", ["nan", "-1"]),
    *_number_cases("preprocess", _pre, "--val-fraction", ["1.5", "-0.1", "nan"]),
    *_number_cases("preprocess", _pre, "--test-fraction", ["inf"]),
    *_number_cases("preprocess", _pre, "--seed", ["-1"]),
    *_number_cases("preprocess", _pre, "--workers", ["0", "-1"]),
    Case("preprocess_fractions_sum", _pre("--val-fraction", "0.5", "--test-fraction", "0.5"), "--val-fraction"),
    Case("preprocess_speaker_regex", _pre("--speaker-regex", "(s"), "--speaker-regex: not a regular expression"),
    Case("preprocess_shard", _pre("--shard", "3/2"), "--shard"),
    Case("preprocess_feature", ["preprocess", "{corpus}", "-o", "{dir}/ds", "--feature", "wav2vec"], "--feature"),
    # ------------------------------------------------------------------ inspect
    Case("inspect_missing", ["inspect", "{dir}/nothing"], "not a prepared dataset"),
    Case("inspect_broken_dataset_json", ["inspect", "{broken_ds}"], "unreadable dataset description"),
    Case("inspect_broken_splits_json", ["inspect", "{broken_splits_ds}"], "unreadable split list"),
    Case("inspect_garbage_npz", ["inspect", "{garbage_npz}"], "not a readable prepared clip"),
    Case("inspect_torn_npz", ["inspect", "{torn_npz}"], "not a readable prepared clip"),
    Case("inspect_unknown_clip", ["inspect", "{tiny_ds}", "--clip", "s9/none", "-o", "{dir}/i.png"],
         "no prepared clip 's9/none'"),
    Case("inspect_frame_past_end", ["inspect", "{tiny_ds}", "--frame", "99999", "-o", "{dir}/i.png"],
         "--frame 99999: the clip has frames 0 to 4"),
    Case("inspect_negative_frame", ["inspect", "{tiny_ds}", "--frame", "-5", "-o", "{dir}/i.png"], "--frame -5"),
    # ------------------------------------------------------------------ animate-e2e
    Case("e2e_device_banana", _e2e("--device", "banana"), "--device"),
    *_number_cases("e2e", _e2e, "--seed", ["-1"]),
    *_number_cases("e2e", _e2e, "--chunk-frames", ["0"]),
    *_number_cases("e2e", _e2e, "--max-duration", ["-1", "nan"]),
    *_number_cases("e2e", _e2e, "--threads", ["-1"]),
    Case("e2e_out_avi", _e2e(out="{dir}/e.avi"), "output must be a video file"),
    Case("e2e_out_is_speech", ["animate-e2e", "{face}", "{video_mp4}", "-o", "{video_mp4}", "--checkpoint",
                               "{fake_ckpt}"], "output is the input file"),
    Case("e2e_checkpoint_missing", ["animate-e2e", "{face}", "{speech}", "-o", "{dir}/e.mp4", "--checkpoint",
                                    "{dir}/none.ckpt"], "checkpoint not found"),
    # ------------------------------------------------------------------ evaluate
    Case("evaluate_device_banana", ["evaluate", "{broken_ds}", "-o", "{dir}/rep", "--device", "banana"], "--device"),
    Case("evaluate_threads_zero", ["evaluate", "{broken_ds}", "-o", "{dir}/rep", "--threads", "0"], "--threads"),
    Case("evaluate_max_clips_zero", ["evaluate", "{broken_ds}", "-o", "{dir}/rep", "--max-clips", "0"],
         "--max-clips"),
    Case("evaluate_broken_dataset", ["evaluate", "{broken_ds}", "-o", "{dir}/rep", "--no-lpips"],
         "unreadable dataset description"),
    # ------------------------------------------------------------------ serve
    *_number_cases("serve", _serve, "--port", ["-1", "70000"]),
    *_number_cases("serve", _serve, "--max-upload-mb", ["0", "nan", "-5"]),
    *_number_cases("serve", _serve, "--max-audio-seconds", ["nan", "0", "-1"]),
    *_number_cases("serve", _serve, "--max-image-megapixels", ["0"]),
    *_number_cases("serve", _serve, "--job-ttl-minutes", ["-1", "nan"]),
    *_number_cases("serve", _serve, "--client-timeout", ["0", "inf"]),
    *_number_cases("serve", _serve, "--workers", ["0"]),
    *_number_cases("serve", _serve, "--max-queued", ["0"]),
    *_number_cases("serve", _serve, "--queue-lease-s", ["-5", "0", "nan", "1e9"]),
    *_number_cases("serve", _serve, "--queue-retries", ["-1", "101", "1.5", "x", str(2**63)]),
    *_number_cases("worker", _worker, "--lease-s", ["-5", "0.5", "inf", "x"]),
    Case("serve_work_dir_is_file", ["serve", "--work-dir", "{text}"], "work folder is a file"),
    Case("serve_model_missing", _serve("--model", "{dir}/nomodel"), "model folder not found"),
    Case("serve_empty_token", _serve("--token", ""), "--token: must not be empty"),
    # ------------------------------------------------------------------ train
    *_number_cases("train", _train, "--steps", ["0", "-3"]),
    *_number_cases("train", _train, "--batch-size", ["0"]),
    *_number_cases("train", _train, "--lr", ["nan", "-1", "1e9"]),
    *_number_cases("train", _train, "--seed", ["-1"]),
    *_number_cases("train", _train, "--threads", ["0"]),
    *_number_cases("train", _train, "--max-minutes", ["-1", "nan"]),
    *_number_cases("train", _train, "--checkpoint-every", ["0"]),
    *_number_cases("train", _train, "--log-every", ["0"]),
    *_number_cases("train", _train, "--val-every", ["0"]),
    *_number_cases("train", _train, "--loader-workers", ["-1"]),
    Case("train_blink_steps", ["train", "blink", "{tiny_ds}", "-o", "{dir}/run", "--steps", "-3"], "--steps"),
    Case("train_texture_lr", ["train", "texture", "{tiny_ds}", "-o", "{dir}/run", "--lr", "inf"], "--lr"),
    Case("train_texture_map_size_100", ["train", "texture", "{tiny_ds}", "-o", "{dir}/run", "--map-size", "100"],
         "map_size must be <= image_size and a multiple of bottleneck_size, got 100"),
    # ------------------------------------------------------------------ bundle, top level
    Case("bundle_lgan_missing", ["bundle", "-o", "{dir}/bundle", "--lgan", "{dir}/l.ckpt", "--texture",
                                 "{fake_ckpt}"], "checkpoint not found"),
    Case("bundle_lgan_not_checkpoint", ["bundle", "-o", "{dir}/bundle", "--lgan", "{fake_ckpt}", "--texture",
                                        "{fake_ckpt}"], "not a readable checkpoint"),
    Case("no_command", [], "required"),
    Case("unknown_command", ["animat"], "invalid choice"),
]


def _file_state(root: Path) -> dict[str, tuple[int, str]]:
    state = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            state[p.relative_to(root).as_posix()] = (p.stat().st_size, hashlib.sha1(p.read_bytes()).hexdigest())
        else:
            state[p.relative_to(root).as_posix()] = (-1, "dir" if p.is_dir() else "link")
    return state


def _tiny_dataset(root: Path, meta: dict[str, Any]) -> None:
    """A prepared dataset of one 5-frame clip (arrays only)."""
    from talkface.data.dataset import Clip, save_clip

    (root / "clips" / "s1").mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps(meta))
    t = 5
    pts = np.tile(np.random.default_rng(1).uniform(20, 100, (1, 68, 2)).astype(np.float32), (t, 1, 1))
    save_clip(root / "clips" / "s1" / "u1.npz", Clip(
        clip_id="s1/u1", speaker="s1", fps=25.0, landmarks=pts, crop_landmarks=pts,
        crop_affine=np.tile(np.eye(2, 3, dtype=np.float32), (t, 1, 1)), canonical=pts, detected=np.ones(t, bool),
        neutral_index=0, ear=np.full(t, 0.3, np.float32), features=np.zeros((t, 13), np.float32),
        audio=np.zeros(3200, np.float32), sample_rate=16000))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Real inputs (a GRID still and its speech, the clip itself) and broken ones."""
    from talkface.io.media import read_audio, read_video

    d = tmp_path_factory.mktemp("cli-corpus")
    frames, _ = read_video(FIX / "bbaf2n.mpg", max_duration_s=0.1)
    from PIL import Image

    Image.fromarray(frames[0]).save(d / "face.png")
    sf.write(d / "speech.wav", read_audio(FIX / "bbaf2n.mpg", max_duration_s=1.0), 16000)
    shutil.copy(FIX / "bbaf2n.mp4", d / "clip.mp4")
    shutil.copy(FIX / "bbaf2n.mp4", d / "face_video.mp4")
    (d / "sub").mkdir()
    (d / "folder.mp4").mkdir()
    (d / "folder.pt").mkdir()
    (d / "empty_folder").mkdir()
    (d / "corpus" / "s1").mkdir(parents=True)
    shutil.copy(FIX / "bbaf2n.mpg", d / "corpus" / "s1" / "bbaf2n.mpg")
    os.symlink(d / "clip.mp4", d / "link.mp4")
    os.link(d / "clip.mp4", d / "hardlink.mp4")
    (d / "notes.txt").write_text("not a dataset folder\n")
    (d / "fake.ckpt").write_bytes(b"not a checkpoint")
    (d / "photo.pt").write_bytes((d / "face.png").read_bytes())
    for name, text in (("broken_bundle", "{not json"), ("partial_bundle", json.dumps({"texture": "t.pt"}))):
        (d / name).mkdir()
        (d / name / "talkface-model.json").write_text(text)
    for name, text in (("broken_ds", '{"format": "talkface-dataset", "vers'), ("list_ds", "[1, 2]")):
        (d / name).mkdir()
        (d / name / "dataset.json").write_text(text)
    ok_meta = {"format": "talkface-dataset", "version": 1, "fps": 25.0, "crop_size": 128, "sample_rate": 16000,
               "feature": {"name": "mfcc", "dim": 13}, "config": {}}
    (d / "broken_splits_ds").mkdir()
    (d / "broken_splits_ds" / "dataset.json").write_text(json.dumps(ok_meta))
    (d / "broken_splits_ds" / "splits.json").write_text("{'train': ")
    (d / "garbage.npz").write_bytes(np.random.default_rng(0).bytes(3000))
    _tiny_dataset(d / "tiny_ds", ok_meta)
    np.savez(d / "whole.npz", a=np.zeros(100))
    (d / "torn.npz").write_bytes((d / "whole.npz").read_bytes()[:150])  # a write cut short by a kill
    return {
        "dir": str(d), "face": str(d / "face.png"), "speech": str(d / "speech.wav"), "video": str(d / "clip.mp4"),
        "video_mp4": str(d / "clip.mp4"), "face_mp4": str(d / "face_video.mp4"), "link_mp4": str(d / "link.mp4"),
        "hardlink_mp4": str(d / "hardlink.mp4"), "text": str(d / "notes.txt"), "fake_ckpt": str(d / "fake.ckpt"),
        "photo_pt": str(d / "photo.pt"), "broken_bundle": str(d / "broken_bundle"),
        "partial_bundle": str(d / "partial_bundle"), "broken_ds": str(d / "broken_ds"), "list_ds": str(d / "list_ds"),
        "broken_splits_ds": str(d / "broken_splits_ds"), "garbage_npz": str(d / "garbage.npz"),
        "torn_npz": str(d / "torn.npz"), "corpus": str(d / "corpus"), "tiny_ds": str(d / "tiny_ds"),
    }


@pytest.fixture
def tripwires(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model or starting a server fails the case (the corpus must fail before either)."""
    import talkface.pipeline as pipeline
    import talkface.serve as serve
    import talkface.train.core as core

    def trip(*args: Any, **kwargs: Any) -> Any:
        raise Tripwire("the command got as far as loading a model or starting the server")

    monkeypatch.setattr(pipeline, "load_bundle", trip)
    monkeypatch.setattr(core, "load_module", trip)
    monkeypatch.setattr(serve, "serve", trip)
    import talkface.motion.blink as blink
    import talkface.motion.lgan as lgan
    import talkface.texture.tgan as tgan

    for module, name in ((lgan, "train_lgan"), (blink, "train_blink"), (tgan, "train_texture")):
        monkeypatch.setattr(module, name, trip)
    monkeypatch.setenv("TALKFACE_SERVE_TOKEN", "")


def test_corpus_size() -> None:
    assert len(CASES) >= 120, len(CASES)
    assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"


def _run(case: Case, ws: dict[str, str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    argv = [a.format(**ws) for a in case.argv]
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse
        rc = int(exc.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_bad_input_corpus(workspace: dict[str, str], tripwires: None, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Every case: expected exit status, one line naming the option or file, no traceback, nothing written."""
    root = Path(workspace["dir"])
    before = _file_state(root)
    problems: list[str] = []
    for case in CASES:
        with monkeypatch.context() as mp:
            if case.patch is not None:
                case.patch(mp)
            try:
                rc, out, err = _run(case, workspace, capsys)
            except Exception as exc:  # noqa: BLE001 - a traceback is exactly what the corpus looks for
                problems.append(f"{case.name}: raised {type(exc).__name__}: {exc}")
                continue
        lines = [line for line in err.splitlines() if line.strip()]
        last = lines[-1] if lines else ""
        expected = case.text.format(**workspace)
        argparse_error = rc == 2 and len(lines) > 1 and lines[0].startswith("usage:")
        if rc != case.rc:
            problems.append(f"{case.name}: exit {rc}, expected {case.rc}: {err.strip()[-300:]}")
        elif "Traceback" in err or "Traceback" in out:
            problems.append(f"{case.name}: traceback: {err.strip()[-300:]}")
        elif not (len(lines) == 1 or argparse_error):
            problems.append(f"{case.name}: {len(lines)} lines on stderr: {err.strip()[-300:]}")
        elif not last.startswith("talkface") or expected not in last:
            problems.append(f"{case.name}: {last!r} does not contain {expected!r}")
        after = _file_state(root)
        if after != before:
            changed = sorted(set(after.items()) ^ set(before.items()))
            problems.append(f"{case.name}: the workspace changed: {changed[:4]}")
            for rel in set(after) - set(before):  # keep the next cases' comparison meaningful
                p = root / rel
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            before = _file_state(root)
    print(f"CLI corpus: {len(CASES)} cases, {len(CASES) - len(problems)} handled")
    assert not problems, f"{len(problems)} of {len(CASES)} case(s) not handled:\n" + "\n".join(problems)
