"""Song + instrumental pairs (training.pairs)."""
import pytest
from hardening import cli, one_line_error, song  # noqa: F401  (fixtures and helpers)


# Issue 28, defect 9: song == instrumental; NaN losses taken as a verdict
def test_09_own_instrumental_is_refused(song, tmp_path):
    from unetvocalsep.training.pairs import PairError, load_pair

    with pytest.raises(PairError, match="same audio"):
        load_pair(str(song), str(song))
    copy = tmp_path / "inst.wav"
    copy.write_bytes(song.read_bytes())
    one_line_error(cli("finetune", "--pair", song, copy, "-o", tmp_path / "ft"), "same audio")
    assert not (tmp_path / "ft" / "unet.npz").exists()
