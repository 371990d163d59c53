"""The learned lower-face shading (talkface.nets.shading, talkface.render.shading): shapes and how it is applied."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from face_edits import example_face, open_mouth
from talkface.face.align import crop_transform, transform_points
from talkface.motion.retarget import close_mouth
from talkface.nets.shading import IN_CHANNELS, ShadingNet, ShadingNetConfig
from talkface.render.compose import NativeRenderer, RenderConfig
from talkface.render.mouth import inner_gap
from talkface.render.shading import (
    LIFT_RANGE,
    LIMIT,
    OPEN_RANGE,
    RANGE,
    LowerFaceShading,
    apply_gain,
    displacement_level,
    export_shading,
    load_shading,
    lower_face_mask,
    range_gate,
    shading_inputs,
)


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    return example_face()


def _constant_net(log_gain: float) -> ShadingNet:
    """A network that predicts the same log gain everywhere (head bias only)."""
    net = ShadingNet()
    with torch.no_grad():
        net.head.bias.fill_(float(np.arctanh(log_gain / net.config.max_gain)))
    return net.eval()


@pytest.mark.parametrize("out_size", [32, 16, 8])
def test_net_maps_inputs_to_a_bounded_gain_grid(out_size: int) -> None:
    net = ShadingNet(ShadingNetConfig(in_size=64, out_size=out_size))
    x = torch.randn(3, IN_CHANNELS, 64, 64)
    y = net(x)
    assert y.shape == (3, 1, out_size, out_size)
    assert torch.count_nonzero(y) == 0  # a fresh network changes nothing
    with torch.no_grad():
        net.head.bias.fill_(50.0)
    assert torch.allclose(net(x), torch.full_like(y, net.config.max_gain))
    with pytest.raises(ValueError, match="expected"):
        net(torch.randn(1, IN_CHANNELS, 32, 32))
    with pytest.raises(ValueError):
        ShadingNetConfig(in_size=64, out_size=24)


def test_geometry_only_net_ignores_the_grey_levels() -> None:
    torch.manual_seed(0)
    net = ShadingNet(ShadingNetConfig(image=False))
    torch.nn.init.normal_(net.head.weight, std=0.1)
    x = torch.randn(2, IN_CHANNELS, 64, 64)
    other = x.clone()
    other[:, 0] = torch.rand(2, 64, 64) - 0.5
    assert torch.equal(net(x), net(other))
    moved = x.clone()
    moved[:, 2] += 0.5
    assert not torch.allclose(net(x), net(moved))


def test_inputs_and_mask_cover_the_lower_face_not_the_eyes_or_mouth_inside(face: tuple[np.ndarray, np.ndarray]) -> None:
    photo, lm = face
    target = open_mouth(lm, 8.0)
    a = crop_transform(target, 64)
    tc = transform_points(target, a).astype(np.float64)
    pc = transform_points(lm, crop_transform(lm, 64)).astype(np.float64)
    x = shading_inputs(np.full((64, 64), 128, np.uint8), tc, pc)
    assert x.shape == (IN_CHANNELS, 64, 64) and x.dtype == np.float32
    mask = x[3]
    assert np.array_equal(mask, lower_face_mask(tc, 64))

    def at(p: np.ndarray) -> float:
        return float(mask[int(round(p[1])), int(round(p[0]))])

    chin = 0.5 * (tc[8] + tc[57])
    assert at(chin) > 0.9 and at(tc[33]) > 0.5  # chin, nose tip
    assert at(tc[36:42].mean(0)) < 0.05 and at(tc[42:48].mean(0)) < 0.05  # eyes
    assert at(tc[60:68].mean(0)) < 0.2  # the open mouth's inside is painted, not shaded
    # the jaw drop shows up as a downward displacement under the lower lip, none at the eyes
    assert x[2][int(round(chin[1])), int(round(chin[0]))] > 0.3
    assert abs(x[2][int(round(tc[36:48, 1].mean())), int(round(tc[36:48, 0].mean()))]) < 0.2
    same = shading_inputs(np.full((64, 64), 128, np.uint8), pc, pc)
    assert np.abs(same[1:3]).max() < 1e-3  # the photo's own landmarks: no displacement


def test_apply_gain_scales_brightness_in_the_box_only_and_keeps_hue() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(40, 200, (80, 100, 3), dtype=np.uint8)
    before = frame.copy()
    affine = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])  # frame -> 50 x 50 crop
    apply_gain(frame, np.zeros((50, 50), np.float32), affine, (0, 0, 100, 80))
    assert np.array_equal(frame, before)
    apply_gain(frame, np.full((50, 50), np.log(1.2), np.float32), affine, (10, 20, 60, 70))
    inside, outside = frame[25:65, 15:55].astype(float), before[25:65, 15:55].astype(float)
    assert np.abs(inside - np.clip(outside * 1.2, 0, 255)).max() <= 1.0
    keep = np.ones(frame.shape[:2], bool)
    keep[20:70, 10:60] = False
    assert np.array_equal(frame[keep], before[keep])


def test_shading_changes_only_the_lower_face_and_exports(face: tuple[np.ndarray, np.ndarray], tmp_path) -> None:
    photo, lm = face
    target = open_mouth(lm, 8.0)
    path = export_shading(_constant_net(0.1), tmp_path / "shading.pt", {"corpus": "test"})
    net = load_shading(path)
    assert isinstance(net, ShadingNet)
    shading = LowerFaceShading(lm, 1.0, net=net, gate=False)  # a constant gain is a uniform lift: the gate's
    gain, _ = shading.gain(photo, target)
    expected = LIMIT * np.tanh(0.1 / LIMIT)  # the soft bound
    assert gain.shape == (64, 64) and 0.97 * expected < gain.max() <= expected + 1e-3 and gain.min() >= 0
    strong, _ = LowerFaceShading(lm, 1.0, net=_constant_net(0.3), gate=False).gain(photo, target)
    assert 0.9 * LIMIT < strong.max() < LIMIT  # a face unlike the training one cannot light up a patch
    plain = NativeRenderer(photo, lm, target[None])(target)
    shaded = shading(plain.copy(), target)
    diff = shaded.astype(int) - plain.astype(int)
    chin = np.round(0.5 * (target[8] + target[57])).astype(int)
    assert diff[chin[1], chin[0]].mean() > 0.05 * plain[chin[1], chin[0]].mean()  # ~ +8.5 %
    for eye in (lm[36:42], lm[42:48]):
        x, y = np.round(eye.mean(0)).astype(int)
        assert np.array_equal(shaded[y - 3 : y + 4, x - 6 : x + 7], plain[y - 3 : y + 4, x - 6 : x + 7])
    assert np.array_equal(shaded[:20], plain[:20]) and (diff >= 0).all()
    # strength 0 and the renderer option
    assert np.array_equal(LowerFaceShading(lm, 0.0, net=net)(plain.copy(), target), plain)
    with pytest.raises(ValueError, match="shading"):
        RenderConfig(shading=-1.0)


def test_range_gate_fades_smoothly_from_the_training_range() -> None:
    lo, hi = RANGE
    assert 0 < lo < hi and 0 < LIFT_RANGE[0] < LIFT_RANGE[1]
    assert range_gate(0.0) == range_gate(lo) == 1.0 and range_gate(hi) == range_gate(2 * hi) == 0.0
    assert range_gate(0.5 * (lo + hi)) == pytest.approx(0.5)
    levels = np.linspace(lo, hi, 51)
    weights = np.array([range_gate(v) for v in levels])
    assert (np.diff(weights) < 0).all() and np.abs(np.diff(weights)).max() < 0.04  # monotone, no jump


def test_shading_acts_only_inside_the_training_range(face: tuple[np.ndarray, np.ndarray]) -> None:
    photo, lm = face
    net = _constant_net(0.02)  # a lift inside LIFT_RANGE: only the displacement acts here
    gated, ungated = LowerFaceShading(lm, 1.0, net=net), LowerFaceShading(lm, 1.0, net=net, gate=False)
    levels, peaks = [], []
    for amount in (8.0, 20.0, 30.0):  # jaw drops of the fixture face: inside, at the edge of, beyond the range
        target = open_mouth(lm, amount)
        affine = crop_transform(target, 64)
        x = shading_inputs(np.zeros((64, 64), np.uint8), transform_points(target, affine).astype(np.float64),
                           gated.photo_crop)
        levels.append(displacement_level(x))
        g, _ = gated.gain(photo, target)
        full, _ = ungated.gain(photo, target)
        assert full.max() > 0.9 * LIMIT * np.tanh(0.02 / LIMIT)
        peaks.append(g.max() / full.max())
    assert levels[0] < RANGE[0] < levels[1] < RANGE[1] < levels[2]  # the displacement grows with the request
    assert peaks[0] == pytest.approx(1.0) and 0.2 < peaks[1] < 0.95 and peaks[2] == 0.0
    target = open_mouth(lm, 30.0)
    plain = NativeRenderer(photo, lm, target[None])(target)
    assert np.array_equal(gated(plain.copy(), target), plain)  # beyond the range: the frame is left alone


def test_shading_is_off_where_the_net_lifts_the_whole_lower_face(face: tuple[np.ndarray, np.ndarray]) -> None:
    photo, lm = face
    target = open_mouth(lm, 8.0)
    peaks = {}
    for lift in (0.02, 0.5 * sum(LIFT_RANGE), 0.2):  # inside, in the middle of and beyond the lifts of training
        net = _constant_net(lift)
        g, _ = LowerFaceShading(lm, 1.0, net=net).gain(photo, target)
        full, _ = LowerFaceShading(lm, 1.0, net=net, gate=False).gain(photo, target)
        peaks[lift] = g.max() / full.max()
    low, mid, high = peaks.values()
    assert low == pytest.approx(1.0) and 0.3 < mid < 0.7 and high == 0.0


def test_shading_is_off_for_a_request_closed_tighter_than_any_training_frame(
        face: tuple[np.ndarray, np.ndarray]) -> None:
    photo, lm = face
    net = _constant_net(0.02)
    closed = close_mouth(lm)
    affine = crop_transform(closed, 64)
    assert inner_gap(transform_points(closed, affine)) / 64 < OPEN_RANGE[0]
    g, _ = LowerFaceShading(lm, 1.0, net=net).gain(photo, closed)
    full, _ = LowerFaceShading(lm, 1.0, net=net, gate=False).gain(photo, closed)
    assert g.max() == 0.0 and full.max() > 0.0
    opened = open_mouth(lm, 8.0)
    assert inner_gap(transform_points(opened, crop_transform(opened, 64))) / 64 > OPEN_RANGE[1]
