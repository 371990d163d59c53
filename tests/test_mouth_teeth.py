"""The painted teeth at the photo's resolution (talkface.render.mouth): crisp edges whatever the mouth's size,
upper and lower teeth with a dark gap, teeth lit like the photo's skin on large mouths, a few thin seams."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from face_edits import example_face, open_mouth
from talkface.io.colour import LUMA
from talkface.render import mouth, mouth_light
from talkface.render.mouth import MouthPalette, enamel_colour, hd_share, paint_mouth, relit_enamel, teeth_light

_MEASURED_BLUR = mouth_light.edge_blur


@pytest.fixture(autouse=True)
def _upscaled_photos_count_as_sharp(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests below paint on the example face scaled up, standing in for a sharp photo of that size: they
    set the photo's measured blur to 0 (the tests of the blur estimate put the measured one back)."""
    monkeypatch.setattr(mouth_light, "edge_blur", lambda photo, landmarks, sigma=3.0: 0.0)


def _scaled(factor: float) -> tuple[np.ndarray, np.ndarray]:
    """The example face (a 39-px inner mouth) resized by ``factor`` with its landmarks."""
    photo, lm = example_face()
    h, w = photo.shape[:2]
    big = cv2.resize(photo, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC)
    return big, lm * factor


def _centre_column(
    photo: np.ndarray, lm: np.ndarray, opening: float, background: float = 128.0
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Paint a mouth opened by ``opening`` of the inner width on a grey image; the luma down the column through
    the middle of a central incisor from the upper to the lower inner lip, and those two rows."""
    width = float(np.linalg.norm(lm[64] - lm[60]))
    target = open_mouth(lm, opening * width)
    grey = np.full(photo.shape, background, np.float32)
    painted = paint_mouth(grey, target, MouthPalette.from_photo(photo, lm))
    x = int(round(0.5 * (target[60, 0] + target[64, 0]) + 0.09 * width))
    top, bottom = int(np.floor(target[62, 1])), int(np.ceil(target[66, 1]))
    return painted[top : bottom + 1, x] @ LUMA, target, top, bottom


def _edge_width(profile: np.ndarray) -> float:
    """Width (pixels) of the upper teeth's incisal edge: the step from the teeth down to the gap below them over
    its steepest slope (a scaled-up painting's edge grows with the scale)."""
    peak = int(np.argmax(profile[: len(profile) // 2 + 1]))
    low = peak + int(np.argmin(profile[peak:]))
    slope = float(np.max(-np.diff(profile[peak : low + 1])))
    return float(profile[peak] - profile[low]) / max(slope, 1e-6)


def test_incisal_edge_stays_crisp_on_a_larger_mouth() -> None:
    """Twice the mouth's pixels, still an edge about a pixel wide (a painting scaled up would double it: the
    previous painting's edge was a quarter of the teeth's height, ~6 px on the 6x mouth)."""
    widths = {}
    for factor in (3.0, 6.0):
        photo, lm = _scaled(factor)
        profile, *_ = _centre_column(photo, lm, 0.3)
        widths[factor] = _edge_width(profile)
    assert max(widths.values()) < 2.5, widths


def test_a_large_open_mouth_shows_upper_and_lower_teeth_with_a_dark_gap() -> None:
    photo, lm = _scaled(3.0)
    profile, _, top, bottom = _centre_column(photo, lm, 0.3)
    pal = MouthPalette.from_photo(photo, lm)
    skin, lip = float(pal.skin @ LUMA), float(pal.lip @ LUMA)
    n = len(profile)
    upper, gap, lower = profile[: n // 2], profile[n // 3 : 5 * n // 6], profile[2 * n // 3 :]
    assert upper.max() > 1.1 * skin, (upper.max(), skin)  # bright upper teeth, lit like the skin
    assert lower.max() > lip, (lower.max(), lip)  # lower teeth above the lower lip
    assert gap.min() < 0.5 * lip, (gap.min(), lip)  # a dark cavity between them
    # the lower teeth sit above the lower lip, under the gap
    assert int(np.argmax(lower)) + 2 * n // 3 > int(np.argmin(gap)) + n // 3


def test_a_small_opening_shows_no_lower_teeth() -> None:
    """Just below ``LOWER_TEETH_FROM`` of the mouth width only the upper teeth over a dark cavity (further below,
    ``TEETH_SHOW``, the upper teeth fade into the lips' shadow too)."""
    photo, lm = _scaled(3.0)
    profile, *_ = _centre_column(photo, lm, 0.95 * mouth.LOWER_TEETH_FROM, background=0.0)
    lip = float(MouthPalette.from_photo(photo, lm).lip @ LUMA)
    n = len(profile)
    assert profile[: n // 2].max() > lip and profile[n // 2 :].max() < 0.5 * lip, profile.round()


def test_lips_barely_apart_show_a_dark_slit_not_a_white_thread() -> None:
    """A 3-4 % opening (a 2-3 px gap on a 60-px mouth, lips parting or meeting) is a dark slit: the teeth lie in
    the lips' shadow. Filled edge to edge with teeth it read as a white thread between the lips (wild clips,
    docs/render.md "A barely open mouth"); from ``TEETH_SHOW[1]`` on the teeth show as before."""
    photo, lm = _scaled(1.5)  # a 59-px inner mouth, as retalking face_5 (61 px)
    lip = float(MouthPalette.from_photo(photo, lm).lip @ LUMA)
    slit, *_ = _centre_column(photo, lm, 0.035, background=0.0)
    assert slit.max() < 0.6 * lip, (slit.round(), lip)  # nothing brighter than a lip in the slit
    wide, *_ = _centre_column(photo, lm, mouth.TEETH_SHOW[1], background=0.0)
    assert wide.max() > lip, (wide.round(), lip)  # teeth show once the lips part a little more
    big = mouth.TEETH_SHOW_PX[1]
    assert mouth.teeth_visibility(mouth.TEETH_SHOW[0], big) == 0.0
    assert mouth.teeth_visibility(mouth.TEETH_SHOW[1], big) == 1.0
    # a small (GRID-sized, blurred) mouth keeps its teeth: no thread shows there
    assert mouth.teeth_visibility(0.035, mouth.TEETH_SHOW_PX[0]) == 1.0


def test_teeth_are_lit_like_the_skin_on_large_mouths() -> None:
    skin = np.array([200.0, 150.0, 120.0])
    teeth = np.array([210.0, 190.0, 160.0])
    small, large = enamel_colour(skin, teeth, 20.0), enamel_colour(skin, teeth, 200.0)
    assert hd_share(20.0) == 0.0 and hd_share(200.0) == 1.0
    assert float(small @ LUMA) == pytest.approx(mouth_light.TEETH_SMALL * float(teeth @ LUMA), rel=1e-6)
    assert float(large @ LUMA) == pytest.approx(mouth_light.TEETH_OVER_SKIN * float(skin @ LUMA), rel=1e-6)
    # a darker-lit photo (same skin tone, less light) gets proportionally darker teeth; never above 245
    dim = enamel_colour(0.5 * skin, 0.5 * teeth, 200.0)
    assert float(dim @ LUMA) == pytest.approx(0.5 * float(large @ LUMA), rel=1e-6)
    assert enamel_colour(np.array([250.0, 250, 250]), teeth, 200.0).max() <= 255.0
    assert float(enamel_colour(np.array([250.0, 250, 250]), teeth, 200.0) @ LUMA) <= 245.0 + 1e-6
    # whiter than the skin-tinted small-mouth teeth: less red over blue
    assert large[0] / large[2] < small[0] / small[2]


def _darker_skin(photo: np.ndarray, lm: np.ndarray, factor: float) -> np.ndarray:
    """The photo with everything but the eyes (their polygons grown by a pixel) darkened by ``factor``: a darker
    skin under the same light, the eye whites as they were."""
    eyes = np.zeros(photo.shape[:2], np.uint8)
    for a in (36, 42):
        cv2.fillPoly(eyes, [np.round(lm[a : a + 6]).astype(np.int32)], 1)
    eyes = cv2.dilate(eyes, np.ones((3, 3), np.uint8))
    dark = photo.copy()
    dark[eyes == 0] = np.round(photo[eyes == 0] * factor).astype(np.uint8)
    return dark


def test_a_darker_skin_under_the_same_light_keeps_bright_teeth() -> None:
    # teeth are about as bright for every skin tone under one light: lit like the skin alone, a skin darkened
    # to 0.55 (eye whites unchanged) got teeth at 0.46 of the light skin's and darker than its cheeks (0.82)
    photo, lm = example_face()
    dark = _darker_skin(photo, lm, 0.55)
    light_pal, dark_pal = MouthPalette.from_photo(photo, lm), MouthPalette.from_photo(dark, lm)
    assert light_pal.enamel is not None and dark_pal.enamel is not None
    assert float(dark_pal.enamel @ LUMA) > 0.58 * float(light_pal.enamel @ LUMA)
    assert float(dark_pal.enamel @ LUMA) > float(dark_pal.skin @ LUMA)
    assert teeth_light(dark, lm, float(dark_pal.skin @ LUMA)) > teeth_light(photo, lm, float(light_pal.skin @ LUMA))


def test_the_eye_light_falls_back_to_the_skin_rule() -> None:
    photo, lm = example_face()
    skin = float(MouthPalette.from_photo(photo, lm).skin @ LUMA)
    lo, hi = (r**mouth_light.SCLERA_EXP for r in mouth_light.SCLERA_RANGE)
    assert lo <= teeth_light(photo, lm, skin) <= hi
    shut = lm.copy()
    shut[[37, 38, 43, 44]] = shut[[41, 40, 47, 46]]  # lids closed: no sclera to read
    assert teeth_light(photo, shut, skin) == 1.0
    glare = photo.copy()
    for a in (36, 42):
        cv2.fillPoly(glare, [np.round(lm[a : a + 6]).astype(np.int32)], (255, 255, 255))
    assert teeth_light(glare, lm, skin) == 1.0  # saturated (glasses' glare)
    assert teeth_light(photo, lm / 4.0, skin) == 1.0  # too few eye pixels
    # raised teeth stay below the face's brightest pixels (unless they already were); lowered freely
    enamel = np.array([150.0, 140.0, 120.0])
    level = float(enamel @ LUMA)
    assert float(relit_enamel(enamel, 1.3, 160.0) @ LUMA) == pytest.approx(160.0)
    assert float(relit_enamel(enamel, 1.3, 100.0) @ LUMA) == pytest.approx(level)
    assert float(relit_enamel(enamel, 0.9, 100.0) @ LUMA) == pytest.approx(0.9 * level)


def test_large_teeth_have_a_few_thin_seams_not_a_zipper() -> None:
    """Along the upper teeth of a large mouth: separations at the midline and the tooth edges only (a tooth
    is ~20 px wide here), each a line a few pixels wide, not a dark band."""
    photo, lm = _scaled(3.0)
    width = float(np.linalg.norm(lm[64] - lm[60]))
    target = open_mouth(lm, 0.3 * width)
    grey = np.full(photo.shape, 128.0, np.float32)
    painted = paint_mouth(grey, target, MouthPalette.from_photo(photo, lm))
    xs = np.arange(int(target[60, 0] + 0.2 * width), int(target[64, 0] - 0.2 * width))
    up = np.interp(xs, target[[60, 61, 62, 63, 64], 0], target[[60, 61, 62, 63, 64], 1])
    row = np.array([painted[int(round(y + 0.04 * width)), x] @ LUMA for x, y in zip(xs, up, strict=True)])
    trend = np.asarray(cv2.GaussianBlur(row[None], (0, 0), 6.0)[0])
    dips = row < trend - 6.0
    starts = int(np.count_nonzero(np.diff(dips.astype(int)) == 1))
    assert 3 <= starts <= 5, (starts, row.round())
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], dips.astype(int), [0]]))))[::2]
    assert runs.max() <= 4, runs  # thin lines
    assert dips.mean() < 0.2  # mostly enamel



def _rim_column(photo: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """Paint a mouth opened by 0.3 of its width on grey; the luma down a central incisor's column (rows 0..H)
    and the upper / lower inner-lip curves' rows there (as ``paint_mouth`` draws them), and the opening."""
    width = float(np.linalg.norm(lm[64] - lm[60]))
    target = open_mouth(lm, 0.3 * width)
    grey = np.full(photo.shape, 128.0, np.float32)
    painted = paint_mouth(grey, target, MouthPalette.from_photo(photo, lm))
    x = np.array([round(0.5 * (target[60, 0] + target[64, 0]) + 0.09 * width)], np.float64)
    up = float(mouth._spline(target[list(mouth.UPPER_INNER)], x)[0])
    low = float(mouth._spline(target[list(mouth.LOWER_INNER)], x)[0])
    return painted[:, int(x[0])] @ LUMA, up, low, low - up


def test_teeth_meet_the_lips_in_a_thin_dark_rim(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the lips meet the teeth a real mouth shows a dark wet line / shadow, so the lip's edge, not the
    teeth's, reads as the inner lip (dlib took the painted teeth's edge for it and read a smaller opening):
    right at each inner lip the column is much darker than the teeth, and the rim is thin (full brightness a
    few pixels from the lip). Without it (``RIM_DARK`` 0) the lower teeth run up to the lip nearly as bright."""
    photo, lm = _scaled(3.0)
    col, up, low, opening = _rim_column(photo, lm)
    u, lo = int(np.floor(up)), int(np.floor(low))
    upper_max, lower_max = float(col[u : u + int(opening / 2)].max()), float(col[lo - int(opening / 3) : lo].max())
    assert col[u - 1 : u + 3].min() < 0.4 * upper_max, col[u - 2 : u + 6].round()
    assert col[lo - 2 : lo + 2].min() < 0.5 * lower_max, col[lo - 6 : lo + 3].round()
    rim_px = max(mouth.SOFT_PX, mouth.RIM_SHARE * opening)
    reach = int(np.ceil(3 * rim_px)) + 1
    assert col[u + reach] > 0.9 * upper_max and col[u + reach] == pytest.approx(col[u + reach + 2], abs=2.0)
    monkeypatch.setattr(mouth, "RIM_DARK", 0.0)
    plain, *_ = _rim_column(photo, lm)
    assert plain[u - 1 : u + 3].min() > 0.5 * upper_max, plain[u - 2 : u + 6].round()
    assert plain[lo - 2 : lo + 2].min() > 0.6 * lower_max, plain[lo - 6 : lo + 3].round()


def test_a_small_blurred_mouth_gets_no_rim(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rim is for sharp (HD) mouths only: a GRID-sized, blurred mouth (the example face at 0.8, a 31-px
    inner mouth) is painted exactly as without it."""
    photo, lm = _scaled(0.8)
    assert hd_share(float(np.linalg.norm(lm[64] - lm[60]))) == 0.0
    width = float(np.linalg.norm(lm[64] - lm[60]))
    target = open_mouth(lm, 0.3 * width)
    pal = MouthPalette.from_photo(photo, lm)
    with_rim = paint_mouth(photo.astype(np.float32), target, pal)
    monkeypatch.setattr(mouth, "RIM_DARK", 0.0)
    np.testing.assert_array_equal(with_rim, paint_mouth(photo.astype(np.float32), target, pal))


def test_edge_blur_measures_the_photos_softness() -> None:
    """The mouth's edge width grows with a Gaussian blur of the photo and with upscaling; a sharp photo (the
    example face at its own 360x288, whose edges are as crisp as HD frames') counts as sharp (scale 1)."""
    photo, lm = example_face()
    sharp = _MEASURED_BLUR(photo, lm)
    assert sharp < mouth_light.SHARP_BLUR_PX and mouth.blur_scale(sharp) == 1.0
    soft = _MEASURED_BLUR(cv2.GaussianBlur(photo, (0, 0), 2.0), lm)
    assert soft > 2.0 * sharp and mouth.blur_scale(soft) > 1.2, (sharp, soft)
    blurs = [_MEASURED_BLUR(*_scaled(f)) for f in (2.0, 4.0)]
    assert sharp < blurs[0] < blurs[1] and blurs[1] > 3.5 * sharp, (sharp, blurs)
    assert 2.5 < mouth.blur_scale(blurs[1]) < 4.5  # about as many photo pixels per detail as the upscale


def test_a_soft_photo_gets_teeth_as_soft_as_its_lips(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same large mouth (the example face x4): counted as sharp, the incisal edge is about a pixel wide,
    the teeth bright with separations; measured (the upscale's soft edges), the edge is several pixels wide and
    the teeth are as dim as on the face at its own size, not a crisp denture pasted into a soft face."""
    photo, lm = _scaled(4.0)
    crisp, *_ = _centre_column(photo, lm, 0.3)
    crisp_palette = MouthPalette.from_photo(photo, lm)
    monkeypatch.setattr(mouth_light, "edge_blur", _MEASURED_BLUR)
    soft, *_ = _centre_column(photo, lm, 0.3)
    soft_palette = MouthPalette.from_photo(photo, lm)
    assert crisp_palette.px == 1.0 and soft_palette.px > 2.5
    assert _edge_width(crisp) < 2.5 and _edge_width(soft) > 2.0 * _edge_width(crisp), (
        _edge_width(crisp), _edge_width(soft))
    small = MouthPalette.from_photo(*example_face())
    assert soft_palette.enamel is not None and small.enamel is not None and crisp_palette.enamel is not None
    assert float(soft_palette.enamel @ LUMA) < float(crisp_palette.enamel @ LUMA) - 10.0
    assert float(soft_palette.enamel @ LUMA) == pytest.approx(float(small.enamel @ LUMA), abs=12.0)


def test_a_sharp_photo_paints_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """Measured sharp (blur under ``SHARP_BLUR_PX``: the example face at its own size), the painting is the
    pixel-size rule's to the bit (as on the six wild HD photos and the seven GRID photos)."""
    photo, lm = example_face()
    monkeypatch.setattr(mouth_light, "edge_blur", _MEASURED_BLUR)
    measured = MouthPalette.from_photo(photo, lm)
    assert measured.px == 1.0
    target = open_mouth(lm, 0.3 * float(np.linalg.norm(lm[64] - lm[60])))
    a = paint_mouth(np.full(photo.shape, 128.0, np.float32), target, measured)
    monkeypatch.setattr(mouth_light, "edge_blur", lambda photo, landmarks, sigma=3.0: 0.0)
    b = paint_mouth(np.full(photo.shape, 128.0, np.float32), target, MouthPalette.from_photo(photo, lm))
    assert np.array_equal(a, b)
