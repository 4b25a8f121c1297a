"""Output files: claims, atomic commits, folders in the way (files, writing)."""
import os
import subprocess

import numpy as np
import pytest
import soundfile as sf
from conftest import toy_stems
from hardening import PY, cli, hidden, leftovers, one_line_error, song  # noqa: F401  (fixtures and helpers)

from unetvocalsep.errors import UserError


# Issue 13, defect 2: two runs into one folder
def test_02_claimed_output_fails_the_second_run(random_model, song, tmp_path):
    from unetvocalsep.files import claim

    out = tmp_path / "o" / "song"
    out.mkdir(parents=True)
    with claim([out / "vocals.wav", out / "accompaniment.wav"]):
        proc = cli("separate", song, "-o", tmp_path / "o", "--model", random_model, "--no-progress")
    one_line_error(proc, "another run is writing")
    assert not (out / "vocals.wav").exists() and not leftovers(tmp_path)


# Issue 13, defect 2: two runs into one folder
def test_02_two_concurrent_runs_one_wins_whole(random_model, tmp_path):
    paths = []
    for k in range(2):
        v, a = toy_stems(seconds=6.0, sr=44100, seed=40 + k)
        d = tmp_path / f"in{k}"
        d.mkdir()
        paths.append(d / "same.wav")
        sf.write(str(paths[-1]), (v + a).T, 44100, subtype="FLOAT")
    procs = [subprocess.Popen([PY, "-m", "unetvocalsep.separate", str(p), "-o", str(tmp_path / "o"),
                               "--model", random_model, "--no-progress", "--bits", "32"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in paths]
    results = [(p.wait(), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes[0] == 0 and codes[1] == 1, results
    loser = [err for rc, err in results if rc == 1][0]
    assert len(loser.strip().splitlines()) == 1
    assert "another run is writing" in loser or "output exists" in loser
    winner = paths[[rc for rc, _ in results].index(0)]
    v, _ = sf.read(str(tmp_path / "o" / "same" / "vocals.wav"), dtype="float32")
    a, _ = sf.read(str(tmp_path / "o" / "same" / "accompaniment.wav"), dtype="float32")
    mix, _ = sf.read(str(winner), dtype="float32")
    assert np.max(np.abs(v + a - mix)) < 1e-5   # both stems from the same (winning) run
    assert not leftovers(tmp_path) and not list((tmp_path / "o").rglob("*.lock"))


# Issue 13, defect 2: two runs into one folder
def test_02_output_appearing_during_the_run_is_kept(random_model, song, tmp_path, monkeypatch):
    from unetvocalsep.separate import Separator

    sep = Separator(random_model)
    target = tmp_path / "o" / "song" / "vocals.wav"
    inner = sep.stream

    def stream(*a, **k):
        for blocks in inner(*a, **k):
            if not target.exists():
                target.write_bytes(b"someone else's file")
            yield blocks
    monkeypatch.setattr(sep, "stream", stream)
    with pytest.raises(UserError, match="output exists"):
        sep.separate_file(str(song), str(tmp_path / "o"), progress=False)
    assert target.read_bytes() == b"someone else's file"
    assert not (target.parent / "accompaniment.wav").exists() and not leftovers(tmp_path)


# Issue 13, defect 18: an output path that is a folder
def test_18_folder_in_the_way_is_named_and_nothing_written(random_model, song, tmp_path):
    (tmp_path / "o" / "song" / "vocals.wav").mkdir(parents=True)
    proc = cli("separate", song, "-o", tmp_path / "o", "--model", random_model, "--overwrite",
               "--no-progress")
    line = one_line_error(proc, "vocals.wav")
    assert ".part" not in line and "folder" in line
    assert not (tmp_path / "o" / "song" / "accompaniment.wav").exists() and not leftovers(tmp_path)


# Issue 13, defect 18: an output path that is a folder
def test_18_failed_second_commit_takes_the_first_back(random_model, song, tmp_path, monkeypatch):
    from unetvocalsep import files
    from unetvocalsep.separate import Separator

    real = files.AtomicFile.commit

    def commit(self):
        if self.path.endswith("accompaniment.wav"):
            self.discard()
            raise OSError(28, "No space left on device", self.path)
        real(self)
    monkeypatch.setattr(files.AtomicFile, "commit", commit)
    with pytest.raises(OSError):
        Separator(random_model).separate_file(str(song), str(tmp_path / "o"), progress=False)
    assert not (tmp_path / "o" / "song").exists() and not leftovers(tmp_path)


# Issue 13: more of the same classes, found while fixing the 21
def test_more_errors_name_the_real_file_not_the_temporary(tmp_path):
    import errno

    from unetvocalsep.errors import describe_error
    from unetvocalsep.files import atomic_path

    target = tmp_path / "cache.npy"
    with pytest.raises(OSError) as info:
        with atomic_path(str(target)) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", tmp)
    assert describe_error(info.value) == f"no space left on device: {target}"
    assert not list(tmp_path.iterdir())


# Issue 28, defect 1: export --overwrite replaced device nodes
def test_01_separate_never_replaces_a_device_either(random_model, song, tmp_path):
    from unetvocalsep.files import check_target

    (tmp_path / "song").mkdir()
    fifo = tmp_path / "song" / "vocals.wav"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="not a regular file"):
        check_target(str(fifo), overwrite=True)
    proc = cli("separate", song, "-o", tmp_path, "--model", random_model, "--overwrite")
    one_line_error(proc, "not a regular file")
    assert os.path.exists(fifo) and not os.path.isfile(fifo)
    check_target(str(tmp_path / "new.wav"), overwrite=True)   # a new path is fine


# Issue 28, defect 4: the output folder swapped for a link mid-run
def test_04_folder_swapped_for_a_link_leaves_nothing(random_model, song, tmp_path):
    from unetvocalsep.separator import Separator

    out = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    moved = tmp_path / "moved"
    calls = []

    def swap(*_):
        if not calls:
            os.rename(out / "song", moved)
            os.symlink(elsewhere, out / "song")
        calls.append(1)

    sep = Separator(random_model)
    with pytest.raises(UserError, match="moved or replaced") as info:
        sep.separate_file(str(song), str(out), on_window=swap)
    assert ".part" not in str(info.value) and ".lock" not in str(info.value)
    assert calls
    assert os.listdir(moved) == [] and os.listdir(elsewhere) == []


# Issue 28, defect 4: the output folder swapped for a link mid-run
def test_04_errors_name_the_users_file_not_the_lock(tmp_path):
    from unetvocalsep.files import AtomicFile, claim

    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        if os.access(folder, os.W_OK):   # root: make creating any file fail another way
            pytest.skip("root can write to a read-only folder")
        target = str(folder / "vocals.wav")
        with pytest.raises(OSError) as info:
            with claim([target]):
                pass
        assert info.value.filename == target
        with pytest.raises(OSError) as info:
            AtomicFile(target)
        assert info.value.filename == target
    finally:
        os.chmod(folder, 0o755)


# Issue 28, defect 4: the output folder swapped for a link mid-run
def test_04_lock_names_never_reach_the_user_as_root(tmp_path, monkeypatch):
    """As root the chmod test above cannot fail; make the lock's open fail instead."""
    from unetvocalsep import files

    real_open = os.open

    def failing(path, flags, mode=0o777, *, dir_fd=None):
        if str(path).endswith(".lock") or ".part" in str(path):
            raise OSError(13, "Permission denied", path)
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(files.os, "open", failing)
    target = str(tmp_path / "vocals.wav")
    for make in (lambda: files.claim([target]).__enter__(), lambda: files.AtomicFile(target)):
        with pytest.raises(OSError) as info:
            make()
        assert info.value.filename == target
    monkeypatch.undo()
    assert hidden(tmp_path) == []
