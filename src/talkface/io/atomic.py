"""Atomic file output: write to a temporary file beside the target, rename on success.

A crash, an exception or Ctrl-C never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in ``dest``'s folder; move it onto ``dest`` if the block succeeds.

    The temporary name keeps ``dest``'s suffix (encoders pick the format from it). On any
    exception the temporary file is removed and ``dest`` is left untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=f".part{dest.suffix}", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files; give the result the usual permissions
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_torch(obj: Any, dest: str | os.PathLike[str]) -> Path:
    """``torch.save`` ``obj`` to ``dest`` atomically (see :func:`atomic_path`), byte-reproducibly.

    ``torch.save`` names the zip archive inside the file after the file it writes to, so saving
    to a random temporary name would give different bytes for the same tensors; writing through
    a file handle names it ``archive`` every time (the same content gives the same file, which
    keeps re-exported model files out of version-control diffs).

    Returns:
        ``dest`` as a Path.
    """
    import torch

    with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)
    return Path(dest)
