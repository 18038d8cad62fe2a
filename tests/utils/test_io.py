"""Tests for molediff.utils.io: atomic writes that never clobber what is not a regular file,
and output-path preflight checks that fail fast with one clear message."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from molediff.utils import io as mio
from molediff.utils.errors import MolediffError
from molediff.utils.io import (
    atomic_write_bytes,
    atomic_write_text,
    check_output_dir,
    check_output_path,
    write_json,
    write_output,
)

# Running as root makes every directory writable, so permission tests only mean something
# for an ordinary user.
as_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root bypasses directory permissions",
)


@pytest.fixture
def no_replace(monkeypatch):
    """Make ``os.replace`` record instead of rename: a safety net for tests that point the
    writer at a real device node, so a regression cannot clobber ``/dev/null``."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(mio.os, "replace", lambda src, dst: calls.append((src, dst)))
    return calls


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _names(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


# --------------------------------------------------------------------------- regular files


def test_new_file_mode_follows_umask(tmp_path, umask):
    umask(0o022)
    assert _mode(atomic_write_bytes(tmp_path / "a.bin", b"x")) == 0o644
    umask(0o077)
    assert _mode(atomic_write_bytes(tmp_path / "b.bin", b"x")) == 0o600


def test_replacing_a_file_keeps_its_mode_and_leaves_no_temp(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "f.txt"
    path.write_text("old")
    path.chmod(0o640)
    assert atomic_write_text(path, "new") == path
    assert path.read_text() == "new"
    assert _mode(path) == 0o640
    assert _names(tmp_path) == ["f.txt"]


def test_missing_parents_are_created(tmp_path):
    path = tmp_path / "a" / "b" / "c.bin"
    assert atomic_write_bytes(str(path), b"data") == path
    assert path.read_bytes() == b"data"


def test_text_and_json_api_unchanged(tmp_path):
    text = atomic_write_text(tmp_path / "t.txt", "héllo")
    assert isinstance(text, Path) and text.read_bytes() == "héllo".encode()
    js = write_json(tmp_path / "m.json", {"b": float("nan"), "a": [1.5, float("inf")]})
    assert js == tmp_path / "m.json"
    assert json.loads(js.read_text()) == {"a": [1.5, None], "b": None}
    assert js.read_text().endswith("\n")


# --------------------------------------------------------------------------- refusals


def test_fifo_is_refused_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(MolediffError, match=r"pipe.*FIFO.*not a regular file") as err:
        atomic_write_bytes(fifo, b"data")
    assert isinstance(err.value, mio.OutputError)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert _names(tmp_path) == ["pipe"]  # no temporary file left behind


def test_device_is_refused_and_left_alone(no_replace):
    before = os.lstat("/dev/null")
    with pytest.raises(MolediffError, match=r"/dev/null.*character device"):
        atomic_write_bytes("/dev/null", b"data")
    assert no_replace == []
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_symlink_to_device_is_refused(tmp_path, no_replace):
    link = tmp_path / "out.sdf"
    link.symlink_to("/dev/null")
    with pytest.raises(MolediffError, match=r"out\.sdf.*/dev/null.*character device"):
        atomic_write_text(link, "data")
    assert no_replace == []
    assert link.is_symlink() and os.readlink(link) == "/dev/null"


def test_directory_is_refused_and_unchanged(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("keep")
    with pytest.raises(MolediffError, match=r"out.*is a directory"):
        atomic_write_bytes(out, b"data")
    assert out.is_dir() and _names(out) == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "keep"
    assert _names(tmp_path) == ["out"]


def test_parent_that_is_a_file_is_refused_and_unchanged(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("i am a file")
    for path in (blocker / "x.json", blocker / "deep" / "er" / "x.json"):
        with pytest.raises(MolediffError, match=r"results exists and is not a directory"):
            write_json(path, {"a": 1})
    assert blocker.read_text() == "i am a file"
    assert _names(tmp_path) == ["results"]


def test_symlink_loop_is_refused(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(MolediffError, match="symlink loop"):
        atomic_write_bytes(tmp_path / "a", b"data")
    assert (tmp_path / "a").is_symlink() and os.readlink(tmp_path / "a") == "b"


# --------------------------------------------------------------------------- symlinks


def test_symlink_target_is_written_and_link_kept(tmp_path, umask):
    umask(0o022)
    real = tmp_path / "data" / "real.sdf"
    real.parent.mkdir()
    real.write_text("old")
    real.chmod(0o600)
    link = tmp_path / "link.sdf"
    link.symlink_to(Path("data") / "real.sdf")  # relative, as users usually make them

    assert atomic_write_text(link, "new") == link
    assert link.is_symlink() and os.readlink(link) == str(Path("data") / "real.sdf")
    assert real.read_text() == "new" and not real.is_symlink()
    assert _mode(real) == 0o600  # the target's mode, not the link's
    assert _names(tmp_path) == ["data", "link.sdf"]
    assert _names(real.parent) == ["real.sdf"]


def test_chain_of_symlinks_writes_the_final_target(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    (tmp_path / "l1").symlink_to("real.txt")
    (tmp_path / "l2").symlink_to("l1")
    atomic_write_text(tmp_path / "l2", "new")
    assert real.read_text() == "new"
    assert (tmp_path / "l1").is_symlink() and (tmp_path / "l2").is_symlink()


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.sdf"
    link.symlink_to(tmp_path / "new" / "dir" / "target.sdf")
    atomic_write_bytes(link, b"data")
    assert link.is_symlink()
    assert (tmp_path / "new" / "dir" / "target.sdf").read_bytes() == b"data"


def test_failed_write_through_symlink_keeps_target_and_link(tmp_path, monkeypatch):
    real = tmp_path / "real.bin"
    real.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to("real.bin")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(mio.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(link, b"new")
    assert real.read_bytes() == b"old"
    assert link.is_symlink()
    assert _names(tmp_path) == ["link.bin", "real.bin"]


# --------------------------------------------------------------------------- check_output_path


def test_check_output_path_creates_parents_but_not_the_file(tmp_path):
    path = tmp_path / "a" / "b" / "out.sdf"
    assert check_output_path(str(path)) == path
    assert path.parent.is_dir()
    assert _names(path.parent) == []  # probe file removed, target not created


def test_check_output_path_leaves_an_existing_file_alone(tmp_path):
    path = tmp_path / "out.sdf"
    path.write_text("precious")
    os.utime(path, (1_000_000, 1_000_000))
    assert check_output_path(path) == path
    assert path.read_text() == "precious"
    assert os.stat(path).st_mtime == 1_000_000
    assert _names(tmp_path) == ["out.sdf"]


def test_check_output_path_stdout(tmp_path, monkeypatch):
    assert check_output_path("-", allow_stdout=True) is None
    assert check_output_path(Path("-"), allow_stdout=True) is None
    with pytest.raises(MolediffError, match="standard output"):
        check_output_path("-")
    monkeypatch.chdir(tmp_path)
    assert check_output_path("./-") == Path("./-")  # an explicit file called "-"
    assert _names(tmp_path) == []


def test_check_output_path_refuses_directory_and_trailing_slash(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(MolediffError, match=r"out.*is a directory"):
        check_output_path(out)
    with pytest.raises(MolediffError, match="ends with '/'"):
        check_output_path(f"{tmp_path}/new/")
    assert not (tmp_path / "new").exists()
    with pytest.raises(MolediffError, match="empty"):
        check_output_path("")
    assert _names(out) == []


def test_check_output_path_refuses_special_files(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(MolediffError, match="FIFO"):
        check_output_path(fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    with pytest.raises(MolediffError, match="character device"):
        check_output_path("/dev/full")
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)
    assert _names(tmp_path) == ["pipe"]


def test_check_output_path_refuses_parent_that_is_a_file(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("file")
    with pytest.raises(MolediffError, match="results exists and is not a directory"):
        check_output_path(blocker / "sub" / "out.sdf")
    assert blocker.read_text() == "file"


def test_check_output_path_follows_symlinks(tmp_path):
    link = tmp_path / "link.sdf"
    link.symlink_to(tmp_path / "later" / "t.sdf")
    assert check_output_path(link) == link
    assert (tmp_path / "later").is_dir() and _names(tmp_path / "later") == []
    assert link.is_symlink()


def test_unwritable_directory_is_reported_even_as_root(tmp_path, monkeypatch):
    # os.access lies for root; the probe must actually try to create a file. Simulate the
    # failure (a read-only file system, say) so this runs whoever runs the tests.
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(mio.tempfile, "mkstemp", denied)
    with pytest.raises(MolediffError, match=r"not writable \(Permission denied\)"):
        check_output_path(tmp_path / "x.sdf")
    with pytest.raises(MolediffError, match="not writable"):
        check_output_dir(tmp_path)
    with pytest.raises(MolediffError, match="not writable"):
        atomic_write_bytes(tmp_path / "x.sdf", b"data")
    assert _names(tmp_path) == []


def test_uncreatable_parent_is_reported_even_as_root(tmp_path, monkeypatch):
    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(mio.Path, "mkdir", denied)
    target = tmp_path / "new" / "out.sdf"
    pattern = r"new/out\.sdf: cannot create directory .*new \(Permission denied\)"
    with pytest.raises(MolediffError, match=pattern):
        check_output_path(target)
    with pytest.raises(MolediffError, match=pattern):
        atomic_write_bytes(target, b"data")
    assert _names(tmp_path) == []


@as_root
def test_non_writable_directory_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(MolediffError, match="not writable"):
            check_output_path(ro / "out.sdf")
        with pytest.raises(MolediffError, match=r"sub/out\.sdf: cannot create directory"):
            check_output_path(ro / "sub" / "out.sdf")
        with pytest.raises(MolediffError, match="not writable"):
            check_output_dir(ro)
        assert _names(ro) == []
    finally:
        ro.chmod(0o700)


# --------------------------------------------------------------------------- check_output_dir


def test_check_output_dir(tmp_path):
    new = tmp_path / "a" / "b"
    assert check_output_dir(str(new)) == new
    assert new.is_dir() and _names(new) == []
    assert check_output_dir(new) == new  # existing directory is fine

    (tmp_path / "dirlink").symlink_to(new)
    assert check_output_dir(tmp_path / "dirlink") == tmp_path / "dirlink"

    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(MolediffError, match="exists and is not a directory"):
        check_output_dir(f)
    with pytest.raises(MolediffError, match="file exists and is not a directory"):
        check_output_dir(f / "sub")
    assert f.read_text() == "x"

    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    with pytest.raises(MolediffError, match="dangling symlink"):
        check_output_dir(tmp_path / "dangling")
    assert not (tmp_path / "missing").exists()


# --------------------------------------------------------------------------- write_output


def test_write_output_to_stdout(capfdbinary):
    assert write_output("-", b"\x00bytes\n") is None
    assert write_output("-", "text ✓\n") is None
    assert capfdbinary.readouterr().out == b"\x00bytes\ntext \xe2\x9c\x93\n"


def test_write_output_to_file_is_atomic_and_guarded(tmp_path):
    path = tmp_path / "o.txt"
    assert write_output(path, "one") == path
    assert write_output(str(path), b"two") == path
    assert path.read_bytes() == b"two"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(MolediffError, match="FIFO"):
        write_output(fifo, b"x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
