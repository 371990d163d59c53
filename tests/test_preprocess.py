"""End-to-end tests of `talkface preprocess` on real GRID clips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from talkface.cli import main
from talkface.data.dataset import PreparedDataset, load_clip
from talkface.data.preprocess import (
    PreprocessConfig,
    discover,
    neutral_frame_index,
    preprocess,
    select_shard,
    split_speakers,
)
from talkface.errors import InputError

FIX = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def grid_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GRID-layout corpus: s1/bbaf2n.mpg, s4/lbbc2a.mpg, plus two broken files in s9/."""
    root = tmp_path_factory.mktemp("grid")
    (root / "s1").mkdir()
    (root / "s4").mkdir()
    (root / "s9").mkdir()
    shutil.copy(FIX / "bbaf2n.mpg", root / "s1" / "bbaf2n.mpg")
    shutil.copy(FIX / "lbbc2a.mpg", root / "s4" / "lbbc2a.mpg")
    (root / "s9" / "empty.mpg").write_bytes(b"")
    (root / "s9" / "garbage.mp4").write_bytes(np.random.default_rng(0).bytes(50_000))
    return root


@pytest.fixture(scope="module")
def prepared(grid_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "ds"
    summary = preprocess([grid_corpus], out, PreprocessConfig(), workers=1, progress=False)
    assert summary.total == 4
    assert summary.done == 2, summary.errors
    assert summary.failed == 2
    return out


def test_discover_layouts(tmp_path: Path) -> None:
    (tmp_path / "grid" / "s1").mkdir(parents=True)
    (tmp_path / "grid" / "s1" / "a.mpg").write_bytes(b"x")
    (tmp_path / "s1" / "video").mkdir(parents=True)
    (tmp_path / "s1" / "video" / "b.mp4").write_bytes(b"x")
    (tmp_path / "wild").mkdir()
    (tmp_path / "wild" / "obama_clip1.mp4").write_bytes(b"x")
    (tmp_path / "wild" / "obama_clip1.wav").write_bytes(b"x")
    grid = discover([tmp_path / "grid"])
    assert [i.clip_id for i in grid] == ["s1/a"]
    s1 = discover([tmp_path / "s1" / "video"])
    assert [i.clip_id for i in s1] == ["s1/b"]
    wild = discover([tmp_path / "wild"])
    assert wild[0].clip_id == "obama_clip1/obama_clip1"
    assert wild[0].audio == tmp_path / "wild" / "obama_clip1.wav"
    by_regex = discover([tmp_path / "wild"], speaker_regex=r"^([a-z]+)_")
    assert by_regex[0].speaker == "obama"
    with pytest.raises(InputError, match="no such file"):
        discover([tmp_path / "missing"])


def test_shards_partition_items(grid_corpus: Path) -> None:
    items = discover([grid_corpus])
    a, b = select_shard(items, (0, 2)), select_shard(items, (1, 2))
    assert sorted(i.clip_id for i in a + b) == sorted(i.clip_id for i in items)
    assert not {i.clip_id for i in a} & {i.clip_id for i in b}


def test_split_is_by_speaker_and_deterministic() -> None:
    speakers = [f"s{i}" for i in range(20)]
    s = split_speakers(speakers, 0.1, 0.1, seed=0)
    assert len(s["test"]) == 2 and len(s["val"]) == 2 and len(s["train"]) == 16
    assert not set(s["test"]) & set(s["train"])
    assert s == split_speakers(reversed(speakers), 0.1, 0.1, seed=0)


def test_prepared_clip_contents(prepared: Path) -> None:
    ds = PreparedDataset(prepared)
    assert ds.all_ids() == ["s1/bbaf2n", "s4/lbbc2a"]
    assert ds.fps == pytest.approx(25.0)
    assert ds.feature_name == "whisper-tiny.en"
    for clip in ds.clips():
        T = clip.num_frames
        assert T == 75
        assert clip.features.shape == (T, ds.feature_dim)
        assert np.isfinite(clip.features).all()
        assert clip.crop_landmarks.shape == clip.canonical.shape == (T, 68, 2)
        assert clip.detected.all()
        # audio covers exactly the video's duration
        assert clip.audio.shape[0] == pytest.approx(T / clip.fps * clip.sample_rate, abs=1)
        crops = clip.crops()
        assert crops.shape == (T, 128, 128, 3)
        # landmarks lie inside the crop; mouth corners below the eyes
        pts = clip.crop_landmarks
        assert (pts > 0).all() and (pts < 128).all()
        assert (pts[:, [48, 54], 1].mean() > pts[:, 36:48, 1].mean() + 10)
        assert 0 <= clip.neutral_index < T
        # GRID clips start and end in silence, so the neutral (closed-mouth) frame has a small lip gap
        gap = np.linalg.norm(clip.landmarks[:, 62] - clip.landmarks[:, 66], axis=-1)
        assert gap[clip.neutral_index] <= np.percentile(gap, 20)
    assert ds.mean_face().shape == (68, 2)
    splits = json.loads((prepared / "splits.json").read_text())
    assert splits["split_unit"] == "speaker"
    assert sorted(splits["train"] + splits["val"] + splits["test"]) == ds.all_ids()
    assert sorted(ds.splits) == ["test", "train", "val"]  # the split lists, not how they were made


def test_errors_reported_and_no_partial_outputs(prepared: Path) -> None:
    records = [json.loads(line) for line in (prepared / "manifest.jsonl").read_text().splitlines()]
    errors = {r["id"]: r["error"] for r in records if r["status"] == "error"}
    assert set(errors) == {"s9/empty", "s9/garbage"}
    for cid, msg in errors.items():
        assert "\n" not in msg
        assert cid.split("/")[1] in msg
    assert not (prepared / "clips" / "s9").exists() or not any((prepared / "clips" / "s9").iterdir())
    leftovers = [p for p in prepared.rglob("*") if ".part" in p.name]
    assert leftovers == []


def test_resume_skips_finished(grid_corpus: Path, prepared: Path) -> None:
    manifest = (prepared / "manifest.jsonl").read_text()
    summary = preprocess([grid_corpus], prepared, PreprocessConfig(), progress=False)
    assert summary.skipped_existing == 2 and summary.done == 0
    # broken files are not tried (and logged) again while they are unchanged
    assert summary.failed == 0 and summary.failed_before == 2
    assert (prepared / "manifest.jsonl").read_text() == manifest
    summary = preprocess([grid_corpus], prepared, PreprocessConfig(), progress=False, retry_failed=True)
    assert summary.failed == 2 and summary.failed_before == 0  # asked to: retried, and fail again the same way


def test_settings_mismatch_is_refused(grid_corpus: Path, prepared: Path) -> None:
    with pytest.raises(InputError, match="crop_size"):
        preprocess([grid_corpus / "s1"], prepared, PreprocessConfig(crop_size=256), progress=False)


def test_neutral_frame_prefers_closed_mouth() -> None:
    rng = np.random.default_rng(0)
    lm = np.tile(rng.normal(size=(1, 68, 2)).astype(np.float32) * 30 + 100, (10, 1, 1))
    lm[:, 16, 0] = lm[:, 0, 0] + 100
    lm[:, [65, 66, 67], 1] = lm[:, [63, 62, 61], 1] + 10
    lm[4, [65, 66, 67], 1] = lm[4, [63, 62, 61], 1]  # frame 4: lips together
    assert neutral_frame_index(lm, np.ones(10), np.ones(10, bool)) == 4


def test_cli_preprocess_and_inspect(grid_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    clip = grid_corpus / "s4" / "lbbc2a.mpg"
    rc = main(["preprocess", str(clip), "-o", str(out), "--feature", "mfcc", "--workers", "1", "-q", "--preview"])
    assert rc == 0
    assert "prepared 1 clip(s)" in capsys.readouterr().out
    assert (out / "previews" / "lbbc2a" / "lbbc2a.png").stat().st_size > 10_000
    png = tmp_path / "clip.png"
    assert main(["inspect", str(out), "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["preprocess", str(tmp_path / "nope"), "-o", str(tmp_path / "out"), "-q"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope" in err and "Traceback" not in err


def test_load_clip_rejects_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(InputError, match="x.npz"):
        load_clip(bad)
