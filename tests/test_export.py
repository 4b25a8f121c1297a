"""python -m unetvocalsep.export: never writes over a device, a pipe or the model."""
import os

import pytest
from hardening import cli, one_line_error  # noqa: F401  (fixtures and helpers)


# Issue 28, defect 1: export --overwrite replaced device nodes
@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_01_export_never_replaces_a_device_or_pipe(random_model, tmp_path, kind):
    import stat

    pytest.importorskip("onnx")
    target = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(target)
    else:   # a copy of /dev/null's node: a failing test must not break the machine
        try:
            os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("creating a device node needs root")
    before = os.stat(target)
    one_line_error(cli("export", random_model, target, "--overwrite"), "not a regular file")
    after = os.stat(target)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)


# Issue 28, defect 2: export destroyed the user's model
def test_02_export_never_writes_over_the_model(random_model, tmp_path):
    pytest.importorskip("onnx")
    mine = tmp_path / "mine.npz"
    mine.write_bytes(open(random_model, "rb").read())
    before = mine.read_bytes()
    one_line_error(cli("export", mine, "--overwrite"), "model's extension")      # OUT forgotten
    one_line_error(cli("export", mine, mine, "--overwrite"), "model")
    link = tmp_path / "link.onnx"                                                # same file
    link.symlink_to(mine)
    one_line_error(cli("export", mine, link, "--overwrite"), "the model itself")
    assert mine.read_bytes() == before
