"""All-or-nothing directory outputs."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


def publish(out_dir: str | Path, write: Callable[[Path], Iterable[str | Path]]) -> list[Path]:
    """Run ``write(tmp_dir) -> [paths]`` in a hidden temporary directory inside ``out_dir``,
    then move every file into ``out_dir``: either all outputs appear or none."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=".partial-"))
    try:
        paths = [Path(p) for p in write(tmp)]
        final = []
        for p in paths:
            dest = out_dir / p.relative_to(tmp)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, dest)
            final.append(dest)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
