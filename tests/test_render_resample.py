"""The native renderer samples the photo once per frame, with a kernel that keeps fine detail (issue 14).

With head motion every pixel of the face moves by fractions of a pixel; each resampling of the photo
then low-passes it. These tests fail if a frame is resampled twice (a warp followed by a separate head
transform, or warped pixels blended with the photo's) or with a kernel that loses the face's detail.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from face_edits import example_face
from talkface.face.landmarks import landmarks_for_image
from talkface.render.compose import RESAMPLE, NativeRenderer, RenderConfig
from talkface.render.warp import upsample2


@pytest.fixture(scope="module")
def textured() -> tuple[np.ndarray, np.ndarray]:
    """The example face with fine skin-like grain (noise blurred by 0.6 px: energy up to ~Nyquist)."""
    photo, lm = example_face()
    noise = np.random.default_rng(0).normal(0, 1, photo.shape[:2]).astype(np.float32)
    grain = cv2.GaussianBlur(noise, (0, 0), 0.6)
    grain *= 12.0 / float(grain.std())
    return np.clip(photo.astype(np.float32) + grain[..., None], 0, 255).astype(np.uint8), lm


def _face_laplacian(image: np.ndarray, lm: np.ndarray) -> float:
    x0, y0 = np.floor(lm.min(0)).astype(int)
    x1, y1 = np.ceil(lm.max(0)).astype(int)
    grey = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


@pytest.mark.parametrize("resample", list(RESAMPLE))
def test_an_unmoved_frame_is_the_photo_bit_for_bit(textured: tuple[np.ndarray, np.ndarray], resample: str) -> None:
    photo, lm = textured
    renderer = NativeRenderer(photo, lm, lm[None], RenderConfig(resample=resample))
    assert np.array_equal(renderer(lm), photo)
    # the oversampled photo's even samples are the photo's pixels (so a whole-pixel shift is exact too)
    big = upsample2(photo, 3, 5, 41, 31)
    assert np.array_equal(big[::2, ::2], photo[5:21, 3:24])


def _sampled_once(image: np.ndarray, renderer: NativeRenderer, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """``image`` sampled once at the map, as the renderer's resampling does it (oversampled: from a fresh
    :func:`upsample2` of ``image`` around the face, not the renderer's cached copy)."""
    flag, factor = RESAMPLE[renderer.config.resample]
    if factor == 1:
        return np.asarray(cv2.remap(image, map_x, map_y, flag, borderMode=cv2.BORDER_REFLECT_101))
    bx, by = renderer.warp._big_origin
    h2, w2 = renderer.warp._big.shape[:2]
    big = upsample2(image, bx, by, w2, h2)
    return np.asarray(cv2.remap(big, 2 * (map_x - bx), 2 * (map_y - by), flag, borderMode=cv2.BORDER_REFLECT_101))


@pytest.mark.parametrize(("shift", "resample"), [((0.5, 0.5), "cubic2x"), ((0.3, -0.2), "cubic2x"),
                                                 ((3.4, 1.7), "cubic2x"), ((0.3, -0.2), "lanczos"),
                                                 ((0.3, -0.2), "cubic")])
def test_a_moved_face_is_one_sample_of_the_photo(textured: tuple[np.ndarray, np.ndarray],
                                                  shift: tuple[float, float], resample: str) -> None:
    """Head motion (here a pure shift: nothing painted) is one remap of the photo with the renderer's own map,
    bit for bit over the whole moving box: no second resampling, no blend of warped and unwarped pixels."""
    photo, lm = textured
    target = lm + np.asarray(shift)
    renderer = NativeRenderer(photo, lm, target[None], RenderConfig(resample=resample))
    out = renderer(target)
    controls, sources, _ = renderer._controls(target)
    map_x, map_y, (x0, y0, x1, y1) = renderer.warp.source_map(controls, sources, still=0.05)  # as warp_roi
    assert x1 - x0 > 0.8 * renderer.roi.width and y1 - y0 > 0.8 * renderer.roi.height  # the whole face moves
    once = _sampled_once(photo, renderer, map_x, map_y)
    r = renderer.roi
    assert np.array_equal(out[r.y0 + y0 : r.y0 + y1, r.x0 + x0 : r.x0 + x1], once)
    assert not np.array_equal(out, photo)
    # the earlier feathered pixel blend mixed a moved and an unmoved copy near the region's border
    blended = NativeRenderer(photo, lm, target[None], RenderConfig(resample=resample, blend="pixels"))(target)
    assert not np.array_equal(blended[r.y0 + y0 : r.y0 + y1, r.x0 + x0 : r.x0 + x1], once)


def test_a_filled_open_mouth_is_sampled_once_too(grid_mpg_female: object) -> None:
    """A photo with an open mouth: frames closing it sample a copy whose interior is filled (MouthFill); the
    oversampled warp upsamples only the filled box afresh, and its cached photo comes back unchanged."""
    from talkface.motion.retarget import close_mouth

    cap = cv2.VideoCapture(str(grid_mpg_female))
    ok, bgr = cap.read()
    cap.release()
    assert ok
    photo = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    lm = landmarks_for_image(photo, "lbbc2a").astype(np.float64)
    target = close_mouth(lm).astype(np.float64) + [0.4, -0.3]
    renderer = NativeRenderer(photo, lm, target[None])
    assert renderer._fill is not None and renderer._fill_weight(target) > 0
    cached = renderer.warp._big.copy()
    out = renderer(target)
    assert np.array_equal(renderer.warp._big, cached)
    controls, sources, _ = renderer._controls(target)
    map_x, map_y, (x0, y0, x1, y1) = renderer.warp.source_map(controls, sources, still=0.05)  # as warp_roi
    r = renderer.roi
    fill = renderer._fill_weight(target)
    assert renderer._lip_mesh is not None  # lbbc2a's mouth (0.125) closes with the lip mesh: its map, as warp_roi
    xy = np.dstack([map_x, map_y])
    renderer._lip_mesh.apply(xy, (x0, y0, x1, y1), (r.x0, r.y0), target, fill)
    map_x, map_y = np.ascontiguousarray(xy[:, :, 0]), np.ascontiguousarray(xy[:, :, 1])
    once = _sampled_once(renderer._fill.image(fill), renderer, map_x, map_y)
    assert np.array_equal(out[r.y0 + y0 : r.y0 + y1, r.x0 + x0 : r.x0 + x1], once)


def test_a_half_pixel_head_shift_keeps_the_face_detail(textured: tuple[np.ndarray, np.ndarray]) -> None:
    """A (0.5, 0.5) px shift is the worst case of any interpolation (the Nyquist frequency is lost); the
    default keeps >= 70 % of the face's Laplacian energy (Lanczos-4 and cubic2x ~75 %, bicubic ~56 %,
    resampled twice less)."""
    photo, lm = textured
    target = lm + 0.5
    before = _face_laplacian(photo, lm)
    kept = {rs: _face_laplacian(NativeRenderer(photo, lm, target[None], RenderConfig(resample=rs))(target), target)
            / before for rs in RESAMPLE}
    assert RenderConfig().resample == "cubic2x"
    assert kept["cubic2x"] >= 0.70 and kept["lanczos"] >= 0.70, kept
    assert kept["cubic"] < kept["cubic2x"] - 0.1, kept  # the measure tells kernels apart
    # a second half-pixel resampling (e.g. a separate head transform after the warp) loses far more
    twice = cv2.warpAffine(NativeRenderer(photo, lm, target[None])(target), np.float64([[1, 0, 0.5], [0, 1, 0.5]]),
                           photo.shape[1::-1], flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT_101)
    assert _face_laplacian(twice, lm + 1.0) / before < 0.70


def test_render_config_rejects_unknown_kernels_and_blends() -> None:
    with pytest.raises(ValueError, match="resample must be one of"):
        RenderConfig(resample="nearest")
    with pytest.raises(ValueError, match="blend must be"):
        RenderConfig(blend="alpha")


def test_upsample2_is_lanczos4_at_half_pixels(textured: tuple[np.ndarray, np.ndarray]) -> None:
    """The separable half-pixel filter equals OpenCV's Lanczos-4 remap (to its fixed-point rounding), also
    where the taps reach past the image's border (reflected)."""
    photo, _ = textured
    h, w = photo.shape[:2]
    for x0, y0, nx, ny in ((0, 0, 2 * w - 1, 2 * h - 1), (w - 30, h - 20, 59, 39), (7, 3, 40, 41)):
        xs = np.float32(x0) + np.arange(nx, dtype=np.float32) / 2
        ys = np.float32(y0) + np.arange(ny, dtype=np.float32) / 2
        map_x, map_y = (np.ascontiguousarray(a, np.float32) for a in np.meshgrid(xs, ys))
        ref = cv2.remap(photo, map_x, map_y, cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT_101)
        got = upsample2(photo, x0, y0, nx, ny)
        assert got.shape == ref.shape and np.abs(got.astype(int) - ref).max() <= 1
        assert np.array_equal(got[::2, ::2], photo[y0 : y0 + (ny + 1) // 2, x0 : x0 + (nx + 1) // 2])


def _separate_maps(warp: object, target: np.ndarray, source: np.ndarray, still: float
                   ) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """The sampling map as FaceWarp built it before 2026-12-02: separate x and y maps from the masked
    displacement (the reference the one two-channel map in place must equal bit for bit)."""
    from talkface.render.warp import tps_eval, tps_fit

    w: Any = warp
    control = w._norm(np.concatenate([target, w.anchors]))
    values = w._norm(np.concatenate([source, w.anchors]))
    disp = tps_eval(control, tps_fit(control, values - control), w._grid_norm) / w._scale
    gh, gw = w._grid_shape
    disp = disp.reshape(gh, gw, 2).astype(np.float32)
    moving = np.abs(disp).max(axis=2) > still
    rows, cols = np.flatnonzero(moving.any(axis=1)), np.flatnonzero(moving.any(axis=0))
    gy0, gy1 = max(0, rows[0] - 1), min(gh - 1, rows[-1] + 1)
    gx0, gx1 = max(0, cols[0] - 1), min(gw - 1, cols[-1] + 1)
    x0, y0 = gx0 * w.step, gy0 * w.step
    x1, y1 = min(w.roi.width, gx1 * w.step + 1), min(w.roi.height, gy1 * w.step + 1)
    affine = np.array([[w.step, 0.0, 0.0], [0.0, w.step, 0.0]])
    up = cv2.warpAffine(np.ascontiguousarray(disp[gy0 : gy1 + 1, gx0 : gx1 + 1]), affine, (x1 - x0, y1 - y0),
                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    up = up * w.mask[y0:y1, x0:x1, None]
    map_x = up[:, :, 0] + np.arange(w.roi.x0 + x0, w.roi.x0 + x1, dtype=np.float32)[None, :]
    map_y = up[:, :, 1] + np.arange(w.roi.y0 + y0, w.roi.y0 + y1, dtype=np.float32)[:, None]
    return map_x, map_y, (x0, y0, x1, y1)


@pytest.mark.parametrize("resample", ["cubic2x", "cubic"])
def test_the_two_channel_map_is_the_separate_maps_bit_for_bit(textured: tuple[np.ndarray, np.ndarray],
                                                              resample: str) -> None:
    """The sampling map built in place as one (h, w, 2) array: the same floats as the separate x and y maps,
    and cv2.remap with it the same pixels, for a head turn with an open mouth and a closing eye."""
    from talkface.face.align import Similarity

    photo, lm = textured
    centre = lm[30]
    target = Similarity.from_params(1.02, np.deg2rad(4.0), np.zeros(2)).apply(lm - centre) + centre + [1.3, -0.7]
    target[[57, 58, 56, 66, 67, 65]] += [0.0, 6.0]  # the jaw side of the mouth drops
    target[[37, 38]] += [0.0, 3.0]
    renderer = NativeRenderer(photo, lm, target[None], RenderConfig(resample=resample))
    warp = renderer.warp
    controls, sources, _ = renderer._controls(target)
    map_x, map_y, box = _separate_maps(warp, controls, sources, 0.05)
    xy, box2 = warp._photo_map(controls, sources, 0.05)
    assert box2 == box and xy.shape == (*map_x.shape, 2) and xy.flags.c_contiguous
    assert np.array_equal(xy[:, :, 0], map_x) and np.array_equal(xy[:, :, 1], map_y)
    got_x, got_y, _ = warp.source_map(controls, sources, still=0.05)
    assert np.array_equal(got_x, map_x) and np.array_equal(got_y, map_y)
    # the frame: the two-channel map in place, against cv2.remap with the two separate maps as before
    flag, factor = RESAMPLE[resample]
    if factor == 1:
        before = cv2.remap(photo, map_x, map_y, flag, borderMode=cv2.BORDER_REFLECT_101)
    else:
        bx, by = warp._big_origin
        before = cv2.remap(warp._big, 2 * (map_x - bx), 2 * (map_y - by), flag, borderMode=cv2.BORDER_REFLECT_101)
    x0, y0, x1, y1 = box
    roi = warp.warp_roi(controls, sources, still=0.05)
    assert np.array_equal(roi[y0:y1, x0:x1], before)
    assert not np.array_equal(roi[y0:y1, x0:x1], warp._photo_roi[y0:y1, x0:x1])
