"""Errors that reach users as one line of text.

Every problem with a user's input is raised as :class:`InputError`, whose message names the
file and the problem (``"photo.jpg: no face found"``). The command-line front end prints that
message and exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path


class TalkfaceError(Exception):
    """Base class of all errors talkface reports to users; ``str(err)`` is one line."""


class InputError(TalkfaceError):
    """A user-supplied file cannot be used.

    Args:
        path: the offending file (shown as given).
        problem: what is wrong, lower-case, no trailing full stop (``"no audio track"``).
    """

    def __init__(self, path: str | os.PathLike[str] | None, problem: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")


def existing_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`~pathlib.Path` if it is an existing, non-empty regular file.

    Raises:
        InputError: ``"file not found"``, ``"not a file"`` or ``"file is empty (0 bytes)"``, naming ``path``.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(path, "file not found")
    if not p.is_file():
        raise InputError(path, "not a file")
    if p.stat().st_size == 0:
        raise InputError(path, "file is empty (0 bytes)")
    return p
