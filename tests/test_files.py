"""Writing a file all or nothing."""

import pytest

from neuraltunes_live.files import replace_file


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
