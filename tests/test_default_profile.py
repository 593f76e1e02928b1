"""The default profile: spectral2 at 3.0 bits/sample for ``tqa encode`` / ``batch`` / ``tqa.encode`` /
``tqa.Encoder``; the time profile for ``tqa run``, ``tqa sim`` and audiotq's ``tqa-cli`` / ``tqa-sim``;
settings of one profile pick it (:func:`tqa.profiles.resolve`)."""

import io
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import tqa
from tqa import cli, profiles, signals
from tqa.profiles import settings as S

SR = 44100


def _music(n=3 * 4096, ch=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    x = 0.3 * np.sin(2 * np.pi * 220 * t)[:, None] + 0.05 * rng.normal(size=(n, ch))
    return (x.clip(-1, 1) * 32767).astype(np.int16)


def _cli(args, prog=cli.main):
    with pytest.raises(SystemExit) as e:
        prog([str(a) for a in args])
    return e.value.code


@pytest.fixture
def wav(tmp_path):
    p = tmp_path / "in.wav"
    sf.write(str(p), _music(), SR, subtype="PCM_16")
    return p


def test_the_defaults():
    assert profiles.DEFAULT == S.DEFAULT == "spectral2" and profiles.RUN_DEFAULT == S.RUN_DEFAULT == "time"
    assert S.SPECTRAL2_DEFAULT_RATE == 3.0


def test_resolve_rules():
    r = profiles.resolve
    assert r(None, {}, "spectral2") == "spectral2" and r(None, [], "time") == "time"
    assert r("spectral", {"bits": 4}, "spectral2") == "spectral"  # a named profile is never second-guessed
    assert r(None, {"bits": 4}, "spectral2") == "time"  # only the time profile takes bits
    assert r(None, ["residual", "block_size", "seed"], "spectral2") == "time"
    assert r(None, {"hop": 2048}, "spectral2") == "spectral2"  # spectral and spectral2 take it: the default does
    assert r(None, {"rate": 3.0, "seed": 1}, "spectral2") == "spectral2"
    assert r(None, {"seed": 1}, "time") == "time"
    assert r(None, {"tune": "perceptual"}, "time") == "spectral2"  # spectral2's alone
    # several take it and the default does not: the default, whose own check names them
    assert r(None, {"rate": 3.0}, "time") == "time"
    assert r(None, {"nonsense": 1}, "spectral2") == "spectral2"  # no profile's: the default's usual error
    with pytest.raises(TypeError, match=r"bits= \(time\), hop= \(spectral or spectral2\)"):
        r(None, {"bits": 4, "hop": 2048}, "spectral2")
    with pytest.raises(TypeError, match=r"frame_samples= \(time\), tune= \(spectral2\)"):
        r(None, {"frame_samples": 4096, "tune": "sqnr"}, "time")


def test_resolve_reads_the_settings_fields_not_a_list(monkeypatch):
    """A profile's new setting picks it with no list to update."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Extra(S.TimeSettings):
        wobble: int = 0

    monkeypatch.setitem(S.SETTINGS, "time", Extra)
    assert profiles.resolve(None, {"wobble": 1}, "spectral2") == "time"
    assert S.owners("wobble") == ["time"] and S.owners("hop") == ["spectral", "spectral2"]


def test_resolve_is_numpy_free():
    code = ("import sys; from tqa.profiles.settings import resolve; "
            "assert resolve(None, {'bits': 4}, 'spectral2') == 'time'; print('numpy' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_default_encode_is_spectral2_at_3_bits():
    x = _music()
    data = tqa.encode(x, SR)
    inf = tqa.info(data)
    assert inf["profile"] == "spectral2" and inf["rate"] == 3.0 and inf["quality"] is None
    assert data == tqa.encode(x, SR, profile="spectral2", rate=3.0)
    buf = io.BytesIO()
    with tqa.Encoder(buf, SR, 2, source_format="int16") as enc:
        enc.write(x)
    assert tqa.info(buf.getvalue())["profile"] == "spectral2" and buf.getvalue() == data
    # header_bytes (tqa batch's segment header) resolves the same way: the header's profile id byte
    assert tqa.stream.header_bytes(SR, 2, len(x))[5] == 2 and tqa.stream.header_bytes(SR, 2, len(x), bits=4)[5] == 0


def test_settings_pick_the_profile_in_the_api():
    x = _music()
    t = tqa.encode(x, SR, bits=4)
    assert tqa.info(t)["profile"] == "time" and tqa.info(t)["bits"] == 4
    assert t == tqa.encode(x, SR, profile="time", bits=4)
    assert tqa.info(tqa.encode(x, SR, hop=2048))["profile"] == "spectral2"
    assert tqa.info(tqa.encode(x, SR, quality=30.0))["profile"] == "spectral2"
    buf = io.BytesIO()
    with tqa.Encoder(buf, SR, 2, residual="none") as enc:
        enc.write(x)
    assert tqa.info(buf.getvalue())["profile"] == "time" and tqa.info(buf.getvalue())["residual"] == "none"
    with pytest.raises(TypeError, match=r"bits= \(time\), hop= \(spectral or spectral2\)"):
        tqa.encode(x, SR, bits=4, hop=2048)
    with pytest.raises(TypeError, match="profile 'spectral2' takes no setting nonsense"):
        tqa.encode(x, SR, nonsense=1)


def test_cli_encode_default_and_settings_that_pick(wav, tmp_path, capsys):
    assert _cli(["encode", wav, "-o", tmp_path / "d.tqa", "-q"]) == 0
    inf = tqa.info((tmp_path / "d.tqa").read_bytes())
    assert inf["profile"] == "spectral2" and inf["rate"] == 3.0
    assert _cli(["encode", wav, "-o", tmp_path / "s2.tqa", "--profile", "spectral2", "--rate", "3", "-q"]) == 0
    assert (tmp_path / "d.tqa").read_bytes() == (tmp_path / "s2.tqa").read_bytes()
    assert _cli(["encode", wav, "-o", tmp_path / "b.tqa", "--bits", "4", "-q"]) == 0
    assert _cli(["encode", wav, "-o", tmp_path / "t.tqa", "--profile", "time", "--bits", "4", "-q"]) == 0
    assert tqa.info((tmp_path / "b.tqa").read_bytes())["profile"] == "time"
    assert (tmp_path / "b.tqa").read_bytes() == (tmp_path / "t.tqa").read_bytes()
    assert _cli(["encode", wav, "-o", tmp_path / "h.tqa", "--hop", "2048", "-q"]) == 0
    assert tqa.info((tmp_path / "h.tqa").read_bytes())["hop"] == 2048
    capsys.readouterr()
    assert _cli(["encode", wav, "-o", tmp_path / "x.tqa", "--bits", "4", "--hop", "2048"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--bits (time)" in err and "--hop (spectral or spectral2)" in err, err
    assert "--profile" in err and not (tmp_path / "x.tqa").exists()


def test_help_names_each_commands_default(capsys):
    for cmd, default in (("encode", "spectral2"), ("batch", "spectral2"), ("run", "time"), ("sim", "time")):
        assert _cli([cmd, "--help"]) == 0
        out = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
        assert f"(default: {default}," in out, (cmd, out)
        assert cli.parser_for().commands[cmd].get_default("default_profile") == default
    assert _cli(["encode", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "MDCT hop (default: auto)" in out and "all included (spectral: every frame the same size) (default: 3.0)" in out


def test_run_and_the_legacy_commands_stay_on_the_time_profile(wav, tmp_path, capsys):
    """tqa run / tqa-cli run / tqa sim / tqa-sim: the audiotq 0.1.1 surface, byte for byte the time profile."""
    assert _cli(["encode", wav, "-o", tmp_path / "t.tqa", "--profile", "time", "-q"]) == 0
    ref = (tmp_path / "t.tqa").read_bytes()
    assert _cli(["run", wav, tmp_path / "o.wav", "--keep", tmp_path / "k.tqa", "-q"]) == 0
    assert (tmp_path / "k.tqa").read_bytes() == ref
    assert _cli(["run", "-i", wav, "-o", tmp_path / "o2.wav", "--json"], cli.legacy_cli) == 0
    rep = __import__("json").loads(capsys.readouterr().out)
    assert rep["profile"] == "time" and rep["tqa_bytes"] == len(ref) and rep["sqnr_db"] > 36
    args = ["--type", "square", "--frequency", "440", "--duration", "0.5", "--spikes", "5", "--json"]
    for prog, argv in ((cli.main, ["sim", *args]), (cli.legacy_sim, args)):
        assert _cli(argv, prog) == 0
        rep = __import__("json").loads(capsys.readouterr().out)
        x = signals.generate("square", 440.0, 0.5, 5, 0.1, 8000, block_size=512)
        assert rep["tqa_bytes"] == len(tqa.encode(x, 8000, profile="time"))
    assert tqa.info(tqa.encode(np.zeros(5000), 8000, profile=profiles.RUN_DEFAULT))["profile"] == "time"
    # settings another profile alone takes still pick it in tqa run
    assert _cli(["run", wav, tmp_path / "o3.wav", "--keep", tmp_path / "p.tqa", "--tune", "perceptual", "-q"]) == 0
    assert tqa.info((tmp_path / "p.tqa").read_bytes())["profile"] == "spectral2"
    capsys.readouterr()
    assert _cli(["run", wav, tmp_path / "o4.wav", "--rate", "3"]) == 2  # spectral's or spectral2's: name one
    assert "--rate applies to --profile spectral or spectral2, not --profile time" in capsys.readouterr().err


def test_demo_codes_with_the_default(tmp_path, capsys):
    assert _cli(["demo", "-o", tmp_path, "--json"]) == 0
    rep = __import__("json").loads(capsys.readouterr().out)
    assert rep["profile"] == "spectral2" and tqa.info((tmp_path / "demo.tqa").read_bytes())["rate"] == 3.0
    assert rep["bits_per_sample"] <= 3.0 and rep["sqnr_db"] > 20
