"""Tests of the evaluation suite: frame metrics, LPIPS, identity metrics, blinks and the report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from talkface.data.dataset import FORMAT_NAME, FORMAT_VERSION, Clip, save_clip
from talkface.eval.identity import FaceNetEmbedder, acd, facenet_distance
from talkface.eval.metrics import PSNR_CAP, cpbd, fdbm, lpips, psnr, ssim
from talkface.eval.report import LIPREAD_METRICS, METRICS, RENDER_METRICS, EvalConfig, EvalTable, evaluate_videos
from talkface.face.align import canonical_face, crop_transforms, transform_points, warp_crop
from talkface.face.embed import FaceEmbedder
from talkface.face.eyes import blink_stats, detect_blinks, eye_aspect_ratio
from talkface.face.landmarks import track_landmarks
from talkface.io.media import read_audio, read_video, write_video
from talkface.nets import LPIPS, VGG16Features

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def bbaf() -> np.ndarray:
    frames, _ = read_video(FIXTURES / "bbaf2n.mpg", max_frames=40)
    return frames


@pytest.fixture(scope="module")
def lpips_model() -> LPIPS:
    return LPIPS()


def _blur(frames: np.ndarray, k: int) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(f, (k, k), 0) for f in frames])


# ------------------------------------------------------------------------------------ metrics


def test_psnr_identical_is_capped_and_known_error_gives_known_value(bbaf: np.ndarray) -> None:
    assert psnr(bbaf[:3], bbaf[:3]) == PSNR_CAP == 100.0
    a = np.full((16, 16, 3), 100, np.uint8)
    b = a + 1  # MSE = 1 -> 20 log10(255)
    assert psnr(a, b) == pytest.approx(20 * np.log10(255.0), abs=1e-9)
    # mean over frames: one identical frame (capped) and one with MSE 1
    assert psnr(np.stack([a, a]), np.stack([a, b])) == pytest.approx((100.0 + 20 * np.log10(255.0)) / 2)
    with pytest.raises(ValueError):
        psnr(a, a[:8])


def test_ssim_identical_is_one_and_drops_with_blur(bbaf: np.ndarray) -> None:
    assert ssim(bbaf[:2], bbaf[:2]) == pytest.approx(1.0)
    s3, s9 = ssim(bbaf[:2], _blur(bbaf[:2], 3)), ssim(bbaf[:2], _blur(bbaf[:2], 9))
    assert 1.0 > s3 > s9 > 0.5


def test_cpbd_matches_reference_value_and_drops_with_blur(bbaf: np.ndarray) -> None:
    # Value of the reference implementation (cpbd 1.0.7's compute(), run on the same 8-bit luma).
    assert cpbd(bbaf[0]) == pytest.approx(0.3095878136200717, abs=2e-3)
    sharp, b3, b9 = cpbd(bbaf[:2]), cpbd(_blur(bbaf[:2], 3)), cpbd(_blur(bbaf[:2], 9))
    assert sharp > b3 > b9
    assert b9 < 0.5 * sharp
    with pytest.raises(ValueError):
        cpbd(bbaf[0, :32, :32])


def test_fdbm_known_values_and_drops_with_blur(bbaf: np.ndarray) -> None:
    flat = np.full((32, 48, 3), 90, np.uint8)
    assert fdbm(flat) == pytest.approx(1.0 / (32 * 48))  # only the DC coefficient
    stripes = np.zeros((32, 32, 3), np.uint8)
    stripes[:, ::2] = 200  # DC and the Nyquist column frequency
    assert fdbm(stripes) == pytest.approx(2.0 / (32 * 32))
    sharp, b3, b9 = fdbm(bbaf[:2]), fdbm(_blur(bbaf[:2], 3)), fdbm(_blur(bbaf[:2], 9))
    assert sharp > b3 > b9


def test_lpips_same_is_zero_and_grows_with_blur(bbaf: np.ndarray, lpips_model: LPIPS) -> None:
    crop = np.ascontiguousarray(bbaf[:1, 80:176, 136:232])  # 96x96 around the face
    assert lpips(crop, crop, model=lpips_model) == pytest.approx(0.0, abs=1e-6)
    d3 = lpips(crop, _blur(crop, 3), model=lpips_model)
    d9 = lpips(crop, _blur(crop, 9), model=lpips_model)
    other = lpips(crop, np.ascontiguousarray(crop[:, ::-1, ::-1]), model=lpips_model)  # mirrored, BGR
    assert 0.01 < d3 < d9 < other


def test_vgg_features_shapes_gradients_and_no_checkpoint_bloat() -> None:
    net = VGG16Features(("relu1_2", "relu3_3"))
    x = torch.zeros(1, 3, 32, 48, requires_grad=True)
    f1, f3 = net(x)
    assert f1.shape == (1, 64, 32, 48) and f3.shape == (1, 256, 8, 12)
    f3.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert not list(net.parameters()) and not net.state_dict()  # frozen, weights not saved
    with pytest.raises(ValueError):
        VGG16Features(("relu9_9",))


# ----------------------------------------------------------------------------------- identity


def test_identity_metrics_separate_speakers(bbaf: np.ndarray) -> None:
    other, _ = read_video(FIXTURES / "lbbc2a.mpg", max_frames=3)
    lm_a = track_landmarks(bbaf[:3]).landmarks
    lm_b = track_landmarks(other).landmarks
    net = FaceNetEmbedder()
    emb = net(bbaf[0], lm_a[0])
    assert emb.shape == (512,) and np.linalg.norm(emb) == pytest.approx(1.0, abs=1e-4)
    same = facenet_distance(bbaf[1:3], lm_a[1:3], bbaf[0], lm_a[0], embedder=net)
    diff = facenet_distance(other, lm_b, bbaf[0], lm_a[0], embedder=net)
    assert same < 0.2 < 0.4 < diff
    dlib_net = FaceEmbedder()
    acd_same = acd(bbaf[1:3], lm_a[1:3], bbaf[0], lm_a[0], embedder=dlib_net)
    acd_diff = acd(other, lm_b, bbaf[0], lm_a[0], embedder=dlib_net)
    assert acd_same < 0.4 < 0.6 < acd_diff


def test_facenet_says_which_opencv_it_needs_when_the_graph_cannot_be_read(
        bbaf: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    from talkface.errors import TalkfaceError

    lm = track_landmarks(bbaf[:1]).landmarks
    monkeypatch.delattr(cv2.dnn, "readNetFromTensorflow", raising=False)  # as in OpenCV 5.1
    with pytest.raises(TalkfaceError, match=r"graph_final\.pb: OpenCV .* cannot read the FaceNet graph.*5\.0"):
        FaceNetEmbedder()(bbaf[0], lm[0])

    def broken(path: str) -> None:  # as OpenCV 4.11-4.14's importer on this graph
        raise cv2.error("graph_simplifier.cpp:267: error: (-215:Assertion failed)")

    monkeypatch.setattr(cv2.dnn, "readNetFromTensorflow", broken, raising=False)
    with pytest.raises(TalkfaceError, match="cannot read the FaceNet graph"):
        FaceNetEmbedder()(bbaf[0], lm[0])


# ------------------------------------------------------------------------------------- blinks


def _face_with_eyes(openness: float) -> np.ndarray:
    """Canonical face (pixels, ~100 px wide) with both eyes opened by ``openness`` (1 = as is, 0 = shut)."""
    face = canonical_face().astype(np.float64) * 40.0 + 100.0
    for eye in (range(36, 42), range(42, 48)):
        idx = list(eye)
        corner_y = 0.5 * (face[idx[0], 1] + face[idx[3], 1])
        for i in (idx[1], idx[2], idx[4], idx[5]):  # lids move towards the corner line
            face[i, 1] = corner_y + openness * (face[i, 1] - corner_y)
    return face


def test_blink_detector_finds_synthetic_blinks_at_known_frames() -> None:
    fps, t = 25.0, 150
    openness = np.ones(t)
    blinks_true = [(30, 34), (90, 96)]  # (start, end exclusive)
    for s, e in blinks_true:
        openness[s:e] = 0.2
    rng = np.random.default_rng(0)
    landmarks = np.stack([_face_with_eyes(o) for o in openness]) + rng.normal(0, 0.05, (t, 68, 2))
    ear = eye_aspect_ratio(landmarks)
    found = detect_blinks(ear, fps)
    assert found == blinks_true
    rate, duration = blink_stats(found, t, fps)
    assert rate == pytest.approx(2 / 6.0)
    assert duration == pytest.approx((4 + 6) / 2 / fps)


# ------------------------------------------------------------------------------------- report


@pytest.fixture(scope="module")
def lbbc_crops() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """40 frames of a real clip as aligned 128 px crops: (crops, crop landmarks, 16 kHz speech, fps)."""
    frames, fps = read_video(FIXTURES / "lbbc2a.mpg", max_frames=40)
    audio = read_audio(FIXTURES / "lbbc2a.mpg", sample_rate=16000)[: int(40 / fps * 16000)]
    landmarks = track_landmarks(frames).landmarks
    affines = crop_transforms(landmarks, 128)
    crops = np.stack([warp_crop(f, a, 128) for f, a in zip(frames, affines, strict=True)])
    crop_lm = np.stack([transform_points(p, a) for p, a in zip(landmarks, affines, strict=True)])
    return crops, crop_lm, audio, fps


@pytest.fixture(scope="module")
def crop_videos(
    lbbc_crops: tuple[np.ndarray, np.ndarray, np.ndarray, float], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The real crop clip with its speech, and a blurred 'generated' copy, as mp4 files."""
    crops, _, audio, fps = lbbc_crops
    folder = tmp_path_factory.mktemp("eval")
    real, fake = folder / "real.mp4", folder / "fake.mp4"
    write_video(real, crops, fps, audio=audio, crf=12)
    write_video(fake, _blur(crops, 5), fps, audio=audio, crf=12)
    return fake, real


def test_report_rows_files_and_baselines(crop_videos: tuple[Path, Path], tmp_path: Path) -> None:
    fake, real = crop_videos
    cfg = EvalConfig(lpips_stride=40, identity_stride=20, sharpness_stride=5, seed=3)
    table = evaluate_videos([(fake, real)], out_dir=tmp_path, config=cfg, command="pytest report", progress=False)
    assert isinstance(table, EvalTable)
    assert table.methods == ["ground truth", "still baseline", "generated"]
    summary = table.summary()
    gt, still, gen = (summary[m] for m in table.methods)
    # the blurred copy is less sharp than the real frames, but close to them
    assert gen["cpbd"][0] < gt["cpbd"][0] and gen["fdbm"][0] < gt["fdbm"][0]
    assert 25.0 < gen["psnr"][0] < 60.0 and gen["ssim"][0] > 0.8
    assert gen["lmd"][0] < still["lmd"][0]
    assert gen["mouth_corr"][0] > 0.5
    assert gen["facenet"][0] < 0.3 and gen["acd"][0] < 0.6
    # the frozen still has lower sync confidence than the real clip
    assert still["lse_c"][0] < gt["lse_c"][0]
    for name in ("report.md", "summary.csv", "per_clip.csv", "strip.png", "blink_durations.png"):
        assert (tmp_path / name).is_file(), name
    text = (tmp_path / "report.md").read_text()
    assert "pytest report" in text and "| ground truth |" in text and '"seed": 3' in text
    with open(tmp_path / "per_clip.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and set(rows[0]) == {
        "method", "clip", *(m.key for m in METRICS + LIPREAD_METRICS + RENDER_METRICS)}
    strip = cv2.imread(str(tmp_path / "strip.png"))
    assert strip is not None and strip.shape[1] == 8 * 128
    # "real" is no GRID sentence: no WER, and the report says why
    assert all(r.get("wer") is None for r in table.per_clip) and summary["generated"]["wer"][2] == 0
    assert "real: not a GRID sentence" in text and "## Lip reading" in text


def test_report_on_a_prepared_dataset_runs_models_with_the_still(
    lbbc_crops: tuple[np.ndarray, np.ndarray, np.ndarray, float], tmp_path: Path
) -> None:
    crops, crop_lm, audio, fps = lbbc_crops
    crops, crop_lm, audio = crops[:24], crop_lm[:24], audio[: int(24 / fps * 16000)]
    root = tmp_path / "ds"
    (root / "clips" / "spk").mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION, "fps": fps,
                                                   "crop_size": 128, "feature": {"name": "mfcc", "dim": 1}}))
    (root / "splits.json").write_text(json.dumps({"train": [], "val": [], "test": ["spk/utt"]}))
    t = len(crops)
    write_video(root / "clips" / "spk" / "utt.mp4", crops, fps, crf=12)
    save_clip(root / "clips" / "spk" / "utt.npz", Clip(
        clip_id="spk/utt", speaker="spk", fps=fps, landmarks=crop_lm, crop_landmarks=crop_lm,
        crop_affine=np.tile(np.eye(2, 3, dtype=np.float32), (t, 1, 1)), canonical=crop_lm,
        detected=np.ones(t, bool), neutral_index=5, ear=eye_aspect_ratio(crop_lm), features=np.zeros((t, 1)),
        audio=audio, sample_rate=16000))
    calls: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def shaky_still(still: np.ndarray, speech: np.ndarray) -> np.ndarray:
        noise = np.random.randint(-3, 4, (t, *still.shape))  # the global generator, seeded by the evaluator
        calls.append((still, speech, noise))
        return np.clip(still[None].astype(int) + noise, 0, 255).astype(np.uint8)

    cfg = EvalConfig(still="neutral", sync=False, lpips_stride=t, identity_stride=t, sharpness_stride=8, seed=7)
    table = evaluate_videos(dataset=root, models={"shaky": shaky_still}, config=cfg, progress=False)
    assert table.methods == ["ground truth", "still baseline", "shaky"]
    still, speech, noise = calls[0]
    assert still.shape == (128, 128, 3) and speech.dtype == np.float32 and len(speech) == len(audio)
    assert np.abs(still.astype(int) - crops[5]).mean() < 3  # the neutral frame (after H.264)
    np.random.seed(7)  # clip 0 runs with seed + 0
    assert np.array_equal(noise, np.random.randint(-3, 4, noise.shape))
    rows = {r["method"]: r for r in table.per_clip}
    assert rows["still baseline"]["psnr"] > rows["shaky"]["psnr"]  # same frames without the noise
    assert "lse_c" not in rows["shaky"] and np.isfinite(rows["shaky"]["lmd"])


def test_a_model_at_25_fps_is_scored_at_a_30_fps_clips_frame_times() -> None:
    """`talkface evaluate --model` on a 30 fps clip: the model's 25 fps frames are compared with the real frame
    at the same time, not index by index (which drifted 0.5 s over 3 s and padded the end with a frozen frame)."""
    from talkface.eval.report.inputs import EvalSample, at_rate, read_frames, run_model

    class Model:  # a talking head at 25 frames/s whose frame k shows the time k / 25 (in its pixel value)
        fps = 25.0
        last_requested_landmarks: np.ndarray | None = None

        def talking_head(self, still: np.ndarray, audio: np.ndarray) -> np.ndarray:
            n = round(len(audio) / 16000 * self.fps)
            self.last_requested_landmarks = np.repeat(np.arange(n, dtype=np.float32)[:, None, None], 68, 1)
            self.last_requested_landmarks = np.repeat(self.last_requested_landmarks, 2, 2)
            return np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None], 3, 3) * np.ones((1, 4, 4, 3), np.uint8)

    real = np.zeros((90, 4, 4, 3), np.uint8)  # 3 s at 30 fps
    sample = EvalSample("clip", real, np.zeros(48000, np.float32), 30.0)
    frames, requested, warped = run_model(Model().talking_head, sample)
    assert frames.shape[0] == 90 and requested is not None and requested.shape == (90, 68, 2)
    assert warped is None  # this model makes no colour-change reference
    times = frames[:, 0, 0, 0] / 25.0  # the time each scored frame shows
    assert np.abs(times - np.arange(90) / 30.0).max() <= 0.5 / 25 + 1e-9  # within half a model frame of the real one
    assert np.array_equal(requested[:, 0, 0], frames[:, 0, 0, 0].astype(np.float32))  # the request moves with them
    assert np.array_equal(at_rate(75, 25.0, 25.0), np.arange(75))

    path = Path(__file__).parent / "fixtures"  # a generated video at another rate: read_frames brings it to the clip's
    video = sorted(path.glob("*.mp4"))[0]
    native, fps = read_video(video)
    again, _, _ = read_frames(video, fps * 2)
    assert len(again) == round(len(native) * 2) and np.array_equal(again[::2], native[: len(again[::2])])
