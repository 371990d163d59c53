"""Batch manifests: a CSV or JSON-lines file of (photo, speech, options) jobs.

A CSV has a header row naming its columns; a JSONL file has one JSON object per line (blank
lines and lines starting with ``#`` are ignored). The columns / keys:

``photo``, ``speech`` (required)
    paths, relative to the manifest's folder (or absolute).
``output``
    the video to write, relative to the output folder (``.mp4`` is added when it has no video
    suffix; sub-folders are allowed, ``..`` is not). Default ``<photo stem>-<speech stem>.mp4``.
``id``
    a name for the row in the results (default: the output name without its suffix).
``blink_rate`` (blinks/s, or ``natural``), ``motion_scale``, ``head_motion``, ``seed``, ``size``
    per-call options of :meth:`talkface.pipeline.Animator.animate`.
``person``, ``close_mouth``, ``max_side``, ``max_duration_s``, ``crf``, ``preset``
    per-job :class:`talkface.pipeline.AnimateConfig` settings (``person`` relative to the manifest).

An empty cell (or a missing key / JSON ``null``) takes the run's default. A problem with the
file itself (missing, unreadable, not CSV/JSONL, no ``photo``/``speech`` column, an unknown
column) is an :class:`talkface.errors.InputError` naming the file (and line). A problem with one
row (a value that does not parse, a JSON line that does not parse, an output name already used
by an earlier row) is kept on that row (:attr:`BatchJob.error`): the row fails alone.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from talkface.config_checks import LIMITS, OptionError, check_value
from talkface.errors import InputError

__all__ = ["CALL_OPTIONS", "COLUMNS", "CONFIG_OPTIONS", "BatchJob", "read_manifest", "shard_jobs"]

#: Options passed per call to :meth:`talkface.pipeline.Animator.animate`.
CALL_OPTIONS = ("blink_rate", "motion_scale", "head_motion", "seed", "size")
#: Per-job :class:`talkface.pipeline.AnimateConfig` fields (``person`` loads a second texture model).
CONFIG_OPTIONS = ("person", "close_mouth", "max_side", "max_duration_s", "crf", "preset")
#: Every column a manifest may have.
COLUMNS = ("id", "photo", "speech", "output", *CALL_OPTIONS, *CONFIG_OPTIONS)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v")
_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@dataclass
class BatchJob:
    """One row of a manifest.

    Attributes:
        index: 0-based position among the manifest's rows (sharding uses it).
        line: line of the manifest file the row starts on (1-based; for messages).
        id: the row's name in the results.
        photo, speech: resolved input paths (None when the row did not parse that far).
        output: the video path relative to the output folder.
        call: per-call options (:data:`CALL_OPTIONS`) the row sets.
        config: :class:`talkface.pipeline.AnimateConfig` fields the row sets.
        error: why the row cannot run (one line), or None.
    """

    index: int
    line: int
    id: str
    photo: Path | None = None
    speech: Path | None = None
    output: str = ""
    call: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class _RowError(ValueError):
    pass


def _number(value: Any, name: str, *, integer: bool = False) -> float | int:
    """A finite number (ranges are checked against :data:`talkface.config_checks.LIMITS` afterwards)."""
    if isinstance(value, bool):
        raise _RowError(f"{name}: expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _RowError(f"{name}: expected a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise _RowError(f"{name}: expected a finite number, got {value!r}")
    if integer:
        if number != int(number):
            raise _RowError(f"{name}: expected a whole number, got {value!r}")
        number = int(number)
    return number


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on"):
        return True
    if text in ("0", "false", "no", "n", "off"):
        return False
    raise _RowError(f"{name}: expected true or false, got {str(value)[:40]!r}")


def _parse_option(name: str, value: Any) -> Any:
    """A row's value of option ``name``, parsed, then range-checked like the CLI's (:mod:`talkface.config_checks`)."""
    parsed = _parse_raw(name, value)
    if parsed is not None and not isinstance(parsed, bool | str) and name in LIMITS:
        try:
            parsed = check_value(name, parsed)
        except OptionError as err:
            raise _RowError(f"{name}: {err.problem}") from None
    return parsed


def _parse_raw(name: str, value: Any) -> Any:
    if name == "blink_rate":
        if isinstance(value, str) and value.strip().lower() == "natural":
            return None
        rate = float(_number(value, name))
        return None if rate < 0 else rate
    if name in ("motion_scale", "head_motion"):
        return float(_number(value, name))
    if name == "seed":
        return int(_number(value, name, integer=True))
    if name in ("size", "max_side", "crf"):
        return int(_number(value, name, integer=True))
    if name == "max_duration_s":
        return float(_number(value, name))
    if name == "close_mouth":
        return _bool(value, name)
    if name == "preset":
        text = str(value).strip()
        if text not in _PRESETS:
            raise _RowError(f"preset: must be one of {', '.join(_PRESETS)}, got {text[:40]!r}")
        return text
    raise AssertionError(name)  # pragma: no cover


def _output_name(text: str) -> str:
    raw = text.strip().replace("\\", "/")
    pure = PurePosixPath(raw)
    if not raw or pure.is_absolute() or ".." in pure.parts or raw.endswith("/"):
        raise _RowError(f"output: must be a file name inside the output folder, got {text[:60]!r}")
    if pure.suffix.lower() not in VIDEO_SUFFIXES:
        pure = pure.with_name(pure.name + ".mp4")
    return str(pure)


def _make_job(index: int, line: int, row: dict[str, Any], base: Path) -> BatchJob:
    """A :class:`BatchJob` from one row's raw values (errors kept on the job)."""
    values = {k: v for k, v in row.items() if v is not None and not (isinstance(v, str) and not v.strip())}
    job = BatchJob(index=index, line=line, id=str(values.get("id", "")).strip() or f"row{line}")
    try:
        for key in ("photo", "speech"):
            if key not in values:
                raise _RowError(f"{key}: missing")
            if not isinstance(values[key], str):
                raise _RowError(f"{key}: expected a path, got {values[key]!r}")
        photo, speech = Path(values["photo"].strip()), Path(values["speech"].strip())
        job.photo, job.speech = Path(os.path.normpath(base / photo)), Path(os.path.normpath(base / speech))
        job.output = _output_name(str(values["output"])) if "output" in values else f"{photo.stem}-{speech.stem}.mp4"
        if "id" not in values:
            job.id = str(PurePosixPath(job.output).with_suffix(""))
        for name in CALL_OPTIONS:
            if name in values:
                job.call[name] = _parse_option(name, values[name])
        for name in CONFIG_OPTIONS:
            if name in values:
                if name == "person":
                    if not isinstance(values[name], str):
                        raise _RowError(f"person: expected a path, got {values[name]!r}")
                    job.config[name] = os.path.normpath(base / values[name].strip())
                else:
                    job.config[name] = _parse_option(name, values[name])
    except _RowError as err:
        job.error = str(err)
    return job


def _read_csv(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(path, "empty manifest (expected a header row: photo,speech,...)") from None
    except csv.Error as err:
        raise InputError(path, f"line 1: not a readable CSV header ({err})") from None
    columns = [c.strip().lower() for c in header]
    for name in ("photo", "speech"):
        if name not in columns:
            raise InputError(path, f"line 1: no '{name}' column (the header is: {','.join(header)[:80]})")
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise InputError(path, f"line 1: unknown column '{unknown[0]}' (known: {', '.join(COLUMNS)})")
    dupes = {c for c in columns if columns.count(c) > 1}
    if dupes:
        raise InputError(path, f"line 1: column '{sorted(dupes)[0]}' appears twice")
    rows: list[tuple[int, dict[str, Any]]] = []
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            rows.append((line, {"__error__": f"not a readable CSV row ({err})"}))
            continue
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(columns):
            rows.append((line, {"__error__": f"{len(cells)} cells, the header has {len(columns)}"}))
            continue
        rows.append((line, dict(zip(columns, cells, strict=True))))
    return rows


def _read_jsonl(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            value = json.loads(stripped)
        except ValueError as err:
            rows.append((number, {"__error__": f"not a JSON object ({err.__class__.__name__}: {err})"}))
            continue
        if not isinstance(value, dict):
            rows.append((number, {"__error__": f"not a JSON object (a {type(value).__name__})"}))
            continue
        value = {str(k).strip().lower(): v for k, v in value.items()}
        unknown = [k for k in value if k not in COLUMNS]
        if unknown:
            rows.append((number, {"__error__": f"unknown key '{unknown[0]}' (known: {', '.join(COLUMNS)})",
                                  "id": value.get("id")}))
            continue
        rows.append((number, value))
    return rows


def read_manifest(path: str | os.PathLike[str]) -> list[BatchJob]:
    """Every row of a manifest (``.csv``, ``.jsonl``/``.ndjson``), in order.

    Rows that cannot run carry their one-line :attr:`BatchJob.error`; a later row with an output
    name (or id) already used is an error too (the first one runs).

    Raises:
        InputError: the file is missing or unreadable, not CSV/JSONL, or its CSV header is wrong.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        raise InputError(path, "manifest must be a .csv or .jsonl file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(path, "manifest not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"unreadable manifest ({err.__class__.__name__})") from None
    raw = _read_csv(path, text) if suffix == ".csv" else _read_jsonl(path, text)
    base = path.resolve().parent
    jobs: list[BatchJob] = []
    outputs: dict[str, int] = {}
    ids: dict[str, int] = {}
    for index, (line, row) in enumerate(raw):
        if "__error__" in row:
            rid = row.get("id")
            jobs.append(BatchJob(index=index, line=line, id=str(rid) if rid else f"row{line}",
                                 error=f"line {line}: {row['__error__']}"))
            continue
        job = _make_job(index, line, row, base)
        if job.error is None:
            key = job.output.lower()
            if key in outputs:
                job.error = f"output '{job.output}' is already written by line {outputs[key]}; give each row its " \
                            "own 'output'"
            elif job.id in ids:
                job.error = f"id '{job.id}' is already used by line {ids[job.id]}"
            else:
                outputs[key] = line
                ids[job.id] = line
        if job.error is not None and not job.error.startswith("line "):
            job.error = f"line {line}: {job.error}"
        jobs.append(job)
    if not jobs:
        raise InputError(path, "manifest has no rows")
    return jobs


def shard_jobs(jobs: list[BatchJob], shard: tuple[int, int] | None) -> list[BatchJob]:
    """The rows of shard ``i`` of ``n`` (row index ``% n == i``): shards are disjoint and cover every row."""
    if shard is None:
        return list(jobs)
    i, n = shard
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"need 0 <= i < n, got shard {i}/{n}")
    return [job for job in jobs if job.index % n == i]
