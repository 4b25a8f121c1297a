"""The glibc allocator setting that CPU training turns on."""
import subprocess
import sys

import pytest

from unetvocalsep.fast import allocator

CODE = ("import sys; from unetvocalsep.fast import allocator; "
        "print(allocator.keep_freed_memory(), allocator.keep_freed_memory())")


def _run(env_value, monkeypatch):
    if env_value is None:
        monkeypatch.delenv(allocator.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(allocator.ENV_VAR, env_value)
    return subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                          check=True).stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc setting")
def test_on_by_default_on_glibc(monkeypatch):
    import platform
    expected = "True" if platform.libc_ver()[0] == "glibc" else "False"
    assert _run(None, monkeypatch) == [expected, expected]


def test_switched_off_by_env(monkeypatch):
    assert _run("0", monkeypatch) == ["False", "False"]


def test_train_turns_it_on(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    from unetvocalsep.training import train
    from unetvocalsep.errors import UserError
    with pytest.raises(UserError, match="no cached tracks"):
        train.train(str(tmp_path), out=str(tmp_path / "out"))
    assert calls == [1]
