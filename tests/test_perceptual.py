"""tqa.perceptual (Zimtohrli, ViSQOL), compare's report of them, and metrics' NumPy STFT.

Short signals only: Zimtohrli on 0.5 s, ViSQOL on 1.2 s (its minimum is ~0.96 s).
"""

import builtins
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from tqa import cli, metrics, perceptual


def music(n, sr, seed=0):
    """A few decaying partials with vibrato and a little noise: something with a spectrum and attacks."""
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)
    x = sum(a * np.sin(2 * np.pi * f * t + 0.3 * np.sin(2 * np.pi * 5 * t)) for a, f in ((0.3, 220), (0.15, 660), (0.08, 1870)))
    x = x * (0.6 + 0.4 * np.abs(np.sin(2 * np.pi * 2 * t))) + 0.01 * rng.standard_normal(n)
    return x


def noisy(x, level, seed=1):
    return x + level * np.random.default_rng(seed).standard_normal(x.shape)


# -- metrics.log_spectral_distance_db without scipy.signal ----------------------------------------
@pytest.mark.parametrize("n", [16, 17, 1000, 2047, 2048, 2049, 44100 + 7])
def test_numpy_stft_matches_scipy(n):
    signal = pytest.importorskip("scipy.signal")
    x = np.random.default_rng(n).standard_normal(n)
    nper = min(2048, max(16, n))
    _, _, ref = signal.stft(x, 1000, nperseg=nper)
    np.testing.assert_allclose(metrics._stft_power(x, nper), np.abs(ref) ** 2, rtol=1e-9, atol=1e-18)


def _lsd_scipy(ref, test, sr):
    from scipy import signal

    r, t = metrics._2d(ref), metrics._2d(test)
    nper = min(2048, max(16, r.shape[0]))
    _, _, pr = signal.stft(r.mean(axis=1), sr, nperseg=nper)
    _, _, pt = signal.stft(t.mean(axis=1), sr, nperseg=nper)
    d = 10 * np.log10((np.abs(pr) ** 2 + 1e-12) / (np.abs(pt) ** 2 + 1e-12))
    return float(np.mean(np.sqrt(np.mean(d**2, axis=0))))


@pytest.mark.parametrize("n, ch", [(20, 1), (3000, 2), (44100, 2)])
def test_log_spectral_distance_same_as_scipy(n, ch):
    pytest.importorskip("scipy.signal")
    x = music(n, 44100)[:, None] * np.ones(ch)
    for level in (1e-4, 1e-2, 0.3):
        y = noisy(x, level)
        assert abs(metrics.log_spectral_distance_db(x, y, 44100) - _lsd_scipy(x, y, 44100)) < 0.01


def _modules_after(code):
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return set(out.split())


def test_imports_stay_light(tmp_path):
    mods = _modules_after("import tqa.metrics, tqa.perceptual")
    assert not {"scipy.signal", "zimtohrli", "visqol"} & mods
    a = tmp_path / "a.wav"
    sf.write(str(a), music(4410, 44100), 44100, subtype="PCM_16")
    mods = _modules_after(f"from tqa import cli\ntry: cli.main(['compare', {str(a)!r}, {str(a)!r}, '--no-perceptual', '-q'])\n"
                          "except SystemExit: pass")  # fmt: skip
    assert "scipy.signal" not in mods and "tqa.metrics" in mods


# -- the metrics themselves -----------------------------------------------------------------------
def test_zimtohrli_ranks():
    pytest.importorskip("zimtohrli")
    x = music(24000, 48000)
    clean, small, big = (perceptual.zimtohrli_distance(x, y, 48000) for y in (x.copy(), noisy(x, 1e-3), noisy(x, 3e-2)))
    assert clean == 0 and 0 < small < big


def test_zimtohrli_resamples_and_takes_worst_channel():
    pytest.importorskip("zimtohrli")
    x = music(22050, 44100)
    st = np.stack([x, x], axis=1)
    y = np.stack([noisy(x, 1e-3), noisy(x, 3e-2)], axis=1)
    d = perceptual.zimtohrli_distance(st, y, 44100)
    assert d == pytest.approx(perceptual.zimtohrli_distance(x, y[:, 1], 44100))
    assert d > perceptual.zimtohrli_distance(x, y[:, 0], 44100)


def test_visqol_ranks():
    pytest.importorskip("visqol")
    x = music(int(1.2 * 48000), 48000)
    clean, small, big = (perceptual.visqol_mos(x, y, 48000) for y in (x.copy(), noisy(x, 3e-3), noisy(x, 5e-2)))
    assert 1 <= big < small < clean <= 5


def test_to_48k():
    pytest.importorskip("scipy.signal")
    x = np.sin(2 * np.pi * 1000 * np.arange(44100) / 44100)
    y = perceptual.to_48k(x, 44100)
    assert y.shape == (48000, 1)
    ref = np.sin(2 * np.pi * 1000 * np.arange(48000) / 48000)
    assert np.max(np.abs(y[1000:-1000, 0] - ref[1000:-1000])) < 1e-3
    assert perceptual.to_48k(ref, 48000).shape == (48000, 1)


def test_too_short_is_a_clear_error():
    # checked before the libraries are touched: Zimtohrli's C++ corrupts its heap below ~4000 samples
    x = music(4000, 48000)
    with pytest.raises(perceptual.TooShort, match=r"Zimtohrli needs at least 0.1 s of audio; got 0.083 s"):
        perceptual.zimtohrli_distance(x, x, 48000)
    with pytest.raises(perceptual.TooShort, match=r"ViSQOL needs at least 1 s of audio; got 0.083 s"):
        perceptual.visqol_mos(x, x, 48000)
    with pytest.raises(ValueError, match="channel counts differ"):
        perceptual.zimtohrli_distance(x, np.stack([x, x], 1), 48000)
    m = perceptual.measure(x, x, 48000)
    assert m["zimtohrli_distance"] is None and m["visqol_mos_lqo"] is None
    assert perceptual.HINT in m["perceptual_notes"] or any("needs at least" in n for n in m["perceptual_notes"])


# -- tqa compare ----------------------------------------------------------------------------------
@pytest.fixture
def pair(tmp_path):
    x = music(int(1.1 * 44100), 44100)
    a, b, s = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "short.wav"
    sf.write(str(a), x, 44100, subtype="PCM_16")
    sf.write(str(b), noisy(x, 1e-2), 44100, subtype="PCM_16")
    sf.write(str(s), x[:22050], 44100, subtype="PCM_16")
    return a, b, s


def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as e:
        cli.main([str(v) for v in args])
    out, err = capsys.readouterr()
    assert e.value.code == 0, err
    return out


def strict(text):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))


def test_compare_reports_perceptual(pair, capsys):
    pytest.importorskip("zimtohrli")
    pytest.importorskip("visqol")
    a, b, s = pair
    text = run_cli(capsys, "compare", a, b)
    assert "Zimtohrli" in text and "lower is better" in text and "MOS-LQO" in text and "1..5" in text
    assert perceptual.HINT not in text
    m = strict(run_cli(capsys, "compare", a, b, "--json"))
    assert m["zimtohrli_distance"] > 0 and 1 <= m["visqol_mos_lqo"] <= 5 and m["perceptual_notes"] == []
    m = strict(run_cli(capsys, "compare", a, s, "--json"))  # 0.5 s: Zimtohrli yes, ViSQOL too short -> null
    assert m["zimtohrli_distance"] == 0 and m["visqol_mos_lqo"] is None
    assert any("ViSQOL needs at least 1 s" in n for n in m["perceptual_notes"])
    assert "undefined (ViSQOL needs at least 1 s" in run_cli(capsys, "compare", a, s)
    m = strict(run_cli(capsys, "compare", a, b, "--json", "--no-perceptual"))
    assert m["zimtohrli_distance"] is None and m["visqol_mos_lqo"] is None
    assert "Zimtohrli" not in run_cli(capsys, "compare", a, b, "--no-perceptual")


def test_compare_hint_without_the_extra(pair, capsys, monkeypatch):
    real = builtins.__import__

    def no_perceptual(name, *args, **kw):
        if name.split(".")[0] in ("zimtohrli", "visqol", "_pyohrli"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_perceptual)
    for mod in [m for m in sys.modules if m.split(".")[0] in ("zimtohrli", "visqol", "_pyohrli")]:
        monkeypatch.delitem(sys.modules, mod)
    assert perceptual.available() == []
    a, b, _ = pair
    text = run_cli(capsys, "compare", a, b)
    hint = [line for line in text.splitlines() if perceptual.HINT in line]
    assert len(hint) == 1 and hint[0].startswith("perceptual") and "Zimtohrli " not in text.replace(perceptual.HINT, "")
    m = strict(run_cli(capsys, "compare", a, b, "--json"))
    assert m["zimtohrli_distance"] is None and m["visqol_mos_lqo"] is None and perceptual.HINT in m["perceptual_notes"]
    with pytest.raises(perceptual.PerceptualUnavailable, match=r"tqa\[perceptual\]"):
        perceptual.zimtohrli_distance(np.zeros(48000), np.zeros(48000), 48000)
