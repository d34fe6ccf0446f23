"""Writes that an interruption can never leave looking complete: into a temporary sibling, then a rename.

The sibling is named `<name>.tmp-<pid>`; what a killed process leaves behind is removed when its run
is opened again (RunDir.open).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable


def save_atomically(target: Path, save: Callable[[Path], object]) -> None:
    """`save(tmp)` writes a file or a directory at `tmp`, which then replaces `target` in one rename."""
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    _remove(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    save(tmp)
    if tmp.is_dir():
        _remove(target)  # a directory cannot be renamed over a non-empty one
    tmp.replace(target)


def write_atomically(path: Path, text: str) -> None:
    save_atomically(path, lambda tmp: tmp.write_text(text))


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
