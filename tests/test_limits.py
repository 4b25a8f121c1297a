"""Bounds on what users give: samples, gains, rates, hops (limits)."""
import numpy as np
import pytest
import soundfile as sf
from hardening import cli, one_line_error, song  # noqa: F401  (fixtures and helpers)

from unetvocalsep.errors import UserError


# Issue 28, defect 7: finite input gave garbage
def test_07_huge_samples_are_refused_with_one_line(random_model, tmp_path):
    from unetvocalsep.separator import Separator
    from unetvocalsep.streaming import LiveSeparator

    y = np.zeros((2, 44100 * 2), np.float32)
    y[0, 5000] = 3e38
    path = tmp_path / "spike.wav"
    sf.write(str(path), y.T, 44100, subtype="FLOAT")
    one_line_error(cli("separate", path, "-o", tmp_path / "o", "--model", random_model),
                   "beyond")
    sep = Separator(random_model)
    with pytest.raises(UserError, match="beyond"):
        sep.separate(y, 44100)
    live = LiveSeparator(sep, sr=44100, channels=2, latency=0.5)
    with pytest.raises(UserError, match="beyond"):
        live.process(y)
    # loud but sane float audio (60 dB over full scale) still separates, all finite
    out = sep.separate(np.clip(y, -1000, 1000), 44100)
    assert all(np.isfinite(v).all() for v in out.values())


# Issue 28, defect 7: finite input gave garbage
@pytest.mark.parametrize("args, needle", [
    (["--gain", "1000"], "outside -100 to 100 dB"),
    (["--gain", "1e308"], "outside -100 to 100 dB"),
    (["--chunk-seconds", "1e308"], "longer than 3600 s"),
])
def test_07_13_absurd_numbers_are_one_line(random_model, song, tmp_path, args, needle):
    one_line_error(cli("separate", song, "-o", tmp_path, "--model", random_model, *args),
                   needle)
    assert not (tmp_path / "song").exists()


# Issue 28, defect 7: finite input gave garbage
def test_07_gain_bound_holds_in_python(random_model, song, tmp_path):
    from unetvocalsep.separator import Separator

    sep = Separator(random_model)
    for gain in (1000.0, float("nan"), 1e308):
        with pytest.raises(UserError, match="dB"):
            sep.separate_file(str(song), str(tmp_path), gain_db=gain)
    sep.separate_file(str(song), str(tmp_path), gain_db=100.0, progress=False)
    v, _ = sf.read(str(tmp_path / "song" / "vocals.wav"))
    assert np.isfinite(v).all()


# Issue 28, defect 14: the Python API hung on numbers the CLI refuses
def test_14_api_numbers_are_checked(random_model, song, tmp_path):
    from unetvocalsep.separator import Separator
    from unetvocalsep.streaming import LiveSeparator

    sep = Separator(random_model)
    y = np.zeros((2, 44100), np.float32) + 0.01
    for sr in (float("nan"), 0, -8000, 1e9, 44100.5, "44100", True):
        with pytest.raises(UserError, match="output rate"):
            sep.separate(y, 44100, out_sr=sr)
        with pytest.raises(UserError, match="output rate"):
            sep.separate_file(str(song), str(tmp_path), out_sr=sr)
    for hop in (0, -1, 1e-6, float("nan"), float("inf"), True):
        with pytest.raises(UserError, match="hop"):
            LiveSeparator(sep, sr=16000, channels=1, latency=0.5, hop=hop)
    for chunk in (1e308, float("inf")):
        with pytest.raises(UserError, match="seconds"):
            Separator(random_model, chunk_seconds=chunk)
    assert sep.separate(y, 44100, out_sr=22050.0)["vocals"].shape == (2, 22050)
