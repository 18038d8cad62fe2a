"""Atomic file writes: a file is either absent, the old version, or complete.

Everything the engine writes (checkpoints, metrics, samples, tables) goes through a
temporary file in the destination directory followed by ``os.replace``, so a run killed
mid-write never leaves a truncated file behind.

Two guards keep the atomic rename from doing damage or from failing late:

* :func:`atomic_write_bytes` only ever *replaces regular files*. ``os.replace`` would
  happily swap a device node (``/dev/full`` when run as root), a FIFO or a socket for a
  regular file, and would replace a symlink itself rather than the file it points to.
  Symlinks are therefore resolved and their target written; anything else that is not a
  regular file is refused with an :class:`~molediff.utils.errors.OutputError`.
* :func:`check_output_path` / :func:`check_output_dir` validate a destination *before*
  any model work, so a typo in ``-o`` fails in a second with one clear line instead of
  with a traceback after hours of sampling.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from molediff.utils.errors import MolediffError

try:  # added to errors.py alongside this module; fall back so either order of landing works
    from molediff.utils.errors import OutputError
except ImportError:  # pragma: no cover - only while errors.py lacks OutputError
    OutputError = MolediffError  # type: ignore[misc,assignment]

__all__ = [
    "STDOUT",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_dir",
    "check_output_path",
    "write_json",
    "write_output",
]

#: The conventional "write to standard output" path.
STDOUT = "-"


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory + ``os.replace``).

    * A symlink is followed: its (final) target is written atomically and the link stays a
      link. A dangling symlink creates its target (and the target's parent directories).
    * Anything that exists and is not a regular file (directory, device, FIFO, socket,
      symlink loop) is refused with :class:`OutputError`; it is left untouched.
    * Missing parent directories are created; a parent that cannot be created (a path
      component is a file, no permission) raises :class:`OutputError`.
    * A new file gets ``0o666 & ~umask``; a replaced regular file keeps its mode.

    Returns ``path`` as given (not the resolved symlink target), so callers can report the
    name the user asked for. Errors while writing the data (disk full, ...) propagate as
    ``OSError``; the old file is then left in place and no temporary file remains.
    """
    path = Path(path)
    target = _resolve(path)
    existing = _existing_regular(path, target)
    _make_parent(target.parent, what=path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: directory {target.parent} is not writable "
            f"({exc.strerror or exc})"
        ) from exc
    try:
        # mkstemp creates 0600; use what a plain open() would give a new file, and do not
        # silently tighten (or loosen) the permissions of a file that is being replaced.
        mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o666 & ~_umask()
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically (non-finite floats become ``null``)."""
    return atomic_write_text(path, json.dumps(_finite(obj), indent=2, sort_keys=True) + "\n")


def write_output(path: str | Path, data: bytes | str) -> Path | None:
    """Write ``data`` to standard output when ``path`` is ``"-"``, else atomically to ``path``.

    ``str`` data is encoded as UTF-8. Returns the path written, or ``None`` for stdout.
    Pair it with ``check_output_path(path, allow_stdout=True)`` at start-up.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if _is_stdout(path):
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is not None:
            buffer.write(raw)
            buffer.flush()
        else:  # a text-only stdout (notebook, some test harnesses) has no binary buffer
            sys.stdout.write(raw.decode("utf-8", errors="replace"))
            sys.stdout.flush()
        return None
    return atomic_write_bytes(path, raw)


def check_output_path(path: str | Path, *, allow_stdout: bool = False) -> Path | None:
    """Check, before any real work, that a file can later be written to ``path``.

    Refuses (with one :class:`OutputError` line naming the path) a path that is a directory
    or ends in a path separator, an existing non-regular file (device, FIFO, socket,
    symlink loop), a parent that exists as a file, a parent directory that cannot be
    created, and a directory that is not writable. Missing parent directories are created
    (the later write would create them anyway). Writability is proven by creating and
    removing a temporary file in the destination directory, which also catches read-only
    file systems and runs as root, where ``os.access`` always says yes.

    ``"-"`` means standard output: returns ``None`` when ``allow_stdout``, is refused
    otherwise. Otherwise returns ``Path(path)``; an existing file is not modified.
    """
    if _is_stdout(path):
        if allow_stdout:
            return None
        raise OutputError("output '-' (standard output) is not supported here; give a file path")
    text = os.fspath(path)
    if not text:
        raise OutputError("output path is empty")
    if text.endswith(("/", os.sep)):
        # Path() would drop the separator and happily create a *file* called "results".
        raise OutputError(f"output {text} ends with '/': give a file name, not a directory")
    path = Path(path)
    target = _resolve(path)
    _existing_regular(path, target)
    _make_parent(target.parent, what=path)
    _probe_writable(target.parent, what=path)
    return path


def check_output_dir(path: str | Path) -> Path:
    """Check, before any real work, that ``path`` is (or can be created as) a writable directory.

    Creates the directory (and its parents) when missing. Refuses with :class:`OutputError`
    a path that exists and is not a directory (following symlinks), a directory that cannot
    be created, and one that is not writable (proven with a temporary file). Returns
    ``Path(path)``.
    """
    if not os.fspath(path):
        raise OutputError("output directory is empty")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"output directory {path} exists and is not a directory")
    _make_parent(path, what=path)
    _probe_writable(path, what=path)
    return path


# --------------------------------------------------------------------------- helpers


def _is_stdout(path: str | Path) -> bool:
    # Exactly "-" (str or Path); "./-" still names a file called "-" for whoever wants one.
    return os.fspath(path) == STDOUT


def _resolve(path: Path) -> Path:
    """The file ``os.replace`` must target: ``path`` with every symlink resolved.

    ``realpath`` (non-strict) follows dangling links to their would-be target, so writing
    through a dangling link creates the target. Only followed when ``path`` is a symlink,
    so ordinary paths stay as given (relative paths stay relative in error messages).
    """
    if os.path.islink(path):
        return Path(os.path.realpath(path))
    return path


def _existing_regular(path: Path, target: Path) -> os.stat_result | None:
    """``lstat`` of ``target`` if it is an existing regular file, ``None`` if it is missing.

    Anything else is refused: ``os.replace`` would swap it for a regular file (a device node,
    a FIFO, a socket), or fail late with a confusing error (a directory).
    """
    try:
        st = os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):
        return None  # missing; a parent that is a file is reported by _make_parent
    except OSError as exc:  # e.g. a parent directory without search (x) permission
        raise OutputError(f"cannot access {path} ({exc.strerror or exc})") from exc
    if stat.S_ISREG(st.st_mode):
        return st
    name = f"{path} (-> {target})" if target != path else str(path)
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"cannot write {name}: it is a directory; give a file name")
    raise OutputError(f"refusing to write {name}: it is a {_kind(st.st_mode)}, not a regular file")


def _kind(mode: int) -> str:
    """A human name for a non-regular file type."""
    for test, name in (
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISLNK, "symlink loop"),  # realpath stops at a loop and leaves a link behind
    ):
        if test(mode):
            return name
    return "special file"


def _make_parent(directory: Path, what: Path | None = None) -> None:
    """Create ``directory`` (with parents), turning failures into one clear line."""
    what = what if what is not None else directory
    # Find the nearest existing ancestor first: if it is a file, say so directly instead of
    # surfacing mkdir's FileExistsError / NotADirectoryError.
    for ancestor in (directory, *directory.parents):
        if os.path.lexists(ancestor):
            if ancestor.is_symlink() and not ancestor.exists():
                raise OutputError(f"cannot write {what}: {ancestor} is a dangling symlink")
            if not ancestor.is_dir():
                raise OutputError(f"cannot write {what}: {ancestor} exists and is not a directory")
            break
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot write {what}: cannot create directory {directory} ({exc.strerror or exc})"
        ) from exc


def _probe_writable(directory: Path, what: Path) -> None:
    """Create and remove a temporary file in ``directory`` (the atomic writer needs exactly this)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".molediff-probe.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(
            f"cannot write {what}: directory {directory} is not writable ({exc.strerror or exc})"
        ) from exc
    os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj
