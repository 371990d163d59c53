"""One place that says which option values are usable: ranges, devices, output paths.

Every front end checks a value here, once, before any model is loaded: the config dataclasses
(:class:`talkface.pipeline.AnimateConfig`, :class:`talkface.data.preprocess.PreprocessConfig`,
:class:`talkface.serve.ServeConfig`, the server's job options) call :func:`check_fields` in their
``__post_init__``, the CLI calls :func:`check_value` for options that have no dataclass, and the
web server answers a bad form field with the same range (``GET /v1/limits`` lists them). A bad
value raises :class:`OptionError`, one line naming the option (``--blink-rate: must be between 0
and 3 blinks per second, got nan``); the server reports the form field (``blink_rate``) instead.

:func:`check_output_file` is the one check of a file about to be written: right suffix, an
existing writable folder, not a folder, and not one of the command's own input files.
"""

from __future__ import annotations

import argparse
import errno
import math
import numbers
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from talkface.errors import InputError, TalkfaceError

__all__ = ["DEFAULT_MAX_SIDE", "LIMITS", "MAX_LIVE_S", "MAX_SPEECH_S", "Limit", "OptionError", "check_choice",
           "check_device", "check_fields", "check_output_file", "check_value", "environment_error", "same_file"]

#: Largest seed: NumPy's legacy generators and ``torch.manual_seed`` all take 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1

#: Default of the longest speech accepted by ``animate``, ``batch`` and ``preprocess``, seconds
#: (:attr:`talkface.animate_config.AnimateConfig.max_duration_s`,
#: :attr:`talkface.data.preprocess.PreprocessConfig.max_duration_s`); ``talkface live`` allows longer.
MAX_SPEECH_S = 600.0

#: Default of the longest photo side before it is downscaled, pixels
#: (:attr:`talkface.animate_config.AnimateConfig.max_side`, :func:`talkface.photo_video.prepare_photo`).
DEFAULT_MAX_SIDE = 1280

#: Default of the longest live session (``talkface live --max-duration``, the server's ``/v1/live``), seconds:
#: speech that arrives while it plays may run longer than a file to animate (:data:`MAX_SPEECH_S`).
MAX_LIVE_S = 3600.0


class OptionError(TalkfaceError, ValueError):
    """An option (a config field, a command-line option, a form field) has an unusable value.

    Args:
        field: the config / form field name (``"blink_rate"``).
        problem: what is wrong, one lower-case line (``"must be between 0 and 3, got nan"``).
        option: its command-line spelling (default ``--`` + the field with dashes).

    ``str(err)`` is ``"<option>: <problem>"``; the server answers ``"<field>: <problem>"``.
    """

    def __init__(self, field: str, problem: str, option: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.option = option or "--" + field.replace("_", "-")
        super().__init__(f"{self.option}: {problem}")


@dataclass(frozen=True)
class Limit:
    """The usable values of one numeric option.

    Attributes:
        lo, hi: the accepted range (inclusive; ``lo_open``: ``lo`` itself is not accepted).
        integer: only whole numbers.
        unit: shown after the range in messages (``"blinks per second"``).
        option: command-line spelling when it is not ``--`` + the field with dashes.
        also: a value outside the range that is accepted too (``0`` = "off" / "the whole photo").
        also_means: what ``also`` means, for the message.
    """

    lo: float
    hi: float
    integer: bool = False
    lo_open: bool = False
    unit: str = ""
    option: str | None = None
    also: float | None = None
    also_means: str = ""

    def describe(self) -> str:
        """The accepted values in words (``"a whole number from 1 to 1024"``)."""
        unit = f" {self.unit}" if self.unit else ""
        if self.integer:
            text = f"a whole number from {int(self.lo)} to {int(self.hi)}{unit}"
        elif self.lo_open:
            text = f"a number above {self.lo:g} and at most {self.hi:g}{unit}"
        else:
            text = f"between {self.lo:g} and {self.hi:g}{unit}"
        if self.also is not None:
            text += f", or {self.also:g} ({self.also_means})"
        return text


#: Ranges of every numeric option, by config / form field name. The CLI, the configs and the
#: server all check against this table (and ``GET /v1/limits`` shows the server's share of it).
LIMITS: dict[str, Limit] = {
    # animate / landmarks / the server's form
    "blink_rate": Limit(0.0, 3.0, unit="blinks per second"),
    "motion_scale": Limit(0.0, 3.0),
    "head_motion": Limit(0.0, 3.0),
    "size": Limit(32, 1024, integer=True, unit="pixels", also=0, also_means="the whole photo"),
    "max_side": Limit(64, 8192, integer=True, unit="pixels", also=0, also_means="never downscale"),
    "seed": Limit(0, MAX_SEED, integer=True),
    "max_duration_s": Limit(0.0, 86400.0, lo_open=True, unit="seconds", option="--max-duration"),
    "threads": Limit(1, 1024, integer=True),
    "chunk_frames": Limit(1, 1024, integer=True),
    "crf": Limit(0, 51, integer=True, unit="(H.264 quality; lower = better)"),
    "shading": Limit(0.0, 3.0),
    # live (talkface.live.config.LiveConfig; max_duration_s as above)
    "chunk_ms": Limit(0.0, 10000.0, lo_open=True, unit="ms"),
    # adapt
    "frames": Limit(1, 1000, integer=True),
    "steps": Limit(1, 1_000_000, integer=True),
    "lr": Limit(0.0, 1.0),  # 0: no update (a test of the plumbing)
    # train (talkface.train.core.TrainConfig)
    "max_steps": Limit(1, 10**9, integer=True, option="--steps"),
    "batch_size": Limit(1, 65536, integer=True),
    "num_nodes": Limit(1, 100_000, integer=True),
    "log_every_n_steps": Limit(1, 10**9, integer=True, option="--log-every"),
    "checkpoint_every_n_steps": Limit(1, 10**9, integer=True, option="--checkpoint-every"),
    "val_every_n_steps": Limit(1, 10**9, integer=True, option="--val-every"),
    "num_workers": Limit(0, 1024, integer=True, option="--loader-workers"),
    "num_threads": Limit(1, 1024, integer=True, option="--threads"),
    "max_minutes": Limit(0.0, 10**7, lo_open=True),
    # preprocess
    "crop_size": Limit(128, 256, integer=True, unit="pixels"),
    "detect_every": Limit(1, 1000, integer=True),
    "workers": Limit(1, 256, integer=True),
    "val_fraction": Limit(0.0, 0.9),
    "test_fraction": Limit(0.0, 0.9),
    "split_seed": Limit(0, MAX_SEED, integer=True, option="--seed"),
    "min_duration_s": Limit(0.0, 86400.0),
    # serve
    "port": Limit(0, 65535, integer=True),
    "max_upload_mb": Limit(0.0, 65536.0, lo_open=True, unit="MiB"),
    "max_audio_seconds": Limit(0.0, 86400.0, lo_open=True, unit="seconds"),
    "max_image_megapixels": Limit(0.0, 1000.0, lo_open=True),
    "job_ttl_minutes": Limit(0.0, 525600.0),
    "max_queued": Limit(1, 100_000, integer=True),
    "client_timeout": Limit(0.0, 3600.0, lo_open=True, unit="seconds"),
    # a heartbeat is renewed every max(0.2, lease / 4) s: a lease under ~1 s expires between renewals
    "queue_lease_s": Limit(1.0, 3600.0, unit="seconds"),
    # 0: a job fails the first time its worker dies; a job that killed 100 workers will kill the next one too
    "queue_retries": Limit(0, 100, integer=True),
}

#: libx264's speed presets.
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_value(field: str, value: Any, *, option: str | None = None, limit: Limit | None = None) -> Any:
    """``value`` if it is a usable value of option ``field`` (see :data:`LIMITS`), else :class:`OptionError`.

    Args:
        field: the config / form field name, a key of :data:`LIMITS` unless ``limit`` is given.
        value: the value to check (``None`` is the caller's business: check only real values).
        option: command-line spelling for the message (default: the table's, else ``--field``).
        limit: the range to use instead of the table's.

    Returns:
        ``value`` (an ``int`` for whole-number options, else a ``float``).
    """
    spec = limit or LIMITS[field]
    option = option or spec.option
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise OptionError(field, f"expected a number, got {_shown(value)}", option)
    if spec.integer:
        if not isinstance(value, numbers.Integral):
            if not (isinstance(value, float) and math.isfinite(value) and value.is_integer()):
                raise OptionError(field, f"must be {spec.describe()}, got {_shown(value)}", option)
            value = int(value)
        number: int | float = int(value)
    else:
        number = float(value)
    if spec.also is not None and number == spec.also:
        return number
    ok = math.isfinite(number) and (spec.lo < number if spec.lo_open else spec.lo <= number) and number <= spec.hi
    if not ok:
        raise OptionError(field, f"must be {spec.describe()}, got {_shown(value)}", option)
    return number


def number_arg(field: str) -> Callable[[str], float]:
    """An argparse ``type=`` for a number option checked against ``LIMITS[field]``, so that the CLI commands
    and the web server accept the same range (e.g. ``--motion-scale``, ``--head-motion``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc
        try:
            return float(check_value(field, value))
        except OptionError as exc:
            raise argparse.ArgumentTypeError(exc.problem) from None

    parse.__name__ = field
    return parse


def check_fields(obj: Any, fields: Iterable[str], options: dict[str, str] | None = None) -> None:
    """:func:`check_value` on each of ``fields`` of a config dataclass that is not ``None``.

    Args:
        obj: the config.
        fields: its numeric fields to check (keys of :data:`LIMITS`; absent attributes are skipped).
        options: command-line spellings that differ from the table's.
    """
    for name in fields:
        value = getattr(obj, name, None)
        if value is not None:
            check_value(name, value, option=(options or {}).get(name))


def check_choice(field: str, value: Any, choices: Iterable[str], option: str | None = None) -> str:
    """``value`` if it is one of ``choices``, else :class:`OptionError` listing them."""
    options = tuple(choices)
    if value not in options:
        raise OptionError(field, f"must be one of {', '.join(options)}, got {_shown(value)}", option)
    return str(value)


def check_device(device: Any, option: str = "--device") -> str:
    """``device`` if it names a torch device that exists on this machine, else :class:`OptionError`.

    ``cpu`` always does; ``cuda`` / ``cuda:N`` need a CUDA GPU (and N below the GPU count),
    ``mps`` Apple's Metal backend.
    """
    import torch

    field = option.lstrip("-").replace("-", "_")
    if not isinstance(device, str | torch.device):
        raise OptionError(field, f"expected a device name, got {_shown(device)}", option)
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise OptionError(field, f"unknown device {_shown(str(device))} (expected cpu, cuda, cuda:N or mps)",
                          option) from None
    if dev.type == "cpu":
        return str(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise OptionError(field, f"{_shown(str(device))}: no CUDA GPU is available on this machine "
                              "(torch.cuda.is_available() is False); use --device cpu", option)
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise OptionError(field, f"{_shown(str(device))}: this machine has {count} CUDA GPU(s)", option)
        return str(device)
    if dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise OptionError(field, f"{_shown(str(device))}: Apple's MPS backend is not available here", option)
        return str(device)
    raise OptionError(field, f"unsupported device {_shown(str(device))} (expected cpu, cuda, cuda:N or mps)", option)


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file (the same path once resolved, or the same inode)."""
    try:
        if Path(a).resolve() == Path(b).resolve():
            return True
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def check_output_file(
    path: str | os.PathLike[str],
    *,
    suffixes: Iterable[str] | None = None,
    kind: str = "file",
    inputs: Iterable[str | os.PathLike[str] | None] = (),
) -> Path:
    """The one check of a file a command is about to write; raises :class:`InputError` naming it.

    Args:
        path: the output file.
        suffixes: accepted suffixes (lower case, with the dot); ``None``: any.
        kind: what the file is, for the message (``"video file"``).
        inputs: the command's input files (``None`` entries are skipped): the output must be none
            of them, so that a mistyped command never overwrites its own input.

    Returns:
        ``path`` as a Path.
    """
    out = Path(path)
    if suffixes is not None:
        allowed = tuple(suffixes)
        if out.suffix.lower() not in allowed:
            raise InputError(out, f"output must be a {kind} ({', '.join(allowed)})")
    for src in inputs:
        if src is not None and same_file(out, src):
            shown = "" if os.fspath(src) == os.fspath(out) else f" ({os.fspath(src)})"
            raise InputError(out, f"output is the input file{shown}: it would be overwritten; choose another output "
                             "name")
    if out.is_dir():
        raise InputError(out, "output is a folder")
    parent = out.parent
    if not parent.is_dir():
        raise InputError(out, "output folder does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(out, "output folder is not writable")
    if out.exists() and not os.access(out, os.W_OK) and not os.access(parent, os.W_OK):
        raise InputError(out, "output file is not writable")
    return out


#: ``errno`` values of problems with the user's machine rather than with talkface: shown as one line.
_ENVIRONMENT_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EFBIG", "ENAMETOOLONG",
                                      "EISDIR", "ENOTDIR", "ENOENT", "EMFILE", "ENFILE", "EIO", "ENOMEM")
    if hasattr(errno, name)
)


def environment_error(exc: BaseException) -> str | None:
    """One line for an ``OSError`` the user's machine caused (full disk, no permission, ...), else ``None``.

    ``"out.mp4: no space left on device (errno ENOSPC)"``: the file when known, the system's reason.
    """
    if not isinstance(exc, OSError) or exc.errno not in _ENVIRONMENT_ERRNOS:
        return None
    reason = (exc.strerror or errno.errorcode.get(exc.errno or 0, "") or type(exc).__name__).rstrip(".")
    reason = reason[:1].lower() + reason[1:]
    where = exc.filename if exc.filename is not None else None
    name = errno.errorcode.get(exc.errno or 0, "")
    text = f"{os.fspath(where)}: {reason}" if where is not None else reason
    return " ".join(f"{text} ({name})".split()) if name else " ".join(text.split())
