"""Writing a file all or nothing."""

import os
import stat

import pytest

from neuraltunes_live.files import replace_file, replace_folder


def test_a_finished_write_replaces_the_file(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    replace_file(path, lambda out: out.write(b"new"))
    assert path.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, error):
    path = tmp_path / "out.json"
    path.write_text("old")

    def write(out):
        out.write(b"half")
        raise error

    with pytest.raises(type(error)):
        replace_file(path, write)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


@pytest.fixture
def umask():
    """Set the process umask for a test, and put the old one back."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_to(mask):
        os.umask(mask)

    yield set_to
    os.umask(saved)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_files_and_folders_get_the_users_umask(tmp_path, umask, mask):
    umask(mask)
    expected_file = 0o666 & ~mask
    replace_file(tmp_path / "out.mid", lambda out: out.write(b"x"))
    assert stat.S_IMODE((tmp_path / "out.mid").stat().st_mode) == expected_file
    (tmp_path / "plain.txt").write_text("as open() makes it")
    assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == expected_file
    replace_folder(tmp_path / "data", lambda folder: (folder / "a.npz").write_bytes(b"y"))
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o777 & ~mask


def test_a_failed_folder_write_keeps_the_old_folder_and_leaves_nothing(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "old.npz").write_bytes(b"old")

    def write(folder):
        (folder / "new.npz").write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        replace_folder(out, write)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    assert sorted(p.name for p in out.iterdir()) == ["old.npz"]
