"""The native renderer (talkface.render): warp at the photo's resolution, painted mouth, closing lids."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from face_edits import EXAMPLES, example_face, open_mouth
from talkface.eval.motion_metrics import mouth_opening
from talkface.face.align import Similarity
from talkface.face.eyes import eye_aspect_ratio
from talkface.face.landmarks import landmarks_for_image
from talkface.render.compose import NativeRenderer, RenderConfig
from talkface.render.mouth import MouthPalette, inner_gap, paint_mouth
from talkface.render.warp import FaceWarp, face_roi, tps_eval, tps_fit


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    return example_face()


def _close_eyes(lm: np.ndarray, fraction: float) -> np.ndarray:
    """Lower the upper lids so each eye keeps ``fraction`` of its opening."""
    out = lm.copy()
    for up, low in ((37, 41), (38, 40), (43, 47), (44, 46)):
        out[up] = out[low] + fraction * (out[up] - out[low])
    return out


def test_tps_is_exact_at_controls_and_identity_when_unmoved() -> None:
    rng = np.random.default_rng(0)
    control = rng.uniform(-1, 1, (20, 2))
    values = control + rng.normal(0, 0.05, control.shape)
    coeffs = tps_fit(control, values, regularisation=1e-9)
    assert np.abs(tps_eval(control, coeffs, control) - values).max() < 1e-4
    zero = tps_fit(control, np.zeros_like(control))
    assert np.abs(tps_eval(control, zero, rng.uniform(-1, 1, (50, 2)))).max() < 1e-6


def test_unmoved_landmarks_give_the_photo(face: tuple[np.ndarray, np.ndarray]) -> None:
    photo, lm = face
    warp = FaceWarp(photo, lm, face_roi(lm, photo.shape))
    out = warp(lm)
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - photo).max() <= 1


def test_outside_the_face_region_is_bit_identical_and_resolution_kept(face: tuple[np.ndarray, np.ndarray]) -> None:
    photo, lm = face
    moved = _close_eyes(open_mouth(lm, 9.0), 0.4)
    renderer = NativeRenderer(photo, lm, moved[None])
    out = renderer(moved)
    assert out.shape == photo.shape
    r = renderer.roi
    outside = np.ones(photo.shape[:2], bool)
    outside[r.y0 : r.y1, r.x0 : r.x1] = False
    assert outside.any() and np.array_equal(out[outside], photo[outside])
    # the face changed
    assert np.abs(out.astype(int) - photo).max() > 50


def test_an_opened_mouth_is_dark_inside(face: tuple[np.ndarray, np.ndarray]) -> None:
    photo, lm = face
    target = open_mouth(lm, 10.0)
    luma = {}
    for style in ("painted", "cavity", "warp"):
        out = NativeRenderer(photo, lm, target[None], RenderConfig(mouth=style))(target)
        mask = np.zeros(photo.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(target[60:68]).astype(np.int32)], 1)
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
        grey = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[mask > 0]
        luma[style] = float(grey.mean())
        if style == "painted":
            dark = float(np.percentile(grey, 10))
    lips = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(lm[48:60]).astype(np.int32)], 1)
    lip_luma = float(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)[lips > 0].mean())
    assert luma["cavity"] < 0.5 * lip_luma, (luma, lip_luma)
    assert luma["cavity"] < luma["painted"], luma  # teeth are lighter than the cavity
    # the painted mouth keeps a dark gap between its teeth (its darkest tenth darker than half the lips;
    # with upper and lower teeth its mean is about the lips', as in real open mouths)
    assert dark < 0.5 * lip_luma and luma["painted"] < 1.1 * lip_luma, (dark, luma, lip_luma)
    # and dlib sees the opening that was asked for
    out = NativeRenderer(photo, lm, target[None])(target)
    got = float(mouth_opening(landmarks_for_image(out, "frame")))
    assert got >= 0.85 * float(mouth_opening(target)), (got, float(mouth_opening(target)))


def test_paint_mouth_only_touches_the_inner_lips(face: tuple[np.ndarray, np.ndarray]) -> None:
    photo, lm = face
    target = open_mouth(lm, 8.0)
    image = photo.astype(np.float32)
    painted = paint_mouth(image.copy(), target, MouthPalette.from_photo(photo, lm))
    changed = np.abs(painted - image).max(axis=2) > 1.0
    grown = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(grown, [np.round(target[60:68]).astype(np.int32)], 1)
    grown = cv2.dilate(grown, np.ones((7, 7), np.uint8))
    assert changed.any() and not changed[grown == 0].any()
    closed = paint_mouth(image.copy(), lm, MouthPalette.from_photo(photo, lm))
    assert inner_gap(lm) < 0.75 and np.array_equal(closed, image)


def test_painted_teeth_have_a_few_soft_seams_not_a_zipper(face: tuple[np.ndarray, np.ndarray]) -> None:
    """Along the upper teeth, a grey photo shows at most 5 seams (central pair, laterals, canines), shallow."""
    photo, lm = face
    target = open_mouth(lm, 12.0)
    grey = np.full_like(photo, 128, dtype=np.float32)
    palette = MouthPalette(lip=np.array([150.0, 90, 90]), skin=np.array([180.0, 140, 120]),
                           teeth=np.array([200.0, 195, 180]))
    painted = paint_mouth(grey.copy(), target, palette)
    up_y = np.interp(np.arange(photo.shape[1]), target[[60, 61, 62, 63, 64], 0], target[[60, 61, 62, 63, 64], 1])
    x0, x1 = int(0.75 * target[60, 0] + 0.25 * target[64, 0]), int(0.25 * target[60, 0] + 0.75 * target[64, 0])
    row = np.array([painted[int(round(up_y[x])) + 3, x].mean() for x in range(x0, x1)])
    assert row.mean() > 140, row.mean()  # the teeth are lit, not the cavity
    trend = np.asarray(cv2.GaussianBlur(row[None], (0, 0), 6.0)[0])  # the lighting across the arch
    dips = (row < trend - 4.0).astype(int)
    seams = int(np.count_nonzero(np.diff(dips) == 1))
    assert 1 <= seams <= 5 and float((trend - row).max()) < 0.3 * trend.mean(), (seams, row.round())


def test_a_blink_closes_the_rendered_eyes(face: tuple[np.ndarray, np.ndarray]) -> None:
    """A blink's apex as the blink stage asks for it (10 % of the open eye aspect ratio): the open eye
    is covered by lid skin (no dark iris or lash streaks left inside it), only around the eyes changes,
    and dlib measures a narrower eye."""
    photo, lm = face
    target = _close_eyes(lm, 0.1)
    out = NativeRenderer(photo, lm, target[None])(target)
    luma = np.array([0.299, 0.587, 0.114])
    skin = float(np.median(photo[int(lm[29, 1]) - 3 : int(lm[29, 1]) + 3, int(lm[29, 0]) - 3 : int(lm[29, 0]) + 3]
                           @ luma))
    changed = np.abs(out.astype(int) - photo.astype(int)).max(axis=2) > 0
    for eye in (range(36, 42), range(42, 48)):
        pts = lm[list(eye)]
        inside = np.zeros(photo.shape[:2], np.uint8)
        cv2.fillPoly(inside, [np.round(pts).astype(np.int32)], 1)
        inside = cv2.erode(inside, np.ones((3, 3), np.uint8)) > 0
        # above the closed lid's lash band (which lies in the lower 2/3 of the open eye)
        line = pts[[4, 5]].mean(0) + 0.7 * (pts[[1, 2]].mean(0) - pts[[4, 5]].mean(0))
        inside[int(np.ceil(line[1])) :] = False
        # the middle of the eye (iris, pupil): the lash band turns up into the corners
        span = np.sort(pts[[0, 3], 0])
        inside[:, : int(span[0] + 0.15 * (span[1] - span[0]))] = False
        inside[:, int(np.ceil(span[1] - 0.15 * (span[1] - span[0]))) :] = False
        # the open eye: iris, pupil and lashes are dark; the closed lid is skin
        assert (photo[inside] @ luma < 0.6 * skin).mean() > 0.3
        assert (out[inside] @ luma < 0.6 * skin).mean() < 0.05, (out[inside] @ luma < 0.6 * skin).mean()
        width = float(np.linalg.norm(pts[3] - pts[0]))
        near = np.zeros_like(changed)
        lo, hi = pts.min(0) - 0.6 * width, pts.max(0) + 0.6 * width
        near[int(lo[1]) : int(hi[1]) + 1, int(lo[0]) : int(hi[0]) + 1] = True
        changed &= ~near
    assert not changed.any()  # nothing outside the eyes changes: the warp keeps the open eye in place
    ear_open = float(eye_aspect_ratio(landmarks_for_image(photo, "photo")))
    ear = float(eye_aspect_ratio(landmarks_for_image(out, "frame")))
    # dlib reads a real closed eye at ~0.47 of open (GRID s1 blinks, docs/render.md); the drawn lid
    # with its dark margin band reads 0.50 here (a thin lash line alone: 0.59)
    assert ear <= 0.56 * ear_open, (ear, ear_open)


def test_a_closed_eye_meets_low_with_its_lashes_over_the_lower_lid(face: tuple[np.ndarray, np.ndarray]) -> None:
    """At a blink's apex the lids meet near the open eye's lower lid, as a real closed eye's do: the drawn
    lash line lies there (not over the photo's dark iris), and little of the open eye still shows by the
    detector-free measure (real GRID s1 closed eyes: median 0.21; docs/render.md, "Blink depth")."""
    from talkface.eval.render_metrics import visible_eye_share

    photo, lm = face
    target = _close_eyes(lm, 0.1)
    out = NativeRenderer(photo, lm, target[None])(target)
    luma = out.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    y, x = lm[29].astype(int)[::-1]
    skin = float(np.median(luma[y - 3 : y + 3, x - 3 : x + 3]))
    for eye in (range(36, 42), range(42, 48)):
        pts = lm[list(eye)]
        x0, x1 = (int(pts[0, 0] + f * (pts[3, 0] - pts[0, 0])) for f in (0.3, 0.7))  # the middle of the eye
        upper, lower = float(pts[[1, 2], 1].mean()), float(pts[[4, 5], 1].mean())
        rows = np.arange(int(upper) - 6, int(lower) + 7)
        dark = luma[rows, x0:x1] < 0.6 * skin  # the drawn lash line (the lid above it is skin)
        assert dark.sum() >= x1 - x0  # a lash line is drawn ...
        height = (lower - float((rows[:, None] * dark).sum() / dark.sum())) / (lower - upper)
        assert height < 0.1, height  # ... at the open lower lid (0.13-0.19 of the gap above it before)
    share = visible_eye_share(out[None], lm[None], photo, lm)[0]
    assert float(share.mean()) < 0.17, share  # 0.18 with the lids meeting higher


def test_closing_lids_do_not_smear_the_lashes_into_streaks(face: tuple[np.ndarray, np.ndarray]) -> None:
    """Half way through a blink the lid above the edge is smooth skin: no column of dark pixels (lashes
    stretched down) inside the swept area."""
    photo, lm = face
    target = _close_eyes(lm, 0.5)
    out = NativeRenderer(photo, lm, target[None])(target).astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    photo_luma = photo.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    for up, corner_a, corner_b in ((37, 36, 39), (44, 42, 45)):
        x0, x1 = int(lm[corner_a, 0] + 3), int(lm[corner_b, 0] - 2)
        y0 = int(min(lm[up, 1], lm[up - 1 if up == 44 else up + 1, 1]))
        y1 = int(target[up, 1]) - 3  # stop above the drawn lash line
        band = out[y0 : y1 + 1, x0 : x1 + 1]
        cols = band.mean(axis=0)
        streaks = float(np.abs(cols - cv2.GaussianBlur(cols[None], (0, 0), 2.0)[0]).max())
        assert band.size and float(band.min()) > 0.6 * float(np.median(photo_luma[lm[29].astype(int)[1], :])) and \
            streaks < 12.0, (float(band.min()), streaks)


def test_a_closed_lid_on_a_large_eye_is_the_photos_own_lid_thin_lashed_without_a_ghost_arc(
        face: tuple[np.ndarray, np.ndarray]) -> None:
    """The example face x3 (eyes ~65 px, an HD face): at a blink's apex the lash line is thin (the photo's own
    lash line scales with its blur, not with the eye: it was 0.20 of the eye's width, a dark bar), a dark arc
    of the photo just above the lid (an open lid's outline or crease) fades (it stayed at 0.8-0.9 of its
    darkness: a ghost arc), and in a shadowed eye socket the lid keeps the socket's shade (it was 1.12-1.30
    x the skin above it: a pale drawn patch). docs/render.md, "Closed lids that look like the person's own"."""
    luma = np.array([0.299, 0.587, 0.114])
    photo, lm = face
    photo = cv2.resize(photo, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    lm = lm * 3 + 1.0
    target = _close_eyes(lm, 0.1)
    eyes = [lm[list(eye)] for eye in (range(36, 42), range(42, 48))]
    out = NativeRenderer(photo, lm, target[None])(target).astype(np.float64) @ luma
    y, x = lm[29].astype(int)[::-1]
    skin = float(np.median(out[y - 6 : y + 6, x - 6 : x + 6]))
    # a dark arc drawn a third of the eye's width above each upper lid; and a shadowed socket
    arcs, shadowed = photo.copy(), photo.astype(np.float64)
    for p in eyes:
        w = float(np.linalg.norm(p[3] - p[0]))
        arc = p[[0, 1, 2, 3]] - np.array([0.0, 0.32 * w]) * np.array([[0.3], [1.0], [1.0], [0.3]])
        cv2.polylines(arcs, [np.round(arc).astype(np.int32)], False, (90, 60, 50), 3)
        mask = np.zeros(photo.shape[:2], np.float32)
        c = p.mean(0)
        cv2.ellipse(mask, (int(c[0]), int(c[1] - 0.25 * w)), (int(0.8 * w), int(0.45 * w)), 0, 0, 360, 1.0, -1)
        shadowed *= 1.0 - 0.45 * cv2.GaussianBlur(mask, (0, 0), 0.08 * w)[..., None]
    shadowed = np.clip(shadowed, 0, 255).astype(np.uint8)
    renderer = NativeRenderer(arcs, lm, target[None])
    closed, opened = (renderer(t).astype(np.float64) @ luma for t in (target, lm))
    dark = NativeRenderer(shadowed, lm, target[None])(target).astype(np.float64) @ luma
    for p in eyes:
        w = float(np.linalg.norm(p[3] - p[0]))
        mid = p[[1, 2]].mean(0)
        x0, x1 = (int(p[0, 0] + f * (p[3, 0] - p[0, 0])) for f in (0.35, 0.65))
        rows = out[int(p[:, 1].min() - 0.1 * w) : int(p[:, 1].max() + 0.3 * w), x0:x1]
        thickness = float((rows < 0.6 * skin).sum(axis=0).mean()) / w
        assert 0.03 < thickness < 0.175, thickness  # a line is drawn, thin (0.20 before)
        band = slice(int(mid[1] - 0.32 * w) - 4, int(mid[1] - 0.32 * w) + 5)
        xs = slice(int(mid[0] - 0.1 * w), int(mid[0] + 0.1 * w))
        ref = float(np.median((photo.astype(np.float64) @ luma)[band, xs]))
        ghost = (ref - closed[band, xs].mean(axis=1).min()) / (ref - opened[band, xs].mean(axis=1).min())
        assert ghost < 0.5, ghost  # the arc fades as the lid closes (0.79-0.87 of its darkness before)
        lid = dark[int(mid[1] - 0.05 * w) : int(p[[4, 5], 1].mean() - 0.05 * w), int(mid[0] - 0.15 * w) :
                   int(mid[0] + 0.15 * w)].mean()
        above = (shadowed.astype(np.float64) @ luma)[int(mid[1] - 0.45 * w) : int(mid[1] - 0.3 * w),
                                                     int(mid[0] - 0.15 * w) : int(mid[0] + 0.15 * w)].mean()
        assert 0.85 < lid / above < 1.1, lid / above  # the socket's shade (1.12-1.30: a pale patch before)


def test_whole_face_motion_moves_the_face_without_tearing(face: tuple[np.ndarray, np.ndarray]) -> None:
    photo, lm = face
    centre = lm[30]
    moved = Similarity.from_params(1.03, np.deg2rad(6.0), np.zeros(2)).apply(lm - centre) + centre + [10.0, 4.0]
    renderer = NativeRenderer(photo, lm, moved[None])
    out = renderer(moved)
    found = landmarks_for_image(out, "frame")
    assert np.linalg.norm(found - moved, axis=1).mean() < 3.0
    # smooth: no pixel jumps between neighbours that the photo does not have
    grad = np.abs(np.diff(out.astype(np.float32), axis=1)).max()
    assert grad <= np.abs(np.diff(photo.astype(np.float32), axis=1)).max() + 10
    controls, sources, _ = renderer._controls(moved)
    map_x, map_y, _ = renderer.warp.source_map(controls, sources)
    jumps = max(np.abs(np.diff(map_x, axis=1)).max(), np.abs(np.diff(map_y, axis=0)).max())
    assert jumps < 2.0  # the backward map is smooth: no tears, no folds of more than a pixel


def test_render_config_rejects_unknown_styles() -> None:
    with pytest.raises(ValueError, match="mouth must be one of"):
        RenderConfig(mouth="teeth")


def test_animator_renders_natively_by_default_and_keeps_the_crop_path(face: tuple[np.ndarray, np.ndarray]) -> None:
    import torch

    from talkface.io.media import read_audio
    from talkface.pipeline import AnimateConfig, Animator

    torch.set_num_threads(1)
    photo, _ = face
    audio = read_audio(EXAMPLES / "speech.wav")[:16000]
    native = Animator(AnimateConfig(threads=1))
    assert native.config.renderer == "native"
    frames = native.talking_head(photo, audio)
    assert frames.shape == (25, *photo.shape)
    # far from the face every frame is the photo, bit for bit (no pasted square)
    assert np.array_equal(frames[:, :30], np.broadcast_to(photo[:30], frames[:, :30].shape))
    crop = Animator(AnimateConfig(threads=1, renderer="crop")).talking_head(photo, audio)
    assert crop.shape == frames.shape and not np.array_equal(crop, frames)
    with pytest.raises(ValueError, match="--renderer: must be one of"):
        Animator(AnimateConfig(renderer="paste"))
    with pytest.raises(ValueError, match="--mouth: must be one of auto"):
        Animator(AnimateConfig(mouth="teeth"))


def test_animator_renders_given_landmarks_as_the_request(face: tuple[np.ndarray, np.ndarray]) -> None:
    """An oracle study's path (benchmarks/render_quality.py VARIANT:oracle): the given track is rendered as is."""
    import torch

    from talkface.pipeline import AnimateConfig, Animator

    torch.set_num_threads(1)
    photo, lm = face
    animator = Animator(AnimateConfig(threads=1))
    person = animator._face(photo, "<photo>")
    track = np.repeat(person[None], 4, 0).astype(np.float32)
    track[2] = open_mouth(person, 0.3 * float(np.linalg.norm(person[54] - person[48])))
    total, frames = animator._frames(photo, person, np.zeros(16000, np.float32), blink_rate=None, motion_scale=1.0,
                                     seed=0, size=0, timer={}, progress=None, requested=track)
    out = np.stack(list(frames))
    assert total == 4 and out.shape == (4, *photo.shape)
    assert animator.last_requested_landmarks is not None
    assert np.array_equal(animator.last_requested_landmarks, track)
    assert np.abs(out[0].astype(int) - photo).max() <= 1  # the photo's own landmarks: the photo
    assert mouth_opening(track[2:3])[0] > mouth_opening(track[:1])[0]
    x0, y0 = np.floor(track[2, 48:68].min(0)).astype(int)
    x1, y1 = np.ceil(track[2, 48:68].max(0)).astype(int)
    assert np.abs(out[2, y0:y1, x0:x1].astype(int) - photo[y0:y1, x0:x1]).mean() > 5  # the mouth opened


def test_neck_anchors_keep_the_neck_still_when_the_jaw_drops(face: tuple[np.ndarray, np.ndarray]) -> None:
    photo, lm = face
    photo = cv2.copyMakeBorder(photo, 0, 120, 0, 0, cv2.BORDER_REFLECT)  # room for a neck under the chin
    target = open_mouth(lm, 0.35 * float(np.linalg.norm(lm[54] - lm[48])))
    h = float(np.linalg.norm(lm[8] - lm[27]))

    def shift(depth: float, below: float) -> float:
        """Mean vertical displacement of the backward map at the lower jaw points moved ``below`` × h down."""
        renderer = NativeRenderer(photo, lm, target[None], RenderConfig(neck=depth))
        tgt, src, _ = renderer._controls(target)
        map_x, map_y, (x0, y0, _, _) = renderer.warp.source_map(tgt, src)
        pts = np.round(lm[4:13] + [0, below * h]).astype(int) - [renderer.roi.x0 + x0, renderer.roi.y0 + y0]
        return float(np.mean([abs(map_y[y, x] - (y + renderer.roi.y0 + y0)) for x, y in pts]))

    def neck(depth: float) -> float:
        return float(np.mean([shift(depth, b) for b in (0.35, 0.45, 0.55)]))

    assert neck(0.0) > 0.8  # without anchors the jaw drop drags the neck down
    assert neck(0.3) < 0.6 * neck(0.0)
    assert shift(0.3, 0.0) > 0.8 * shift(0.0, 0.0)  # the jaw line still drops as asked


def test_render_metrics_see_blur_tint_and_blinks(face: tuple[np.ndarray, np.ndarray]) -> None:
    from talkface.eval.render_metrics import blink_apex_ratio, colour_shift, laplacian_var

    photo, lm = face
    lms = np.repeat(lm[None], 2, 0)
    sharp = np.stack([photo, photo])
    blurred = np.stack([cv2.GaussianBlur(photo, (0, 0), 2.0)] * 2)
    assert laplacian_var(blurred, lms) < 0.5 * laplacian_var(sharp, lms)
    tinted = np.clip(sharp.astype(int) + [0, 0, 12], 0, 255).astype(np.uint8)
    assert colour_shift(sharp, photo, lm, lms) == 0.0
    assert 3.0 < colour_shift(tinted, photo, lm, lms) <= 4.0  # +12 on one channel of three
    track = np.repeat(lm[None], 10, 0)
    track[4] = _close_eyes(lm, 0.3)
    assert abs(blink_apex_ratio(track, track) - 0.3) < 0.05
    track[7] = _close_eyes(lm, 0.55)  # a shallow half-blink: counted, unless only closures count
    assert abs(blink_apex_ratio(track, track) - 0.425) < 0.05
    assert abs(blink_apex_ratio(track, track, closed_below=0.4) - 0.3) < 0.05
    assert np.isnan(blink_apex_ratio(track, track, closed_below=0.2))
    assert np.isnan(blink_apex_ratio(np.repeat(lm[None], 10, 0), np.repeat(lm[None], 10, 0)))
    # the open level is the rendered eye where the request is open: a long blink (5 of 10 frames,
    # rendered less deep than asked) does not lower it (the median of all frames would give 0.69)
    long = np.repeat(lm[None], 10, 0)
    long[3:8] = _close_eyes(lm, 0.1)
    rendered = long.copy()
    rendered[3:8] = _close_eyes(lm, 0.5)
    rendered[0:3] = _close_eyes(lm, 0.95)  # open frames read a little narrower
    assert abs(blink_apex_ratio(rendered, long) - 0.5 / 0.95) < 0.03


def test_colour_change_vs_the_warped_photo_sees_tint_not_motion(face: tuple[np.ndarray, np.ndarray]) -> None:
    from talkface.eval.render_metrics import colour_change

    photo, lm = face
    moved = lm + [6.0, 3.0]  # the whole face moved (head motion): the warped photo moves with it
    shift = np.float32([[1, 0, 6], [0, 1, 3]])
    warped = cv2.warpAffine(photo, shift, photo.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    frames, ref, req = np.stack([warped] * 2), np.stack([warped] * 2), np.stack([moved] * 2)
    assert colour_change(frames, ref, req) == 0.0  # motion alone: nothing
    tinted = np.clip(frames.astype(int) + [0, 0, 12], 0, 255).astype(np.uint8)
    assert 3.0 < colour_change(tinted, ref, req) <= 4.0  # +12 on one channel of three
    mouth = frames.copy()  # paint confined to the mouth does not count
    hull = cv2.convexHull(np.round(moved[48:68]).astype(np.int32))
    for f in mouth:
        cv2.fillConvexPoly(f, hull, (10, 10, 10))
    assert colour_change(mouth, ref, req) == 0.0


def test_visible_eye_share_reads_closure_from_pixels(face: tuple[np.ndarray, np.ndarray]) -> None:
    """The photo (also shifted) shows all of its open eyes; a drawn closed lid hides most of them, half
    a blink about half; a blink's apex over the open frames' level."""
    from talkface.eval.render_metrics import blink_visible_share, visible_eye_share

    photo, lm = face
    shifted = np.roll(photo, (2, 3), (0, 1))
    assert np.allclose(visible_eye_share(np.stack([photo, shifted]), np.stack([lm, lm + [3, 2]]), photo, lm), 1.0)
    shares = []
    for fraction in (0.1, 0.5):
        target = _close_eyes(lm, fraction)
        out = NativeRenderer(photo, lm, target[None])(target)
        shares.append(visible_eye_share(out[None], lm[None], photo, lm)[0])
    assert (shares[0] < 0.3).all() and (shares[1] > 0.4).all() and (shares[1] < 0.8).all(), shares
    track = np.repeat(lm[None], 10, 0)
    track[4:7] = _close_eyes(lm, 0.1)
    frames = np.repeat(photo[None], 10, 0)
    frames[4:7] = NativeRenderer(photo, lm, track)(track[5])
    assert blink_visible_share(frames, np.repeat(lm[None], 10, 0), photo, lm, track) < 0.3
    assert np.isnan(blink_visible_share(frames, track, photo, lm, np.repeat(lm[None], 10, 0)))


def test_pose_aligned_lmd_ignores_head_pose_not_the_mouth(face: tuple[np.ndarray, np.ndarray]) -> None:
    from talkface.eval.render_metrics import pose_aligned_lmd

    _, lm = face
    c, s = np.cos(0.1), np.sin(0.1)
    turned = (lm - lm.mean(0)) @ np.array([[c, -s], [s, c]]).T * 1.3 + lm.mean(0) + [7.0, -4.0]
    assert pose_aligned_lmd(turned[None], lm[None]) < 1e-3  # float32 crop alignment
    opened = open_mouth(lm, 6.0)
    assert pose_aligned_lmd(opened[None], lm[None]) > 0.5
    with pytest.raises(ValueError, match="must both be"):
        pose_aligned_lmd(lm[None], np.stack([lm, lm]))


def test_render_scores_report_blink_closure_and_pose_aligned_lmd(face: tuple[np.ndarray, np.ndarray]) -> None:
    """``render_scores`` (what ``talkface evaluate`` reports) carries the blink and pose columns: a rendered
    requested blink reads well under 1 on pixels and on dlib's EAR, the photo repeated reads 1; NaN
    without a blink to look at."""
    from talkface.eval.render_metrics import render_scores

    photo, lm = face
    n = 12
    real, real_lm = np.repeat(photo[None], n, 0), np.repeat(lm[None], n, 0)
    request = real_lm.copy()
    request[5:8] = _close_eyes(lm, 0.1)
    rendered = real.copy()
    rendered[5:8] = NativeRenderer(photo, lm, request)(request[6])
    tracked = np.stack([landmarks_for_image(f, "frame") for f in rendered]).astype(np.float64)
    blink = render_scores(rendered, tracked, real, real_lm, requested=request)
    still = render_scores(real, real_lm, real, real_lm, requested=request)
    assert blink["blink_vis"] < 0.3 and blink["blink_closed"] < 0.7 and blink["blink_ear"] == blink["blink_closed"]
    assert still["blink_vis"] == pytest.approx(1.0) and still["blink_ear"] == pytest.approx(1.0)
    assert still["lmd_pose"] < 1e-3 and blink["lmd_pose"] < 1.0  # the mouth did not move
    none = render_scores(real, real_lm, real, real_lm, requested=real_lm)  # a request without a blink
    assert all(np.isnan(none[k]) for k in ("blink_ear", "blink_closed", "blink_vis"))
    assert np.isnan(render_scores(real, real_lm, real, real_lm)["blink_vis"])  # nothing requested


def _first_frame(path: object) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    cap.release()
    assert ok
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def test_closing_an_open_photo_mouth_shows_lips_not_its_interior(grid_mpg_female: object, grid_mpg: object) -> None:
    from talkface.face.geometry import mouth_is_open
    from talkface.motion.retarget import close_mouth

    # GRID lbbc2a opens her mouth (teeth showing) on the first frame: closed, the lips meet with no teeth slit
    photo = _first_frame(grid_mpg_female)
    lm = landmarks_for_image(photo, "lbbc2a").astype(np.float64)
    assert mouth_is_open(lm)
    closed = close_mouth(lm).astype(np.float64)
    frames = [NativeRenderer(photo, lm, track=closed[None], config=RenderConfig(fill_mouth=fill))(closed)
              for fill in (False, True)]
    lips = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(closed[48:60]).astype(np.int32)], 1)
    spread = [float(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[lips > 0].std()) for f in frames]
    assert spread[1] < 0.8 * spread[0], spread  # the teeth and the dark slit no longer stripe the lips
    # ... but the lips still meet along a thin shadow line (not one pink blob): on the mouth's centre column
    # the contact rows are clearly darker than the lips (0.74 of their median; 0.95 without the line)
    grey = cv2.cvtColor(frames[1], cv2.COLOR_RGB2GRAY).astype(np.float64)
    x, y = np.round(closed[[62, 66]].mean(axis=0)).astype(int)
    assert grey[y - 1:y + 2, x].min() < 0.85 * np.median(grey[lips > 0])
    # a mouth that is not open renders bit for bit as without the fill, whatever the frame asks
    photo = _first_frame(grid_mpg)
    lm = landmarks_for_image(photo, "bbaf2n").astype(np.float64)
    assert not mouth_is_open(lm)
    for target in (close_mouth(lm).astype(np.float64), open_mouth(lm, 6.0)):
        a, b = (NativeRenderer(photo, lm, track=target[None], config=RenderConfig(fill_mouth=fill))(target)
                for fill in (False, True))
        assert np.array_equal(a, b)


def _lip_sources(renderer: NativeRenderer, target: np.ndarray, mesh: bool) -> dict[str, float]:
    """Share of the target's lip pixels whose backward map lands on the same lip of the photo (spline or mesh)."""
    fill = renderer._fill_weight(target)
    controls, sources, _ = renderer._controls(target, fill)
    xy, box = renderer.warp._photo_map(controls, sources, 0.05)
    if mesh:
        assert renderer._lip_mesh is not None
        renderer._lip_mesh.apply(xy, box, (renderer.roi.x0, renderer.roi.y0), target, fill)
    ox, oy = renderer.roi.x0 + box[0], renderer.roi.y0 + box[1]
    lm = renderer.landmarks
    out = {}
    for name, poly in (("upper", [48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60]),
                       ("lower", [48, 60, 67, 66, 65, 64, 54, 55, 56, 57, 58, 59])):
        mask = np.zeros(renderer.photo.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(target[poly]).astype(np.int32)], 1)
        ys, xs = np.nonzero(cv2.erode(mask, np.ones((3, 3), np.uint8)))
        photo_lip = lm[poly].astype(np.float32)
        out[name] = float(np.mean([cv2.pointPolygonTest(photo_lip, (float(a), float(b)), True) >= -0.5
                                   for a, b in xy[ys - oy, xs - ox]]))
    return out


def test_closing_an_open_photo_mouth_maps_each_lip_onto_itself(grid_mpg_female: object) -> None:
    """The lip mesh (render/lip_mesh.py): a frame closing the photo's open mouth shows each lip from the photo's
    own lip, not half the gap squeezed in (the spline: a wide-open photo's upper lip became a dark outline)."""
    from talkface.face.geometry import mouth_opening as opening
    from talkface.motion.retarget import close_mouth
    from talkface.render.lip_mesh import OPEN_FROM, LipMesh

    photo = _first_frame(grid_mpg_female)  # GRID lbbc2a, teeth showing (opening 0.125)
    lm = landmarks_for_image(photo, "lbbc2a").astype(np.float64)
    closed = close_mouth(lm).astype(np.float64)
    renderer = NativeRenderer(photo, lm, track=closed[None])
    spline, mesh = _lip_sources(renderer, closed, False), _lip_sources(renderer, closed, True)
    assert spline["upper"] < 0.85 and spline["lower"] < 0.9, spline  # 0.76 / 0.82
    assert mesh["upper"] > 0.97 and mesh["lower"] > 0.97, mesh  # 1.0 / 1.0
    # a wide-open mouth (the example face's lower lip dropped by a third of the mouth width)
    face, face_lm = example_face()
    wide = open_mouth(face_lm, 0.35 * float(np.linalg.norm(face_lm[54] - face_lm[48])))
    shut = close_mouth(wide).astype(np.float64)
    renderer = NativeRenderer(face, wide, track=shut[None])
    spline, mesh = _lip_sources(renderer, shut, False), _lip_sources(renderer, shut, True)
    assert spline["upper"] < 0.5 and mesh["upper"] > 0.75, (spline, mesh)  # 0.37 -> 0.82
    assert mesh["lower"] > spline["lower"] + 0.15, (spline, mesh)  # 0.69 -> 0.93
    # the mesh changes the map only inside its ring, and nothing at weight 0
    fill = renderer._fill_weight(shut)
    controls, sources, _ = renderer._controls(shut, fill)
    xy, box = renderer.warp._photo_map(controls, sources, 0.05)
    before = xy.copy()
    assert renderer._lip_mesh is not None
    renderer._lip_mesh.apply(xy, box, (renderer.roi.x0, renderer.roi.y0), shut, 0.0)
    assert np.array_equal(xy, before)
    renderer._lip_mesh.apply(xy, box, (renderer.roi.x0, renderer.roi.y0), shut, fill)
    changed = np.argwhere(np.abs(xy - before).max(axis=2) > 0) + [renderer.roi.y0 + box[1], renderer.roi.x0 + box[0]]
    ring = LipMesh(wide).ring
    assert len(changed) and ring[:, 0].min() - 2 <= changed[:, 1].min() <= changed[:, 1].max() <= ring[:, 0].max() + 2
    # frames that do not close the photo's mouth, and barely open photos (GRID brbk7n-like), keep the spline alone
    assert renderer._fill_weight(wide) == 0.0
    barely = open_mouth(face_lm, 0.07 * float(np.linalg.norm(face_lm[36] - face_lm[45])))
    assert 0.08 < float(opening(barely)) < OPEN_FROM, float(opening(barely))
    assert NativeRenderer(face, barely, track=close_mouth(barely)[None])._lip_mesh is None


def test_an_open_photo_mouth_opening_wider_shows_its_own_teeth_over_a_cavity(grid_mpg_female: object,
                                                                            grid_mpg: object) -> None:
    from talkface.render.open_photo import PhotoTeeth

    # GRID lbbc2a's first frame shows her teeth: asked to open wider, the upper teeth ride with the upper lip
    photo = _first_frame(grid_mpg_female)
    lm = landmarks_for_image(photo, "lbbc2a").astype(np.float64)
    teeth = PhotoTeeth(photo, lm)
    assert teeth.found and teeth.share > 0.4
    wide = open_mouth(lm, 8.0)
    own, painted = (NativeRenderer(photo, lm, track=wide[None], config=RenderConfig(photo_teeth=on))(wide)
                    for on in (True, False))
    x, y = np.round(lm[62]).astype(int)
    rows = slice(y + 1, y + 4)  # just under the upper inner lip: the photo's upper teeth
    cols = slice(x - 6, x + 7)

    def diff(frame: np.ndarray) -> float:
        return float(np.abs(frame[rows, cols].astype(float) - photo[rows, cols].astype(float)).mean())

    assert diff(own) < 0.6 * diff(painted), (diff(own), diff(painted))  # 16 vs 34 grey levels
    # the rest of the opening is the dark cavity
    grey = cv2.cvtColor(own, cv2.COLOR_RGB2GRAY).astype(np.float64)
    x, y = np.round(0.5 * (wide[62] + wide[66]) + [0, 2]).astype(int)
    lips = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(lm[48:60]).astype(np.int32)], 1)
    assert grey[y, x - 3 : x + 4].mean() < 0.6 * float(np.median(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)[lips > 0]))
    # a dark interior with no teeth keeps the painted crowns
    dark = photo.copy()
    inner = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(inner, [np.round(lm[60:68]).astype(np.int32)], 1)
    dark[inner > 0] = (40, 20, 20)
    assert not PhotoTeeth(dark, lm).found
    # a photo whose mouth is not open renders bit for bit as without the option
    photo = _first_frame(grid_mpg)
    lm = landmarks_for_image(photo, "bbaf2n").astype(np.float64)
    target = open_mouth(lm, 6.0)
    a, b = (NativeRenderer(photo, lm, track=target[None], config=RenderConfig(photo_teeth=on))(target)
            for on in (True, False))
    assert np.array_equal(a, b)


def test_an_open_photo_mouth_barely_open_shows_a_dark_slit_not_its_squeezed_teeth(grid_mpg_female: object) -> None:
    from talkface.motion.retarget import close_mouth
    from talkface.render.mouth import TEETH_SHOW

    # GRID lbbc2a's first frame shows her teeth (x3: a 90-px mouth, as on HD wild photos). Lips asked barely
    # apart squeezed the photo's teeth into a pale thread between them; the lips' shadow hides them instead
    photo = _first_frame(grid_mpg_female)
    photo = cv2.resize(photo, None, fx=3.0, fy=3.0, interpolation=cv2.INTER_CUBIC)
    lm = landmarks_for_image(photo, "lbbc2a").astype(np.float64)
    closed = close_mouth(lm).astype(np.float64)
    width = float(np.linalg.norm(closed[64] - closed[60]))
    grey_lips = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(grey_lips, [np.round(closed[48:60]).astype(np.int32)], 1)
    cv2.fillPoly(grey_lips, [np.round(closed[60:68]).astype(np.int32)], 0)

    def slit_peak(opening: float) -> tuple[float, float]:
        target = open_mouth(closed, opening * width)
        frame = NativeRenderer(photo, lm, track=target[None], config=RenderConfig())(target)
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float64)
        x = int(round(0.5 * (target[60, 0] + target[64, 0]) + 0.1 * width))
        top, bottom = int(np.ceil(target[62, 1])), int(np.floor(target[66, 1]))
        return float(grey[top:bottom + 1, x].max()), float(np.median(grey[grey_lips > 0]))

    peak, lip = slit_peak(0.05)  # 5 px: the closing warp alone squeezed the teeth in (peak 1.01 of the lips)
    assert peak < 0.93 * lip, (peak, lip)  # a dark slit (0.89 of the lips)
    peak, lip = slit_peak(TEETH_SHOW[1] + 0.02)
    assert peak > lip, (peak, lip)  # opening a little more, the photo's teeth show
