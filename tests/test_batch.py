"""``talkface batch``: manifests, bad rows, resume, shards, a killed worker, the CLI (real models, short clips)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from talkface.batch import read_manifest, run_batch, shard_jobs
from talkface.batch.ray_backend import start_local_ray
from talkface.errors import InputError
from talkface.io.media import read_audio
from talkface.pipeline import AnimateConfig, Animator

REPO = Path(__file__).resolve().parent.parent
FACE = REPO / "examples" / "face.png"
GRID = Path(__file__).parent / "fixtures" / "bbaf2n.mpg"
SR = 16000


@pytest.fixture(scope="module")
def animator() -> Animator:
    return Animator(AnimateConfig(threads=1))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a face photo, 1.2 s of GRID speech, and a corrupt photo (a PNG cut short)."""
    folder = tmp_path_factory.mktemp("batch_inputs")
    shutil.copyfile(FACE, folder / "face.png")
    audio = read_audio(GRID)[int(0.9 * SR): int(2.1 * SR)]
    sf.write(folder / "speech.wav", audio, SR)
    (folder / "corrupt.png").write_bytes(FACE.read_bytes()[:300])
    return folder


def _video(path: Path) -> tuple[int, bool]:
    """(frames, has audio) of an mp4."""
    with av.open(str(path)) as c:
        frames = sum(1 for _ in c.decode(video=0))
        return frames, bool(c.streams.audio)


def _records(path: Path) -> dict[int, dict]:
    return {r["line"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_bad_rows_fail_alone_and_a_rerun_skips_finished_videos(animator: Animator, inputs: Path,
                                                               tmp_path: Path) -> None:
    manifest = inputs / "jobs.csv"
    manifest.write_text(
        "photo,speech,output,blink_rate,seed\n"
        "face.png,speech.wav,good,,1\n"          # line 2: renders
        "face.png,missing.wav,missing,,\n"       # line 3: no such file
        "corrupt.png,speech.wav,corrupt,,\n"     # line 4: a corrupt photo (found by decoding)
        "face.png,speech.wav,good.mp4,0.2,\n"    # line 5: output name of line 2 again
        "face.png,speech.wav,badvalue,fast,\n"   # line 6: a value that does not parse
    )
    out = tmp_path / "out"
    summary = run_batch(manifest, out, animator.config, workers=1, animator=animator, progress=False)
    assert (summary.ok, summary.skipped, summary.failed) == (1, 0, 4)
    records = _records(out / "results.jsonl")
    assert sorted(records) == [2, 3, 4, 5, 6]
    assert records[2]["status"] == "ok" and records[2]["frames"] == 30 and records[2]["error"] is None
    assert _video(out / "good.mp4") == (30, True)
    assert records[3]["status"] == "error" and "missing.wav: file not found" in records[3]["error"]
    assert "corrupt.png: corrupt or truncated image" in records[4]["error"]
    assert "output 'good.mp4' is already written by line 2" in records[5]["error"]
    assert "blink_rate: expected a number, got 'fast'" in records[6]["error"]
    assert all(records[n]["error"].startswith(f"line {n}: ") and "\n" not in records[n]["error"] for n in (3, 4, 5, 6))
    assert sorted(p.name for p in out.iterdir()) == ["good.mp4", "results.jsonl"]  # nothing of the failed rows

    mtime = (out / "good.mp4").stat().st_mtime_ns
    again = run_batch(manifest, out, animator.config, workers=1, animator=animator, progress=False)
    assert (again.ok, again.skipped, again.failed) == (0, 1, 4)
    records = _records(out / "results.jsonl")
    assert records[2]["status"] == "skipped" and records[2]["frames"] == 30
    assert (out / "good.mp4").stat().st_mtime_ns == mtime  # not rendered again


def test_per_row_options_jsonl(animator: Animator, inputs: Path, tmp_path: Path) -> None:
    manifest = inputs / "opts.jsonl"
    rows = [{"photo": "face.png", "speech": "speech.wav", "output": "crop/a", "size": 96, "motion_scale": 0,
             "blink_rate": "natural", "id": "still-mouth", "head_motion": 0},
            {"photo": "face.png", "speech": "speech.wav", "output": "crop/b", "size": 96, "head_motion": "0"}]
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n# a comment\n{not json\n")
    summary = run_batch(manifest, tmp_path, animator.config, workers=1, animator=animator, progress=False)
    assert (summary.ok, summary.failed) == (2, 1)
    bad = next(r for r in summary.records if r["status"] == "error")
    assert bad["line"] == 4 and bad["error"].startswith("line 4: not a JSON object")
    with av.open(str(tmp_path / "crop" / "a.mp4")) as c:
        a = np.stack([f.to_ndarray(format="gray") for f in c.decode(video=0)]).astype(np.float32)
    with av.open(str(tmp_path / "crop" / "b.mp4")) as c:
        b = np.stack([f.to_ndarray(format="gray") for f in c.decode(video=0)]).astype(np.float32)
    assert a.shape[1:] == (96, 96) == b.shape[1:]
    lower = slice(60, 90)  # the mouth region of the 96 px crop moves with motion_scale 1, barely with 0
    assert np.abs(np.diff(b[:, lower], axis=0)).mean() > 2 * np.abs(np.diff(a[:, lower], axis=0)).mean()
    assert next(r for r in summary.records if r["line"] == 1)["id"] == "still-mouth"


def test_manifest_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    cases = {
        "none.csv": (None, "manifest not found"),
        "jobs.txt": ("photo,speech\n", "must be a .csv or .jsonl"),
        "nospeech.csv": ("photo,audio\na.png,b.wav\n", "line 1: no 'speech' column"),
        "typo.csv": ("photo,speech,blink\na.png,b.wav,1\n", "line 1: unknown column 'blink'"),
        "empty.csv": ("", "empty manifest"),
        "header_only.csv": ("photo,speech\n", "manifest has no rows"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(InputError) as info:
            read_manifest(path)
        assert str(info.value).startswith(str(path)) and message in str(info.value), name
    path = tmp_path / "cells.csv"
    path.write_text("photo,speech,seed\na.png,b.wav\na.png,b.wav,1.5\n../a.png,b.wav,2\n")
    jobs = read_manifest(path)
    assert jobs[0].error == "line 2: 2 cells, the header has 3"
    assert jobs[1].error == "line 3: seed: expected a whole number, got '1.5'"
    assert jobs[2].error is None and jobs[2].photo == tmp_path.parent / "a.png"  # paths are relative to the manifest


def test_shards_are_disjoint_and_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "many.csv"
    path.write_text("photo,speech,output\n" + "".join(f"f.png,s{i}.wav,o{i}\n" for i in range(23)))
    jobs = read_manifest(path)
    for n in (1, 2, 3, 7, 30):
        shards = [[j.index for j in shard_jobs(jobs, (i, n))] for i in range(n)]
        flat = [x for s in shards for x in s]
        assert sorted(flat) == list(range(23)) and len(flat) == len(set(flat)), n
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
    with pytest.raises(ValueError):
        shard_jobs(jobs, (3, 3))
    from talkface.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["batch", str(path), "-o", "out", "--shard", "2/3"]).shard == (2, 3)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "16")
    assert parse(["batch", str(path), "-o", "out", "--shard", "slurm"]).shard == (4, 16)


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                kids += [int(x) for x in (task / "children").read_text().split()]
    return kids


def test_a_killed_worker_process_loses_nothing_and_its_row_is_tried_again(inputs: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("photo,speech,output,seed\n" + "".join(
        f"{inputs / 'face.png'},{inputs / 'speech.wav'},v{i},{i}\n" for i in range(3)))
    out = tmp_path / "out"
    before = set(_children(os.getpid()))
    box: dict[str, object] = {}

    def run() -> None:
        box["summary"] = run_batch(manifest, out, AnimateConfig(threads=1), workers=1, processes=True, progress=False,
                                   retries=1)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 240
    while not (out / "v0.mp4").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (out / "v0.mp4").exists(), "the first video never appeared"
    # the worker is now writing v1: its hidden temporary file exists (waiting on a fixed sleep instead was racy
    # once rendering got faster: the kill could land on v2)
    while not any(p.name.startswith(".v1.") for p in out.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not (out / "v1.mp4").exists(), "v1 finished before the worker could be killed"
    workers = [p for p in _children(os.getpid()) if p not in before
               and b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert len(workers) == 1, "expected one worker process"
    os.kill(workers[0], signal.SIGKILL)
    thread.join(300)
    summary = box["summary"]
    assert summary.failed == 0 and summary.ok == 3  # type: ignore[attr-defined]
    records = {r["output"]: r for r in summary.records}  # type: ignore[attr-defined]
    assert records["v0.mp4"]["worker"] == f"pid{workers[0]}" != records["v2.mp4"]["worker"]  # a new worker
    assert records["v1.mp4"]["attempts"] == 2
    for i in range(3):
        assert _video(out / f"v{i}.mp4") == (30, True)
    assert not [p for p in out.iterdir() if p.name.startswith("v") and p.suffix != ".mp4"]


def test_cli_exit_status_and_one_line_errors(inputs: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    bad = tmp_path / "bad.csv"
    bad.write_text("photo,speech,colour\n")
    run = subprocess.run([sys.executable, "-m", "talkface.cli", "batch", str(bad), "-o", str(tmp_path / "o")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip() == f"talkface: error: {bad}: line 1: unknown column 'colour' (known: " \
        "id, photo, speech, output, blink_rate, motion_scale, head_motion, seed, size, person, close_mouth, " \
        "max_side, max_duration_s, crf, preset)"
    only_bad = tmp_path / "only_bad.csv"
    only_bad.write_text(f"photo,speech\n{inputs / 'face.png'},{tmp_path / 'nope.wav'}\n")
    run = subprocess.run([sys.executable, "-m", "talkface.cli", "batch", str(only_bad), "-o", str(tmp_path / "o"),
                          "-q"], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "0 rendered, 0 skipped (already done), 1 failed" in run.stdout
    assert "nope.wav: file not found" in run.stderr


def _descendants_named(text: bytes) -> list[int]:
    """Processes below this one (Ray's raylet and its workers are) whose command line contains ``text``."""
    found, todo, seen = [], _children(os.getpid()), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(OSError):
            if text in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
            todo += _children(pid)
    return found


def test_ray_actors_render_and_a_killed_actor_is_restarted(inputs: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'talkface[ray]'")
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("photo,speech,output\n" + "".join(
        f"{inputs / 'face.png'},{inputs / 'speech.wav'},v{i}\n" for i in range(2))
        + f"{inputs / 'corrupt.png'},{inputs / 'speech.wav'},bad\n")
    out = tmp_path / "out"
    start_local_ray(ray, num_cpus=2, include_dashboard=False, object_store_memory=80 * 2**20, log_to_driver=False)
    try:
        box: dict[str, object] = {}
        thread = threading.Thread(target=lambda: box.update(summary=run_batch(
            manifest, out, AnimateConfig(threads=1), workers=1, ray_address="auto", progress=False, retries=1)))
        thread.start()
        deadline = time.monotonic() + 300
        while not (out / "v0.mp4").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (out / "v0.mp4").exists(), "the first video never appeared"
        # the actor is now writing v1 (its hidden temporary file exists)
        while not any(p.name.startswith(".v1.") for p in out.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not (out / "v1.mp4").exists(), "v1 finished before the actor could be killed"
        actors = _descendants_named(b"RayRenderer")
        assert len(actors) == 1, actors
        os.kill(actors[0], signal.SIGKILL)
        thread.join(400)
    finally:
        ray.shutdown()
    summary = box["summary"]
    records = {r["output"]: r for r in summary.records}  # type: ignore[attr-defined]
    assert (summary.ok, summary.failed) == (2, 1)  # type: ignore[attr-defined]
    assert records["v0.mp4"]["worker"] == f"pid{actors[0]}" != records["v1.mp4"]["worker"]  # restarted actor
    assert "corrupt.png: corrupt or truncated image" in records["bad.mp4"]["error"]
    for i in range(2):
        assert _video(out / f"v{i}.mp4") == (30, True)
