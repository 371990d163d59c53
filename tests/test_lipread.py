"""The GRID lip reader behind the evaluation's WER: sentences, WER, mouth crops, a real clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from talkface.errors import InputError
from talkface.eval.lipread import (
    CACHE_SIZE,
    SLOTS,
    VOCAB,
    LipReader,
    LipReadNet,
    chance_wer,
    export_lipreader,
    grid_sentence,
    labels_of,
    lip_crops,
    load_lipreader,
    sentence_from_align,
    sentence_from_name,
    slot_accuracy,
    word_error_rate,
)

FIXTURES = Path(__file__).parent / "fixtures"


# ------------------------------------------------------------------------------ sentences


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("bbaf2n", ("bin", "blue", "at", "f", "two", "now")),
        ("grid_s1/bbaf2n", ("bin", "blue", "at", "f", "two", "now")),
        ("lbbc2a.mpg", ("lay", "blue", "by", "c", "two", "again")),
        ("id2_vcd_swwp2s", ("set", "white", "with", "p", "two", "soon")),
        ("s1/prbx3s.mp4", ("place", "red", "by", "x", "three", "soon")),
        ("PWIJ3P", ("place", "white", "in", "j", "three", "please")),
    ],
)
def test_sentence_from_grid_file_names(name: str, words: tuple[str, ...]) -> None:
    assert sentence_from_name(name) == words


@pytest.mark.parametrize(
    "name", ["hdtf_obama", "pcavs_1", "KwaiVGI_s13", "bbawfn", "bbaw2n", "xbaf2n", "bbaf2", "bbaf2nn", "", "s1"]
)
def test_names_that_are_not_grid_sentences(name: str) -> None:
    # w is no GRID letter; x no command; the digit must be a numeral; exactly six initials
    assert sentence_from_name(name) is None


def test_sentence_from_align_file_and_bad_alignments(tmp_path: Path) -> None:
    assert sentence_from_align(FIXTURES / "id2_vcd_swwp2s.align") == ("set", "white", "with", "p", "two", "soon")
    odd = tmp_path / "odd.align"
    odd.write_text("0 100 sil\n100 200 hello\n200 300 sil\n")
    assert sentence_from_align(odd) is None  # not the GRID grammar
    bad = tmp_path / "bad.align"
    bad.write_text("0 100 sil\nset white\n")
    with pytest.raises(InputError, match="line 2"):
        sentence_from_align(bad)
    with pytest.raises(InputError, match="cannot read"):
        sentence_from_align(tmp_path / "missing.align")


def test_grid_sentence_prefers_the_align_file_beside_the_source(tmp_path: Path) -> None:
    (tmp_path / "video").mkdir()
    (tmp_path / "align").mkdir()
    src = tmp_path / "video" / "clip01.mp4"  # not a GRID name: only the alignment tells the sentence
    (tmp_path / "align" / "clip01.align").write_text((FIXTURES / "id2_vcd_swwp2s.align").read_text())
    assert grid_sentence("spk/clip01", src) == ("set", "white", "with", "p", "two", "soon")
    assert grid_sentence("spk/clip02", tmp_path / "video" / "clip02.mp4") is None
    assert grid_sentence("spk/lbbc2a", None) == ("lay", "blue", "by", "c", "two", "again")
    labels = labels_of(("lay", "blue", "by", "c", "two", "again"))
    assert labels.tolist() == [1, 0, 1, 2, 2, 0]


# ------------------------------------------------------------------------------------ WER


def test_word_error_rate_counts_substitutions_deletions_insertions() -> None:
    ref = ("bin", "blue", "at", "f", "two", "now")
    assert word_error_rate(ref, ref) == 0.0
    assert word_error_rate(ref, ("bin", "blue", "at", "e", "two", "now")) == pytest.approx(1 / 6)
    assert word_error_rate(ref, ("bin", "blue", "at", "two", "now")) == pytest.approx(1 / 6)  # deletion
    assert word_error_rate(ref, ("bin", "bin", "blue", "at", "f", "two", "now")) == pytest.approx(1 / 6)
    assert word_error_rate(ref, ("set", "red", "in", "x", "nine", "soon")) == 1.0
    assert word_error_rate(ref, ()) == 1.0
    with pytest.raises(ValueError):
        word_error_rate((), ref)
    acc = slot_accuracy(ref, ("bin", "red", "at", "f", "one", "now"))
    assert acc == {"command": 1.0, "colour": 0.0, "preposition": 1.0, "letter": 1.0, "digit": 0.0, "adverb": 1.0}


def test_chance_wer_is_the_grammar_prior() -> None:
    # four 4-word slots, 25 letters, 10 digits: (4 * 3/4 + 24/25 + 9/10) / 6
    assert chance_wer() == pytest.approx((3 + 0.96 + 0.9) / 6)
    assert [len(VOCAB[s]) for s in SLOTS] == [4, 4, 4, 25, 10, 4]


# ----------------------------------------------------------------------------- mouth crops


def _face_landmarks(shift: tuple[float, float] = (0.0, 0.0), t: int = 6) -> np.ndarray:
    canon = np.load(Path(__file__).parents[1] / "src" / "talkface" / "assets" / "canonical_face_68.npy")
    pts = canon * 60 + np.array([64.0, 64.0]) + np.asarray(shift)
    return np.repeat(pts[None].astype(np.float32), t, axis=0)


def test_lip_crops_follow_the_mouth_and_are_translation_invariant() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 160, 160, 3), dtype=np.uint8)
    lm = _face_landmarks()
    crops = lip_crops(frames, lm)
    assert crops.shape == (6, *CACHE_SIZE) and crops.dtype == np.uint8
    shifted = np.roll(frames, (7, -5), axis=(1, 2))  # image content moves down 7, left 5 ...
    crops2 = lip_crops(shifted, _face_landmarks((-5.0, 7.0)))  # ... and so do the landmarks
    assert np.abs(crops.astype(int) - crops2.astype(int)).mean() < 1.0
    with pytest.raises(ValueError):
        lip_crops(frames, lm[:3])


# ---------------------------------------------------------------------------- the reader


def test_reader_files_round_trip_and_bad_files(tmp_path: Path) -> None:
    net = LipReadNet().eval()
    path = export_lipreader(net, tmp_path / "reader.pt", {"note": "test"})
    loaded = load_lipreader(path)
    x = torch.rand(1, 20, 32, 64)
    with torch.no_grad():
        for a, b in zip(net(x), loaded(x), strict=True):
            assert torch.allclose(a, b, atol=2e-2)
    with pytest.raises(InputError, match="not found"):
        load_lipreader(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(InputError):
        load_lipreader(tmp_path / "junk.pt")
    reading = LipReader(model=loaded).read_crops(np.zeros((20, *CACHE_SIZE), np.uint8))
    assert len(reading.words) == 6 and all(w in VOCAB[s] for s, w in zip(SLOTS, reading.words, strict=True))
    with pytest.raises(ValueError):
        LipReader(model=loaded).read_crops(np.zeros((20, 10, 10), np.uint8))


@pytest.fixture(scope="module")
def bbaf2n() -> tuple[np.ndarray, np.ndarray]:
    """The real s1 clip bbaf2n (never trained on) and its dlib landmarks."""
    from talkface.face.landmarks import track_landmarks
    from talkface.io.media import read_video

    frames, _ = read_video(FIXTURES / "bbaf2n.mp4")
    return frames, track_landmarks(frames).landmarks


def test_bundled_reader_reads_a_real_clip_better_than_its_still(bbaf2n: tuple[np.ndarray, np.ndarray]) -> None:
    frames, landmarks = bbaf2n
    truth = sentence_from_name("bbaf2n")
    assert truth is not None
    reader = LipReader()
    real = reader.read(frames, landmarks, fps=25.0, align=True)
    still = reader.read(np.repeat(frames[:1], len(frames), axis=0), np.repeat(landmarks[:1], len(frames), axis=0),
                        fps=25.0, align=True)
    real_wer, still_wer = word_error_rate(truth, real.words), word_error_rate(truth, still.words)
    assert real_wer < still_wer
    assert real_wer <= 0.5  # at least half of the words of this held-out s1 sentence


# ------------------------------------------------------------------------------- training


def _tiny_grid_dataset(root: Path, names: list[str], frames: int = 12) -> None:
    """A prepared dataset of synthetic 128 px clips named like GRID sentences (a moving dark mouth)."""
    import json

    import cv2

    from talkface.data.dataset import FORMAT_NAME, FORMAT_VERSION, Clip, save_clip
    from talkface.io.media import write_video

    (root / "clips" / "spk").mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION, "fps": 25.0,
                                                   "crop_size": 128, "feature": {"name": "mfcc", "dim": 1}}))
    lm = _face_landmarks(t=frames)
    for k, name in enumerate(names):
        video = np.full((frames, 128, 128, 3), 170, np.uint8)
        for t in range(frames):
            cx, cy = lm[t, 48:68].mean(axis=0)
            cv2.ellipse(video[t], (int(cx), int(cy)), (14, 2 + (t * (k + 1)) % 7), 0, 0, 360, (60, 30, 30), -1)
        write_video(root / "clips" / "spk" / f"{name}.mp4", video, 25.0, crf=12)
        save_clip(root / "clips" / "spk" / f"{name}.npz", Clip(
            clip_id=f"spk/{name}", speaker="spk", fps=25.0, landmarks=lm, crop_landmarks=lm,
            crop_affine=np.tile(np.eye(2, 3, dtype=np.float32), (frames, 1, 1)), canonical=lm,
            detected=np.ones(frames, bool), neutral_index=0, ear=np.full(frames, 0.3, np.float32),
            features=np.zeros((frames, 1)), audio=np.zeros(int(frames / 25 * 16000), np.int16), sample_rate=16000))
    splits = {"train": [f"spk/{n}" for n in names[:-1]], "val": [f"spk/{names[-1]}"], "test": []}
    (root / "splits.json").write_text(json.dumps(splits))


def test_train_lipread_cli_trains_resumes_exports_and_rejects_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from talkface.cli import main

    data = tmp_path / "ds"
    _tiny_grid_dataset(data, ["bbaf2n", "lgiz8p", "sran3a", "pwij3p"])
    out = tmp_path / "run"
    common = ["train", "lipread", str(data), "-o", str(out), "--batch-size", "2", "--threads", "1", "--accelerator",
              "cpu", "--devices", "1", "--val-every", "2", "-q", "--exclude", "sran3a"]
    assert main([*common, "--steps", "2"]) == 0
    assert "(2 train clips, 1 val clips" in capsys.readouterr().out  # sran3a excluded
    assert (out / "config.json").is_file() and (out / "last.ckpt").is_file()
    assert (out / "train_clips.txt").read_text().split() == ["spk/bbaf2n", "spk/lgiz8p"]
    assert len(list((out / "cache" / "spk").glob("*.npz"))) == 3  # mouth crops cached once
    reader = LipReader(out / "lipreader.pt")
    assert len(reader.read_crops(np.zeros((12, *CACHE_SIZE), np.uint8)).words) == 6
    assert main([*common, "--steps", "3"]) == 0  # resumes from last.ckpt
    assert torch.load(out / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == 3
    capsys.readouterr()
    assert main(["train", "lipread", str(tmp_path / "nope"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("talkface: error:") and "nope" in err and len(err.splitlines()) == 1
    assert main(["train", "lipread", str(data), "-o", str(out), "--train-list", str(tmp_path / "no.txt")]) == 2
    assert "no.txt" in capsys.readouterr().err
