"""Tests of the face stage on real GRID clips (tests/fixtures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from talkface.errors import InputError
from talkface.face.align import (
    MIRROR_68,
    Similarity,
    align_to_canonical,
    canonical_face,
    crop_transform,
    crop_transforms,
    mean_face,
    normalize_shape,
    paste_back,
    procrustes,
    transform_points,
    warp_crop,
)
from talkface.face.detect import DetectorConfig, FaceBox, FaceDetector, detect_single_face
from talkface.face.draw import PART_COLORS, PARTS, draw_landmarks
from talkface.face.embed import FaceEmbedder, identity_cosine, identity_distance
from talkface.face.eyes import blink_stats, detect_blinks, eye_aspect_ratio
from talkface.face.landmarks import (
    STABLE_POINTS,
    LandmarkDetector,
    NoFaceError,
    TrackResult,
    landmarks_for_image,
    smooth_landmarks,
    track_landmarks,
)
from talkface.io.media import read_video

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.fixture(scope="module")
def predictor() -> LandmarkDetector:
    return LandmarkDetector()


@pytest.fixture(scope="module")
def bbaf() -> np.ndarray:
    frames, fps = read_video(FIXTURES / "bbaf2n.mpg")
    assert fps == pytest.approx(25.0)
    return frames


@pytest.fixture(scope="module")
def lbbc_frame() -> np.ndarray:
    frames, _ = read_video(FIXTURES / "lbbc2a.mpg", max_frames=1)
    return frames[0]


@pytest.fixture(scope="module")
def bbaf_raw_track(bbaf: np.ndarray, detector: FaceDetector, predictor: LandmarkDetector) -> TrackResult:
    return track_landmarks(bbaf, smoothing=0, detector=detector, predictor=predictor)


def _ear_track(name: str, detector: FaceDetector, predictor: LandmarkDetector) -> np.ndarray:
    frames, _ = read_video(FIXTURES / name)
    return eye_aspect_ratio(track_landmarks(frames, detector=detector, predictor=predictor).landmarks)


# ---------------------------------------------------------------- detection and landmarks


def test_grid_frame_has_one_face_with_plausible_landmarks(
    bbaf: np.ndarray, detector: FaceDetector, predictor: LandmarkDetector
) -> None:
    boxes = detector.detect(bbaf[0])
    assert len(boxes) == 1
    box = boxes[0]
    assert 80 < box.width < 200 and box.score > 0
    lm = predictor(bbaf[0], box)
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    for i in (48, 54):  # mouth corners inside the box
        assert box.left < lm[i, 0] < box.right and box.top < lm[i, 1] < box.bottom
    eyes_y = lm[36:48, 1].mean()
    mouth_y = lm[48:68, 1].mean()
    nose_tip = lm[30]
    assert eyes_y < nose_tip[1] < mouth_y
    assert lm[36, 0] < nose_tip[0] < lm[45, 0]  # nose between the outer eye corners
    assert lm[36:42, 0].mean() < lm[42:48, 0].mean()  # subject's right eye on the image's left
    assert lm[8, 1] > mouth_y  # chin below the mouth
    # landmarks_for_image = detect_single_face + predictor
    np.testing.assert_allclose(landmarks_for_image(bbaf[0], "x.png", detector=detector), lm, atol=1e-4)


def test_subpixel_landmarks_agree_with_dlib_integer_output(bbaf: np.ndarray, detector: FaceDetector) -> None:
    box = detector.detect(bbaf[0])[0]
    fine = LandmarkDetector()(bbaf[0], box)
    coarse = LandmarkDetector(subpixel_width=0)(bbaf[0], box)
    assert np.all(coarse == np.round(coarse))  # dlib's own output is whole pixels
    assert not np.all(fine == np.round(fine))
    assert np.abs(fine - coarse).mean() < 1.0


def test_two_faces_and_no_face_raise_input_error(
    bbaf: np.ndarray, lbbc_frame: np.ndarray, detector: FaceDetector
) -> None:
    pair = np.concatenate([bbaf[0], lbbc_frame], axis=1)
    with pytest.raises(InputError, match="2 faces found") as err:
        detect_single_face(pair, "pair.jpg", detector)
    assert str(err.value).startswith("pair.jpg: ") and "\n" not in str(err.value)
    assert len(detector.detect(pair)) == 2
    largest = detect_single_face(pair, "pair.jpg", detector, allow_multiple=True)
    assert largest == detector.detect(pair)[0]
    with pytest.raises(InputError, match="no face found"):
        detect_single_face(np.zeros((288, 360, 3), np.uint8), "blank.png", detector)


def test_big_image_is_downscaled_for_detection(bbaf: np.ndarray, detector: FaceDetector) -> None:
    import cv2

    big = cv2.resize(bbaf[0], (1440, 1152), interpolation=cv2.INTER_CUBIC)  # 4x
    small_box = detector.detect(bbaf[0])[0]
    big_box = detector.detect(big)[0]  # found on a 640-px copy, reported in big-image pixels
    assert big_box.iou(small_box.scaled(4.0)) > 0.6


def test_cnn_detector_option(bbaf: np.ndarray, detector: FaceDetector) -> None:
    cnn = FaceDetector(DetectorConfig(method="cnn", max_side=240))  # small copy: ~0.5 s on CPU
    boxes = cnn.detect(bbaf[0])
    assert len(boxes) == 1 and boxes[0].iou(detector.detect(bbaf[0])[0]) > 0.6
    with pytest.raises(ValueError):
        FaceDetector(DetectorConfig(method="mtcnn"))  # type: ignore[arg-type]


def test_detect_near_finds_the_tracked_face(bbaf: np.ndarray, detector: FaceDetector) -> None:
    box = detector.detect(bbaf[0])[0]
    near = detector.detect_near(bbaf[0], FaceBox(box.left + 15, box.top - 10, box.right + 15, box.bottom - 10))
    assert len(near) == 1 and near[0].iou(box) > 0.7
    assert detector.detect_near(bbaf[0], FaceBox(0, 0, 40, 40)) == []  # background corner


def test_face_box_helpers() -> None:
    a = FaceBox(10, 20, 110, 70, 1.0)
    assert (a.width, a.height, a.area, a.center) == (100, 50, 5000, (60.0, 45.0))
    assert a.iou(a) == pytest.approx(1.0)
    assert a.iou(FaceBox(60, 20, 160, 70)) == pytest.approx(1 / 3)
    assert FaceBox.from_dlib(a.to_dlib()).as_array().tolist() == [10, 20, 110, 70]


# ---------------------------------------------------------------- tracking


def test_track_landmarks_bbaf2n(bbaf: np.ndarray, bbaf_raw_track: TrackResult, detector: FaceDetector) -> None:
    raw = bbaf_raw_track
    assert raw.landmarks.shape == (75, 68, 2) and raw.landmarks.dtype == np.float32
    assert raw.boxes.shape == (75, 4) and raw.detected.shape == (75,)
    assert raw.detected.all() and len(raw) == 75
    # tracked frames agree with landmarks from a fresh detection on the same frame
    pred = LandmarkDetector()
    for t in (3, 24, 38, 61):
        fresh = pred(bbaf[t], detector.detect(bbaf[t])[0])
        assert np.abs(fresh - raw.landmarks[t]).mean() < 1.5
    # small frame-to-frame jitter on the stable points (GRID speakers hardly move)
    stable = list(STABLE_POINTS)
    assert np.abs(np.diff(raw.landmarks[:, stable], axis=0)).mean() < 0.6  # pixels per frame
    smooth = smooth_landmarks(raw.landmarks, 5)
    # jitter as mean |second difference| (head motion is smooth, predictor noise is not)
    jitter_raw = np.abs(np.diff(raw.landmarks[:, stable], 2, axis=0)).mean()
    jitter_smooth = np.abs(np.diff(smooth[:, stable], 2, axis=0)).mean()
    assert jitter_raw < 0.8
    assert jitter_smooth < 0.6 * jitter_raw
    # ... while the lips stay responsive: the mouth opening keeps its range and timing
    opening_raw = raw.landmarks[:, 66, 1] - raw.landmarks[:, 62, 1]
    opening_smooth = smooth[:, 66, 1] - smooth[:, 62, 1]
    assert np.ptp(opening_raw) > 5.0  # he speaks
    assert np.ptp(opening_smooth) > 0.8 * np.ptp(opening_raw)
    assert np.corrcoef(opening_raw, opening_smooth)[0, 1] > 0.95
    # the default call smooths with a 0.2 s (5 frame) Savitzky-Golay filter
    part = track_landmarks(bbaf[:25], detector=detector)
    np.testing.assert_allclose(part.landmarks, smooth_landmarks(raw.landmarks[:25], 5), atol=1e-4)


def test_track_follows_fast_jerky_head_motion(bbaf: np.ndarray, detector: FaceDetector) -> None:
    # the face jumps 12-29 px (10-23 % of its width) per frame in random directions; without
    # the per-frame detection during fast motion the track goes off by up to 3 eye distances
    xs = [120, 143, 131, 105, 127, 148, 122, 95, 120, 93, 76, 64, 40, 17, 0, 0, 24, 38, 59, 39]
    ys = [40, 49, 44, 62, 77, 80, 80, 80, 80, 67, 56, 50, 64, 74, 80, 80, 80, 80, 71, 80]
    frames = []
    for t, (x, y) in enumerate(zip(xs, ys, strict=True)):
        canvas = np.zeros((368, 600, 3), np.uint8)
        canvas[y : y + 288, x : x + 360] = bbaf[t]
        frames.append(canvas)
    res = track_landmarks(frames, smoothing=0, detector=detector)
    assert res.detected.all()
    pred = LandmarkDetector()
    for t, frame in enumerate(frames):
        fresh = pred(frame, detector.detect(frame)[0])
        iod = np.linalg.norm(fresh[42:48].mean(0) - fresh[36:42].mean(0))
        assert np.linalg.norm(fresh - res.landmarks[t], axis=1).mean() < 0.05 * iod, t


def test_track_interpolates_frames_without_face(bbaf: np.ndarray, detector: FaceDetector) -> None:
    frames = [f for f in bbaf[:12]]
    frames[5] = np.zeros_like(frames[5])  # scheduled detection frame
    frames[7] = np.zeros_like(frames[7])  # tracked frame (scene-cut check)
    res = track_landmarks(iter(frames), smoothing=0, detector=detector)
    assert res.detected.tolist() == [True] * 5 + [False, True, False] + [True] * 4
    np.testing.assert_allclose(res.landmarks[5], 0.5 * (res.landmarks[4] + res.landmarks[6]), atol=1e-4)
    np.testing.assert_allclose(res.landmarks[7], 0.5 * (res.landmarks[6] + res.landmarks[8]), atol=1e-4)
    assert np.isfinite(res.boxes).all()


def test_track_without_any_face_raises() -> None:
    blank = np.zeros((3, 96, 96, 3), np.uint8)
    with pytest.raises(NoFaceError):
        track_landmarks(blank)
    assert issubclass(NoFaceError, ValueError)
    with pytest.raises(InputError, match=r"^clip\.mp4: no face found in any frame$"):
        track_landmarks(blank, path="clip.mp4")


# ---------------------------------------------------------------- eyes / blinks


def test_eye_aspect_ratio_of_known_geometry() -> None:
    lm = np.zeros((68, 2), np.float32)
    # right eye: corners 4 apart, lids 1 and 2 apart -> (1 + 2) / (2 * 4)
    lm[36:42] = np.array([[0, 0], [1, -0.5], [3, -1], [4, 0], [3, 1], [1, 0.5]])
    lm[42:48] = lm[36:42] + [10, 0]
    lm[43, 1], lm[47, 1] = -1.0, 1.0  # left eye: (2 + 2) / 8
    per_eye = eye_aspect_ratio(lm, per_eye=True)
    np.testing.assert_allclose(per_eye, [3 / 8, 4 / 8], rtol=1e-6)
    assert eye_aspect_ratio(lm) == pytest.approx(7 / 16)
    assert eye_aspect_ratio(np.stack([lm] * 4)).shape == (4,)


def test_detect_blinks_on_synthetic_curve() -> None:
    rng = np.random.default_rng(0)
    ear = 0.3 + rng.normal(0, 0.005, 250)
    ear[40:44] = [0.2, 0.12, 0.12, 0.2]
    ear[100:105] = [0.18, 0.15, 0.1, 0.13, 0.19]
    ear[105] = 0.22  # above half depth (0.2): not part of the blink
    ear[150:200] = 0.1  # eyes closed for 2 s: not a blink
    ear[220] = 0.27  # a 10 % wobble: not a blink
    blinks = detect_blinks(ear, 25.0)
    assert blinks == [(40, 44), (100, 105)]
    rate, dur = blink_stats(blinks, 250, 25.0)
    assert rate == pytest.approx(0.2) and dur == pytest.approx(0.18)
    # same dips on a person with narrower eyes (baseline 0.2): relative rule still works
    assert detect_blinks(ear * 0.66, 25.0) == blinks
    # absolute threshold mode
    assert detect_blinks(ear, 25.0, threshold=0.16) == [(41, 43), (101, 104)]
    assert blink_stats([], 250, 25.0)[0] == 0.0 and np.isnan(blink_stats([], 250, 25.0)[1])


def test_real_blinks_in_grid_clips(detector: FaceDetector, predictor: LandmarkDetector) -> None:
    # Inspected by eye: id2_vcd_swwp2s blinks with lids closed at frames 27-28, 43-46 and 72-73.
    ear = _ear_track("id2_vcd_swwp2s.mpg", detector, predictor)
    blinks = detect_blinks(ear, 25.0)
    assert len(blinks) == 3
    for (s, e), closed in zip(blinks, (27, 44, 72), strict=True):
        assert s <= closed < e and e - s <= 8
    # lbbc2a: eyes open all through (EAR within 10 % of its median)
    assert detect_blinks(_ear_track("lbbc2a.mpg", detector, predictor), 25.0) == []


def test_real_blinks_bbaf2n(bbaf_raw_track: TrackResult) -> None:
    # bbaf2n: lids closed at frames 43-44 and 51-53 (then half-lowered up to ~59)
    blinks = detect_blinks(eye_aspect_ratio(bbaf_raw_track.landmarks), 25.0)
    assert len(blinks) == 2
    assert blinks[0][0] <= 43 and blinks[0][1] >= 45 and blinks[1][0] <= 51 and blinks[1][1] >= 54


# ---------------------------------------------------------------- alignment


def _random_similarity(rng: np.random.Generator) -> Similarity:
    return Similarity.from_params(rng.uniform(0.3, 3.0), rng.uniform(-np.pi, np.pi), rng.uniform(-200, 200, 2))


def test_procrustes_recovers_known_similarity() -> None:
    rng = np.random.default_rng(1)
    src = canonical_face().astype(np.float64) * 50 + 100
    for _ in range(5):
        true = _random_similarity(rng)
        est = procrustes(src, true.apply(src))
        assert est.scale == pytest.approx(true.scale, abs=1e-5)
        np.testing.assert_allclose(est.rotation, true.rotation, atol=1e-5)
        np.testing.assert_allclose(est.translation, true.translation, atol=1e-5)
        np.testing.assert_allclose(est.apply(src), true.apply(src), atol=1e-5)
        # round trips and matrix form
        np.testing.assert_allclose(est.inverse().apply(est.apply(src)), src, atol=1e-6)
        np.testing.assert_allclose(transform_points(src, est.matrix()), est.apply(src), atol=1e-3)
        np.testing.assert_allclose(est.compose(est.inverse()).matrix(), Similarity.identity().matrix(), atol=1e-9)
    # fitting on a subset ignores the other points
    dst = true.apply(src)
    dst[48:68] += 30.0  # mouth moved
    sub = procrustes(src, dst, points=STABLE_POINTS)
    np.testing.assert_allclose(sub.matrix(), true.matrix(), atol=1e-5)


def test_procrustes_matches_scikit_image() -> None:
    from skimage.transform import SimilarityTransform

    rng = np.random.default_rng(2)
    src = rng.normal(size=(68, 2)) * 30
    dst = _random_similarity(rng).apply(src) + rng.normal(size=(68, 2))  # noisy
    ref = SimilarityTransform.from_estimate(src, dst)
    np.testing.assert_allclose(procrustes(src, dst).matrix(), ref.params[:2], atol=1e-8)


def test_align_to_canonical_removes_head_motion() -> None:
    rng = np.random.default_rng(3)
    canon = canonical_face()
    seq = np.stack([_random_similarity(rng).apply(canon) for _ in range(6)])  # (6, 68, 2) pixels
    seq[3, 48:68] += [0.0, 10.0]  # one frame opens the mouth
    aligned = align_to_canonical(seq)
    assert aligned.shape == (6, 68, 2) and aligned.dtype == np.float32
    for t in (0, 1, 2, 4, 5):
        np.testing.assert_allclose(aligned[t], canon, atol=1e-4)
    # the open mouth does not move the stable points
    np.testing.assert_allclose(aligned[3][list(STABLE_POINTS)], canon[list(STABLE_POINTS)], atol=1e-4)
    assert (aligned[3, 48:68, 1] > canon[48:68, 1] + 0.01).all()


def test_mean_face_of_similar_copies_is_that_shape(bbaf_raw_track: TrackResult) -> None:
    rng = np.random.default_rng(4)
    shape = bbaf_raw_track.landmarks[0].astype(np.float64)
    copies = np.stack([_random_similarity(rng).apply(shape) for _ in range(8)])
    mean = mean_face(copies)
    assert mean.shape == (68, 2) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, normalize_shape(shape), atol=1e-4)
    # normalised: centroid 0, eyes horizontal at unit distance
    eye_vec = mean[42:48].mean(0) - mean[36:42].mean(0)
    np.testing.assert_allclose(mean.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(eye_vec, [1.0, 0.0], atol=1e-5)


def test_canonical_face_asset_is_a_neutral_symmetric_face() -> None:
    canon = canonical_face()
    assert canon.shape == (68, 2) and canon.dtype == np.float32
    np.testing.assert_allclose(normalize_shape(canon), canon, atol=1e-5)
    canon[0, 0] = 99.0  # a copy: the cached asset is unchanged
    canon = canonical_face()
    assert canon[0, 0] != 99.0
    mirrored = canon * [-1.0, 1.0]
    np.testing.assert_allclose(mirrored[list(MIRROR_68)], canon, atol=1e-4)
    inner_gap = np.linalg.norm(canon[[61, 62, 63]] - canon[[67, 66, 65]], axis=1).mean()
    assert inner_gap < 0.1  # mouth closed
    assert 0.25 < eye_aspect_ratio(canon) < 0.4  # eyes open
    assert canon[8, 1] > canon[57, 1] > canon[33, 1] > canon[27, 1] > canon[19, 1]  # chin..brow
    assert 1.8 < np.ptp(canon[:17, 0]) < 2.6  # jaw width in inter-ocular units


@pytest.mark.parametrize("size", [128, 256])
def test_crop_transform_places_the_face(bbaf: np.ndarray, bbaf_raw_track: TrackResult, size: int) -> None:
    lm = bbaf_raw_track.landmarks[0]
    affine = crop_transform(lm, size)
    assert affine.shape == (2, 3)
    inside = transform_points(lm, affine)
    assert (inside > 0.03 * size).all() and (inside < 0.97 * size).all()
    assert inside[:, 1].min() > 0.15 * size  # room for the forehead
    eye_vec = inside[42:48].mean(0) - inside[36:42].mean(0)
    assert abs(eye_vec[1]) < 0.05 * eye_vec[0]  # eyes level (within 3 degrees: the fit uses stable points)
    assert abs(inside[:, 0].mean() - size / 2) < 0.05 * size
    crop = warp_crop(bbaf[0], affine, size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    # the same face at a different place and scale in the photo gives the same crop geometry
    moved = Similarity.from_params(0.7, 0.2, [40.0, -10.0]).apply(lm)
    np.testing.assert_allclose(transform_points(moved, crop_transform(moved, size)), inside, atol=1e-3)


def test_crop_transforms_are_smooth(bbaf_raw_track: TrackResult) -> None:
    lm = bbaf_raw_track.landmarks
    raw = crop_transforms(lm, 128, smooth=False)
    smooth = crop_transforms(lm, 128)
    assert raw.shape == smooth.shape == (75, 2, 3)
    np.testing.assert_allclose(raw[10], crop_transform(lm[10], 128), atol=1e-9)
    centre = np.array([63.5, 63.5])

    def centres(a: np.ndarray) -> np.ndarray:  # image position of each crop's centre
        return np.stack([np.linalg.solve(m[:, :2], centre - m[:, 2]) for m in a])

    jitter_raw = np.abs(np.diff(centres(raw), 2, axis=0)).mean()
    jitter_smooth = np.abs(np.diff(centres(smooth), 2, axis=0)).mean()
    assert jitter_smooth < 0.5 * jitter_raw
    assert np.abs(centres(smooth) - centres(raw)).max() < 3.0  # follows the head


def test_paste_back_of_unchanged_crop_reproduces_the_image(bbaf: np.ndarray, bbaf_raw_track: TrackResult) -> None:
    img = bbaf[0]
    lm = bbaf_raw_track.landmarks[0]
    for size in (128, 256):
        affine = crop_transform(lm, size)
        crop = warp_crop(img, affine, size)
        back = paste_back(img, crop, affine)
        assert back.shape == img.shape and back.dtype == np.uint8
        # PSNR over the face (landmark box), where the crop was resampled twice
        x0, y0 = np.floor(lm.min(0)).astype(int)
        x1, y1 = np.ceil(lm.max(0)).astype(int)
        mse = np.mean((back.astype(np.float64) - img.astype(np.float64))[y0:y1, x0:x1] ** 2)
        psnr = 10 * np.log10(255.0**2 / max(mse, 1e-12))
        assert psnr > (35.0 if size == 128 else 40.0), psnr  # measured 37.9 / 43.8 dB
    # a changed crop changes the face only; pixels far from it stay
    white = np.full_like(crop, 255)
    pasted = paste_back(img, white, affine)
    nose = np.rint(bbaf_raw_track.landmarks[0, 30]).astype(int)
    assert (pasted[nose[1], nose[0]] == 255).all()
    np.testing.assert_array_equal(pasted[:10], img[:10])
    np.testing.assert_array_equal(pasted[:, :40], img[:, :40])


def test_warp_crop_of_large_frame_is_not_aliased(bbaf: np.ndarray, bbaf_raw_track: TrackResult) -> None:
    import cv2

    img = cv2.resize(bbaf[0], (1440, 1152), interpolation=cv2.INTER_CUBIC)
    lm = bbaf_raw_track.landmarks[0] * 4 + 1.5  # pixel-centre convention of a 4x resize
    small = warp_crop(bbaf[0], crop_transform(bbaf_raw_track.landmarks[0], 128), 128).astype(np.float64)
    big = warp_crop(img, crop_transform(lm, 128), 128).astype(np.float64)
    assert np.abs(big - small).mean() < 6.0


# ---------------------------------------------------------------- embeddings


def test_embeddings_separate_speakers(
    bbaf: np.ndarray, lbbc_frame: np.ndarray, bbaf_raw_track: TrackResult, detector: FaceDetector
) -> None:
    emb = FaceEmbedder()
    a0 = emb(bbaf[0], bbaf_raw_track.landmarks[0])
    a1 = emb(bbaf[60], bbaf_raw_track.landmarks[60])
    b = emb(lbbc_frame, detector.detect(lbbc_frame)[0])  # from a box
    assert a0.shape == (128,) and a0.dtype == np.float32
    same, other = identity_distance(a0, a1), identity_distance(a0, b)
    assert same < 0.45 < other
    assert same < other - 0.2
    assert identity_cosine(a0, a1) > identity_cosine(a0, b)
    assert identity_cosine(a0, a0) == pytest.approx(1.0)


# ---------------------------------------------------------------- drawing


def test_draw_landmarks(bbaf_raw_track: TrackResult) -> None:
    lm = transform_points(bbaf_raw_track.landmarks[0], crop_transform(bbaf_raw_track.landmarks[0], 256))
    img = draw_landmarks(lm, 256)
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8
    assert draw_landmarks(lm, (200, 300)).shape == (200, 300, 3)
    lit = img.max(axis=2) > 40
    for x, y in np.rint(lm).astype(int):
        assert lit[y - 1 : y + 2, x - 1 : x + 2].any()
    assert lit.mean() < 0.1  # black background, thin lines
    # each part in its own colour, at its own points
    for name, idx, _ in PARTS:
        x, y = np.rint(lm[idx[len(idx) // 2]]).astype(int)
        window = img[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).astype(int)
        assert (np.abs(window - PART_COLORS[name]).sum(axis=1) < 120).any(), name
    assert len(set(PART_COLORS.values())) == len(PARTS)
    # drawing on a photo leaves the photo itself untouched; sequences give (T, H, W, 3)
    photo = np.full((256, 256, 3), 90, np.uint8)
    over = draw_landmarks(lm, None, image=photo, thickness=2)
    assert (photo == 90).all() and (over != 90).any()
    assert draw_landmarks(np.stack([lm, lm]), 64).shape == (2, 64, 64, 3)
