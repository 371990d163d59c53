"""Atomic file output: write to a temporary file beside the target, rename on success.

A crash, an exception or Ctrl-C never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Names of :func:`atomic_path`'s temporary files: ``.<stem>.<8 random characters>.part<suffix>``.
PART_RE = re.compile(r"^\..*\.[A-Za-z0-9_]{8}\.part(\.[^./]+)?$")

#: A temporary file untouched for this long belongs to no live writer (writers keep writing to theirs).
STALE_PART_S = 300.0


def is_part_file(name: str | os.PathLike[str]) -> bool:
    """Whether a file name is one of :func:`atomic_path`'s temporary files (to be ignored by readers)."""
    return PART_RE.match(Path(name).name) is not None


def clean_stale_parts(folder: str | os.PathLike[str], *, older_than_s: float = STALE_PART_S,
                      recursive: bool = False) -> list[Path]:
    """Remove :func:`atomic_path` temporary files left in ``folder`` by a killed process.

    Only files not modified for ``older_than_s`` seconds are removed, so that another process
    writing into the same folder (a second shard) keeps its file. Returns the files removed.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    candidates = root.rglob(".*.part*") if recursive else root.glob(".*.part*")
    now = time.time()
    removed = []
    for path in candidates:
        try:
            if is_part_file(path) and path.is_file() and now - path.stat().st_mtime >= older_than_s:
                path.unlink()
                removed.append(path)
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    return removed


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
