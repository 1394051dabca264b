"""Safe output files (skyfence.fsio): devices, FIFOs, symlinks, directories, read-only
directories and full disks give one-line errors and never lose or replace what is there."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skyfence.cli import app
from skyfence.errors import InputError
from skyfence.fsio import (
    atomic_open,
    atomic_output,
    atomic_write_bytes,
    atomic_write_text,
    check_output_path,
)

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _no_temp_left(directory: Path) -> None:
    assert [p.name for p in directory.iterdir() if p.name.startswith(".")] == []


def test_new_file_and_replace_keep_content_and_mode(tmp_path):
    out = tmp_path / "sub" / "a.csv"
    assert atomic_write_text(out, "h3_cell\nabc\n") == out.resolve()
    assert out.read_text() == "h3_cell\nabc\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    out.chmod(0o640)
    atomic_write_bytes(out, b"new")
    assert out.read_bytes() == b"new" and stat.S_IMODE(out.stat().st_mode) == 0o640
    _no_temp_left(out.parent)


def test_device_fifo_and_symlinks_to_them_are_refused(tmp_path):
    for dev in ("/dev/full", "/dev/null"):
        if not os.path.exists(dev):
            pytest.skip(f"{dev} missing")
        with pytest.raises(InputError, match=r"--out: /dev/\w+ is a character device, not a "
                                             r"regular file; refusing"):
            atomic_write_text(dev, "x", "--out")
        assert stat.S_ISCHR(os.stat(dev).st_mode)  # still the device
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is a FIFO"):  # refused, never opened (no hang)
        atomic_write_text(fifo, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    link = tmp_path / "null-link"
    link.symlink_to("/dev/null")
    with pytest.raises(InputError, match=r"character device \(through the symbolic link"):
        atomic_write_text(link, "x")
    assert link.is_symlink() and os.readlink(link) == "/dev/null"
    fifo_link = tmp_path / "fifo-link"
    fifo_link.symlink_to(fifo)
    with pytest.raises(InputError, match="FIFO"):
        check_output_path(fifo_link)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(InputError, match=r"symbolic link loop"):
        atomic_write_text(loop, "x")
    _no_temp_left(tmp_path)


def test_symlink_to_a_regular_file_replaces_the_file_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_directory_and_paths_under_a_file_are_refused(tmp_path):
    with pytest.raises(InputError, match="is a directory; give a file name"):
        atomic_write_text(tmp_path, "x", "--out")
    f = tmp_path / "file"
    f.write_text("keep")
    with pytest.raises(InputError, match="not a directory"):
        atomic_write_text(f / "x.csv", "x")
    with pytest.raises(InputError, match="empty output path"):
        check_output_path("  ")
    assert f.read_text() == "keep"


def _make_read_only(directory: Path) -> bool:
    """Make ``directory`` unwritable even for root (immutable attribute); False if impossible."""
    if IS_ROOT:
        if shutil.which("chattr") is None:
            return False
        done = subprocess.run(["chattr", "+i", str(directory)], capture_output=True)
        return done.returncode == 0
    directory.chmod(0o555)
    return True


def _undo_read_only(directory: Path) -> None:
    if IS_ROOT:
        subprocess.run(["chattr", "-i", str(directory)], capture_output=True)
    directory.chmod(0o755)


def test_read_only_directory_is_a_one_line_error_and_keeps_the_old_file(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    old = ro / "cells.csv"
    old.write_text("old")
    if not _make_read_only(ro):
        pytest.skip("cannot make a directory read-only here (root without chattr support)")
    try:
        with pytest.raises(InputError) as exc:
            atomic_write_text(old, "new", "--out")
        assert "\n" not in str(exc.value)
        assert "permission denied" in str(exc.value) or "read-only" in str(exc.value)
        assert old.read_text() == "old"
        _no_temp_left(ro)
    finally:
        _undo_read_only(ro)


def test_proc_file_is_refused_with_one_line(tmp_path):
    """A file on a pseudo file system where nothing can be created (/proc)."""
    if not os.path.isfile("/proc/version"):
        pytest.skip("no /proc")
    with pytest.raises(InputError, match=r"cannot write /proc/version: cannot create a file"):
        atomic_write_text("/proc/version", "x")


def test_full_disk_via_file_size_limit_keeps_the_old_file(tmp_path):
    """RLIMIT_FSIZE makes writes fail like a full disk (EFBIG), in a child process."""
    target = tmp_path / "big.bin"
    target.write_bytes(b"old")
    code = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        from skyfence.fsio import atomic_write_bytes
        from skyfence.errors import InputError
        try:
            atomic_write_bytes({str(target)!r}, b"x" * 100_000, "--out")
        except InputError as exc:
            print(exc)
            sys.exit(2)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stdout.strip().startswith("--out: cannot write")
    assert "too large" in done.stdout and done.stdout.count("\n") == 1
    assert target.read_bytes() == b"old"
    _no_temp_left(tmp_path)
    assert resource.getrlimit(resource.RLIMIT_FSIZE)  # the parent is unaffected
    assert signal.getsignal(signal.SIGXFSZ) is not None


def test_full_disk_on_a_tiny_tmpfs(tmp_path):
    """A real ENOSPC: a 64 KiB tmpfs (needs root and mount permission, else skipped)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if not IS_ROOT or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("mount not permitted here")
    try:
        keep = mnt / "cells.csv"
        keep.write_bytes(b"old")
        with pytest.raises(InputError, match=r"no space left on device \(disk full\)"):
            atomic_write_bytes(keep, b"x" * 1_000_000, "--out")
        assert keep.read_bytes() == b"old"
        _no_temp_left(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_atomic_output_and_open_roll_back_on_error(tmp_path):
    out = tmp_path / "t.parquet"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(out) as tmp:
        assert tmp.suffix == ".parquet" and tmp.parent == tmp_path
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert out.read_bytes() == b"old"
    with atomic_open(out, "w", newline="") as fh:
        fh.write("a,b\n")
    assert out.read_text() == "a,b\n"
    _no_temp_left(tmp_path)
    with pytest.raises(ValueError, match="mode"), atomic_open(out, "a"):
        pass


def test_cli_regions_cells_refuses_devices_and_directories(tmp_path):
    runner = CliRunner()
    for target, msg in (("/dev/full", "is a character device"),
                        (str(tmp_path), "is a directory")):
        res = runner.invoke(app, ["regions", "cells", "Moldova", "--out", target])
        assert res.exit_code == 2, res.output
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: --out:") and msg in lines[0]
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    ok = tmp_path / "md.csv"
    res = runner.invoke(app, ["regions", "cells", "Moldova", "--out", str(ok)])
    assert res.exit_code == 0 and ok.read_text().startswith("h3_cell\n")
