"""Tests of ``talkface evaluate`` on a tiny prepared dataset built from a fixture clip."""

from __future__ import annotations

import csv
import json
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from talkface.cli import _evaluate_command, build_parser, main
from talkface.data.dataset import FORMAT_NAME, FORMAT_VERSION, Clip, load_clip, save_clip
from talkface.face.align import crop_transforms, transform_points, warp_crop
from talkface.face.eyes import eye_aspect_ratio
from talkface.face.landmarks import track_landmarks
from talkface.io.media import read_audio, read_video, write_video

FIXTURES = Path(__file__).parent / "fixtures"
FRAMES = 40
CLIP_ID = "lbbc2a/lbbc2a"
FAST = ["--no-lpips", "--no-identity", "-q"]


def _close_eyes(lm: np.ndarray, fraction: float) -> np.ndarray:
    """Lower the upper lids so each eye keeps ``fraction`` of its opening."""
    out = lm.copy()
    for up, low in ((37, 41), (38, 40), (43, 47), (44, 46)):
        out[up] = out[low] + fraction * (out[up] - out[low])
    return out


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A prepared dataset with one test clip (40 frames of lbbc2a as 128 px crops) and a folder of
    'generated' videos for it (the crops blurred): ``(dataset, generated folder)``."""
    frames, fps = read_video(FIXTURES / "lbbc2a.mpg", max_frames=FRAMES)
    audio = read_audio(FIXTURES / "lbbc2a.mpg", sample_rate=16000)[: int(FRAMES / fps * 16000)]
    landmarks = track_landmarks(frames).landmarks
    affines = crop_transforms(landmarks, 128)
    crops = np.stack([warp_crop(f, a, 128) for f, a in zip(frames, affines, strict=True)])
    crop_lm = np.stack([transform_points(p, a) for p, a in zip(landmarks, affines, strict=True)]).astype(np.float32)
    base = tmp_path_factory.mktemp("evaluate_cli")
    root = base / "ds"
    speaker, utt = CLIP_ID.split("/")
    (root / "clips" / speaker).mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION, "fps": fps,
                                                   "crop_size": 128, "feature": {"name": "mfcc", "dim": 1}}))
    (root / "splits.json").write_text(json.dumps({"train": [], "val": [], "test": [CLIP_ID]}))
    write_video(root / "clips" / speaker / f"{utt}.mp4", crops, fps, crf=12)
    save_clip(root / "clips" / speaker / f"{utt}.npz", Clip(
        clip_id=CLIP_ID, speaker=speaker, fps=fps, landmarks=crop_lm, crop_landmarks=crop_lm,
        crop_affine=np.tile(np.eye(2, 3, dtype=np.float32), (FRAMES, 1, 1)), canonical=crop_lm,
        detected=np.ones(FRAMES, bool), neutral_index=0, ear=eye_aspect_ratio(crop_lm), features=np.zeros((FRAMES, 1)),
        audio=audio, sample_rate=16000))
    generated = base / "blurred"
    (generated / speaker).mkdir(parents=True)
    blurred = np.stack([cv2.GaussianBlur(f, (5, 5), 0) for f in crops])
    write_video(generated / speaker / f"{utt}.mp4", blurred, fps, audio=audio, crf=12)
    return root, generated


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_evaluate_writes_report_with_reference_rows_and_generated_videos(
    tiny_dataset: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, generated = tiny_dataset
    out = tmp_path / "report"
    assert main(["evaluate", str(root), "--videos", f"blurred={generated}", "-o", str(out), "--seed", "4", *FAST]) == 0
    printed = capsys.readouterr().out
    assert "| ground truth |" in printed and "| blurred |" in printed  # the summary table is printed
    for name in ("report.md", "summary.csv", "per_clip.csv", "strip.png", "blink_durations.png"):
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert f"talkface evaluate {root} --split test" in report and "--no-lpips" in report and '"seed": 4' in report
    for row in ("| ground truth |", "| still baseline |", "| blurred |", f"| blurred | {CLIP_ID} |"):
        assert row in report, row
    summary = {(r["method"], r["metric"]): r for r in _rows(out / "summary.csv")}
    assert summary[("blurred", "psnr")]["n"] == "1" and float(summary[("blurred", "psnr")]["mean"]) > 25
    assert summary[("blurred", "lpips")]["n"] == "0" and summary[("blurred", "acd")]["n"] == "0"  # switched off
    # the metrics tell the frozen still from the real clip: worse LMD and lower sync confidence
    assert float(summary[("still baseline", "lmd")]["mean"]) > float(summary[("blurred", "lmd")]["mean"])
    assert float(summary[("still baseline", "lse_c")]["mean"]) < float(summary[("ground truth", "lse_c")]["mean"])
    per_clip = _rows(out / "per_clip.csv")
    assert [r["method"] for r in per_clip] == ["ground truth", "still baseline", "blurred"]
    # lbbc2a is a GRID sentence: every row has a WER (in %) and per-slot accuracies
    for method in ("ground truth", "still baseline", "blurred"):
        assert summary[(method, "wer")]["n"] == "1" and 0 <= float(summary[(method, "wer")]["mean"]) <= 100
        assert summary[(method, "acc_letter")]["n"] == "1"
    assert "## Lip reading (GRID clips)" in report
    # rendering columns (issue 14): sharpness over the real frames', opening over the requested one
    assert "## Rendering" in report and "Open ratio" in report
    mean = {(m, k): float(summary[(m, k)]["mean"]) for m in ("ground truth", "still baseline", "blurred")
            for k in ("sharp_lap", "sharp_cpbd", "colour") if summary[(m, k)]["n"] == "1"}
    assert len(mean) == 9
    assert mean[("ground truth", "sharp_lap")] == pytest.approx(1.0) and mean[("ground truth", "sharp_cpbd")] == 1.0
    assert 0.6 < mean[("still baseline", "sharp_lap")] < 1.6  # one real frame: about as sharp as the others
    assert mean[("blurred", "sharp_lap")] < 0.5 * mean[("still baseline", "sharp_lap")]  # a 5x5 blur shows
    assert mean[("blurred", "sharp_cpbd")] < mean[("still baseline", "sharp_cpbd")]
    assert mean[("still baseline", "colour")] == 0.0 and mean[("ground truth", "colour")] > 0
    # a video made elsewhere has no request: n/a, said in the notes; so has ground truth (the reference)
    assert summary[("blurred", "open_ratio")]["n"] == "0" and summary[("ground truth", "open_ratio")]["n"] == "0"
    assert "blurred: no requested landmarks" in report
    # the still baseline is measured against the real speaker: its constant opening over the real one
    from talkface.eval.motion_metrics import mouth_opening

    crops = read_video(root / "clips" / "lbbc2a" / "lbbc2a.mp4")[0]
    real_open = mouth_opening(track_landmarks(crops).landmarks)
    expected = real_open[0] / real_open[real_open > 0.05].mean()
    assert float(summary[("still baseline", "open_ratio")]["mean"]) == pytest.approx(expected, rel=0.02)
    assert summary[("blurred", "mouth_lpips")]["n"] == "0"  # --no-lpips switches it off too


def test_evaluate_runs_model_bundles_through_the_pipeline(
    tiny_dataset: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--model DIR builds talkface.pipeline.Animator(AnimateConfig(model=DIR, seed=...)) and scores talking_head."""
    root, _ = tiny_dataset
    made: list[object] = []

    class AnimateConfig:
        def __init__(self, **kwargs: object) -> None:
            self.__dict__.update(kwargs)

    real_lm = load_clip(root / "clips" / "lbbc2a" / "lbbc2a.npz").landmarks

    class Animator:
        def __init__(self, config: AnimateConfig) -> None:
            made.append(config)
            self.last_requested_landmarks: np.ndarray | None = None

        def talking_head(self, still: np.ndarray, audio: np.ndarray) -> np.ndarray:
            from talkface.render.compose import NativeRenderer

            # asked for the real motion and a blink (eyes closed to 0.1 at frames 15-18), rendered a still
            # that blinks (the native renderer closing the photo's eyes)
            request = real_lm.copy()
            closed = _close_eyes(real_lm[0], 0.1)
            request[15:19, 36:48] = closed[36:48] - real_lm[0, 36:48] + real_lm[15:19, 36:48]
            self.last_requested_landmarks = request
            frames = np.repeat(still[None], round(len(audio) / 16000 * 25), axis=0)
            frames[15:19] = NativeRenderer(still, real_lm[0], closed[None])(closed)
            self.frames = frames
            return frames

        def warped_reference(self) -> np.ndarray:  # the colour-change reference: its frames 6 levels darker
            return np.clip(self.frames.astype(int) - 6, 0, 255).astype(np.uint8)

    fake = types.ModuleType("talkface.pipeline")
    fake.AnimateConfig = AnimateConfig  # type: ignore[attr-defined]
    fake.Animator = Animator  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "talkface.pipeline", fake)
    bundle = tmp_path / "my_model"
    bundle.mkdir()
    out = tmp_path / "report"
    assert main(["evaluate", str(root), "--model", str(bundle), "--model", "default", "--seed", "9", "--no-sync",
                 "--no-identity", "--no-lipread", "--lpips-stride", "20", "-o", str(out), "-q"]) == 0
    assert [(c.model, c.seed) for c in made] == [(str(bundle), 9), (None, 9)]  # type: ignore[attr-defined]
    methods = [r["method"] for r in _rows(out / "per_clip.csv")]
    assert methods == ["ground truth", "still baseline", "my_model", "talkface (default model)"]
    # the model's requested landmarks reach the opening ratio: a still asked for the real motion opens as the
    # still baseline does; mouth-crop LPIPS is scored for every method but ground truth
    summary = {(r["method"], r["metric"]): r for r in _rows(out / "summary.csv")}
    assert summary[("my_model", "open_ratio")]["n"] == "1"
    assert float(summary[("my_model", "open_ratio")]["mean"]) == pytest.approx(
        float(summary[("still baseline", "open_ratio")]["mean"]), rel=0.05)
    assert summary[("ground truth", "mouth_lpips")]["n"] == "0"
    assert 0 < float(summary[("my_model", "mouth_lpips")]["mean"]) < 1
    assert summary[("ground truth", "mouth_lpips_own")]["n"] == "0"
    assert 0 < float(summary[("my_model", "mouth_lpips_own")]["mean"]) < 1  # its mouth cut at its own landmarks
    assert "no requested landmarks" not in (out / "report.md").read_text()
    assert float(summary[("my_model", "colour_warp")]["mean"]) == pytest.approx(6.0, abs=0.3)  # vs its reference
    assert all(summary[(method, "colour_warp")]["n"] == "0" for method in ("still baseline", "ground truth"))
    # blink closure at the requested blink's apex: the rendered closed lids hide most of the photo's open
    # eye (real closed eyes: 0.22); lbbc2a does not blink in its first 40 frames, so the reference rows,
    # whose blinks are the real ones, have none; the pose-aligned mouth LMD of the still as the plain one
    assert float(summary[("my_model", "blink_vis")]["mean"]) < 0.5
    assert float(summary[("my_model", "blink_closed")]["mean"]) < 0.8
    for method in ("ground truth", "still baseline"):
        assert summary[(method, "blink_vis")]["n"] == "0"
    assert summary[("ground truth", "lmd_pose")]["n"] == "0"
    assert 0 < float(summary[("still baseline", "lmd_pose")]["mean"]) < 10
    assert "Blink vis." in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["{missing}"], "not a prepared dataset"),
        (["{root}", "--split", "tset"], "no split 'tset'"),
        (["{root}", "--videos", "x={missing}"], "folder of generated videos (x) not found"),
        (["{root}", "--videos", "x={empty}"], "no generated video for 1 of 1 clips"),
        (["{root}", "--model", "{missing}"], "model folder not found"),
    ],
)
def test_evaluate_bad_input_is_one_line_and_exit_2(
    tiny_dataset: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    root, _ = tiny_dataset
    (tmp_path / "empty").mkdir()
    names = {"root": str(root), "missing": str(tmp_path / "nope"), "empty": str(tmp_path / "empty")}
    argv = ["evaluate", *(a.format(**names) for a in extra), "-o", str(tmp_path / "out"), *FAST]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("talkface: error: ") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out" / "report.md").exists()


@pytest.mark.parametrize(
    ("listing", "named", "message"),
    [
        ({"test": [CLIP_ID, "lbbc2a/gone"]}, "clips/lbbc2a/gone.npz",
         "prepared clip not found (listed by split 'test'); prepare the dataset again"),
        ({"test": ["a/gone", "b/gone", CLIP_ID]}, "clips/a/gone.npz",
         "prepared clip not found (listed by split 'test', and 1 more of its 3 clips)"),
        ({"test": CLIP_ID}, "splits.json", f'split \'test\' is not a list of clip ids (got "{CLIP_ID}")'),
        ({"test": [CLIP_ID, 7]}, "splits.json", "split 'test' is not a list of clip ids (item 1 is 7)"),
    ],
)
def test_evaluate_names_what_is_wrong_with_the_split(
    tiny_dataset: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], listing: dict[str, object],
    named: str, message: str
) -> None:
    """A split listing a missing clip said "not a readable prepared clip (FileNotFoundError)", a mangled split entry
    "no split 'test'": both now name the file and what is wrong, before any work."""
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(tiny_dataset[0], root)
    (root / "splits.json").write_text(json.dumps({"train": [], **listing}))
    assert main(["evaluate", str(root), "--split", "test", "-o", str(tmp_path / "out"), *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"talkface: error: {root / named}: ") and message in err, err
    assert err.count("\n") == 1 and not (tmp_path / "out" / "report.md").exists()


def test_evaluate_model_without_pipeline_is_a_clear_error(
    tiny_dataset: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = tiny_dataset
    monkeypatch.setitem(sys.modules, "talkface.pipeline", None)  # import fails as if the module did not exist
    assert main(["evaluate", str(root), "--model", "default", "-o", str(tmp_path / "out"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "talkface.pipeline" in err and "--videos" in err and err.count("\n") == 1


def test_evaluate_command_line_in_the_report_reproduces_the_arguments() -> None:
    parser = build_parser()
    args = parser.parse_args(["evaluate", "data dir", "--split", "all", "--max-clips", "3", "--model", "m1",
                              "--videos", "a b=v/x", "-o", "out", "--seed", "5", "--no-sync", "--lpips-stride", "2",
                              "--whole-frames", "--max-side", "640", "--seconds", "2.5"])
    command = _evaluate_command(args)
    assert command.startswith("talkface evaluate 'data dir' --split all --max-clips 3")
    import shlex

    again = parser.parse_args(shlex.split(command)[1:])
    assert {k: v for k, v in vars(again).items() if k not in ("threads", "quiet")} == {
        k: v for k, v in vars(args).items() if k not in ("threads", "quiet")
    }
    with pytest.raises(SystemExit):
        parser.parse_args(["evaluate", "d", "-o", "o", "--videos", "novalue"])
    with pytest.raises(SystemExit):
        parser.parse_args(["evaluate", "d", "-o", "o", "--max-clips", "0"])


def test_train_sync_cli_trains_validates_exports_and_rejects_bad_input(
    tiny_dataset: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from talkface.eval.sync import load_syncnet

    root = tmp_path / "ds"
    shutil.copytree(tiny_dataset[0], root)
    (root / "splits.json").write_text(json.dumps({"train": [CLIP_ID], "val": [CLIP_ID], "test": []}))
    run = tmp_path / "run"
    common = ["train", "sync", str(root), "-o", str(run), "--batch-size", "2", "--windows-per-item", "1",
              "--accelerator", "cpu", "--threads", "1", "--max-val-clips", "1", "-q"]
    assert main([*common, "--steps", "2"]) == 0
    printed = capsys.readouterr().out
    assert "syncnet.pt" in printed and "shift_acc" in printed
    net = load_syncnet(run / "syncnet.pt")
    assert not net.training
    assert json.loads((run / "config.json").read_text())["train"]["max_steps"] == 2
    # a missing init model is one line naming the file, and nothing is trained
    assert main([*common, "--steps", "3", "--init", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_train_subcommands_reject_options_of_other_models(tmp_path: Path) -> None:
    from talkface.cli import _bundle_part
    from talkface.errors import InputError

    parser = build_parser()
    assert _bundle_part("default", "texture").name == "texture.pt"  # --init default: the shipped generator
    assert _bundle_part("default", "lgan").is_file()
    with pytest.raises(InputError, match="not found"):
        _bundle_part(str(tmp_path / "missing.ckpt"), "texture")
    (tmp_path / "not_a_bundle").mkdir()
    with pytest.raises(InputError, match="bundle"):
        _bundle_part(str(tmp_path / "not_a_bundle"), "lgan")
    assert parser.parse_args(["train", "texture", "d", "-o", "r", "--size", "256"]).size == 256
    assert parser.parse_args(["train", "motion", "d", "-o", "r", "--temporal-loss", "match"]).temporal_loss == "match"
    assert parser.parse_args(["train", "motion", "d", "-o", "r", "--lambda-gan", "0.25"]).lambda_gan == 0.25
    for argv in (["train", "motion", "d", "-o", "r", "--size", "256"],
                 ["train", "regression", "d", "-o", "r", "--lambda-gan", "0.25"],
                 ["train", "e2e", "d", "-o", "r", "--variant", "warp"],
                 ["train", "texture", "d", "-o", "r", "--image-size", "64"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)


def test_load_clip_names_a_missing_file(tmp_path: Path) -> None:
    from talkface.data.dataset import load_clip
    from talkface.errors import InputError

    with pytest.raises(InputError, match="prepared clip not found") as info:
        load_clip(tmp_path / "clips" / "s1" / "gone.npz")
    assert info.value.path == str(tmp_path / "clips" / "s1" / "gone.npz")


def test_evaluate_whole_frames_reads_the_source_video(
    tiny_dataset: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--whole-frames: the clip's source video (the manifest's ``source``) at its own size, downscaled to
    --max-side, cut to --seconds, with the prepared speech; a dataset whose manifest names no source says so."""
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(tiny_dataset[0], root)
    out = tmp_path / "report"
    args = ["evaluate", str(root), "--whole-frames", "-o", str(out), "--no-sync", "--no-lipread", *FAST]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no source video" in err and err.count("\n") == 1 and not (out / "report.md").exists()
    (root / "manifest.jsonl").write_text(json.dumps({"id": CLIP_ID, "source": str(FIXTURES / "lbbc2a.mpg"),
                                                     "status": "ok"}) + "\n")
    assert main([*args, "--max-side", "200", "--seconds", "1"]) == 0
    report = (out / "report.md").read_text()
    assert "--whole-frames --max-side 200 --seconds 1" in report and '"whole_frames": true' in report
    rows = _rows(out / "per_clip.csv")
    assert {r["method"] for r in rows} == {"ground truth", "still baseline"}
    assert all(np.isfinite(float(r["lmd"])) for r in rows if r["method"] == "still baseline")
    strip = cv2.imread(str(out / "strip.png"))
    assert strip is not None and strip.shape[1] >= 8 * 190  # 8 whole frames of 200 x 160, not 128 px crops


def test_evaluate_whole_frames_refuses_a_clip_too_large_for_memory(
    tiny_dataset: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole frames of a long HD clip would not fit in memory: a one-line error with the way out, no report."""
    import shutil

    import talkface.eval.report.inputs as inputs

    root = tmp_path / "ds"
    shutil.copytree(tiny_dataset[0], root)
    (root / "manifest.jsonl").write_text(json.dumps({"id": CLIP_ID, "source": str(FIXTURES / "lbbc2a.mpg"),
                                                     "status": "ok"}) + "\n")
    monkeypatch.setattr(inputs, "WHOLE_FRAMES_BUDGET", 10 * 360 * 288 * 3)  # ten frames of the 360x288 source
    out = tmp_path / "report"
    args = ["evaluate", str(root), "--whole-frames", "-o", str(out), "--no-sync", "--no-lipread", *FAST]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "lbbc2a.mpg" in err and "--seconds" in err and err.count("\n") == 1 and not (out / "report.md").exists()
    assert main([*args, "--seconds", "0.3"]) == 0  # 8 frames fit
