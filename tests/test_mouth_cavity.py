"""The cavity of a large open mouth is dark red and lighter towards the tongue; a small mouth's is unchanged
(talkface.render.mouth: ``hd_cavity``, ``CAVITY_PX``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from face_edits import example_face, open_mouth
from talkface.io.colour import LUMA
from talkface.render import mouth, mouth_light
from talkface.render.mouth import MouthPalette, paint_mouth


@pytest.fixture(autouse=True)
def _sharp(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scaled-up example face stands in for a sharp photo of that size (as in test_mouth_teeth)."""
    monkeypatch.setattr(mouth_light, "edge_blur", lambda photo, landmarks, sigma=3.0: 0.0)


def _painted(factor: float, opening: float) -> tuple[np.ndarray, np.ndarray, MouthPalette]:
    """The example face scaled by ``factor``, its mouth opened by ``opening`` of the inner width, the cavity
    painted (no teeth) on a grey image; returns (image, target landmarks, palette)."""
    photo, lm = example_face()
    h, w = photo.shape[:2]
    photo = cv2.resize(photo, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC)
    lm = lm * factor
    target = open_mouth(lm, opening * float(np.linalg.norm(lm[64] - lm[60])))
    pal = MouthPalette.from_photo(photo, lm)
    return paint_mouth(np.full(photo.shape, 128.0, np.float32), target, pal, teeth=False), target, pal


def test_a_large_mouth_gets_a_red_cavity_lighter_at_the_bottom() -> None:
    image, target, pal = _painted(3.0, 0.35)  # a ~117 px inner mouth
    x = int(round(0.5 * (target[60, 0] + target[64, 0])))
    top, bottom = float(target[62, 1]), float(target[66, 1])
    upper = image[int(top + 0.2 * (bottom - top)), x]
    lower = image[int(top + 0.85 * (bottom - top)), x]
    lip_y = float(pal.lip @ LUMA)
    assert float(lower @ LUMA) > 1.8 * float(upper @ LUMA)  # lighter towards the tongue
    assert float(upper @ LUMA) < 0.5 * lip_y  # still a dark cavity under the upper lip
    assert float(lower @ LUMA) > 0.5 * lip_y  # the old cavity stayed under 0.3 of the lips everywhere
    for rgb in (upper, lower):
        assert rgb[0] > 1.2 * rgb[1] and rgb[0] > 1.2 * rgb[2]  # red, not grey or black


@pytest.mark.parametrize("factor", [1.0, 3.0])
def test_the_red_cavity_is_only_on_large_mouths(factor: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example face's own 39-px mouth (GRID-sized) paints exactly as with the red cavity switched off;
    three times larger, it does not."""
    on, *_ = _painted(factor, 0.35)
    monkeypatch.setattr(mouth, "CAVITY_PX", (1e6, 2e6))
    off, *_ = _painted(factor, 0.35)
    assert np.array_equal(on, off) == (factor == 1.0)
