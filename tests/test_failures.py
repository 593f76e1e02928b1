"""audiotq 0.1.1's failures, and the edge signals of a codec, asserting the fixed behaviour.

audiotq documented that a block equal to a Hadamard row times its signs collapses
to ~1.3 dB SQNR; it also dropped stereo to mono, wrote no file, could not decode in
a new process and ran pure-Python loops.  Each test here names one of those or an
edge case, on every engine and every setting.
"""

import numpy as np
import pytest

import tqa
from tqa.blockcodec import Settings
from tqa.signals import adversarial, hadamard_blocks

from conftest import block_sqnr

ENGINES = tqa.engines()
SETTINGS = [(b, r) for b in range(1, 9) for r in ("none", "sign", "qjl")]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("n", [64, 512])
@pytest.mark.parametrize("bits, residual", SETTINGS)
def test_edge_signals_every_block_within_3db(engine, n, bits, residual):
    nominal = Settings(n, bits, residual).nominal_sqnr_db
    sigs = adversarial(n)
    x = np.concatenate(list(sigs.values()))
    y, _ = tqa.decode(tqa.encode(x, 8000, bits=bits, residual=residual, block_size=n, engine=engine),
                      engine=engine, dtype="float64")  # fmt: skip
    assert y.shape == x.shape
    per_block, silent = block_sqnr(x, y, n)
    assert not silent.any(), "silent blocks must decode to exact zeros"
    worst = int(np.argmin(per_block))
    assert per_block[worst] > nominal - 3, f"block {worst}: {per_block[worst]:.1f} dB, nominal {nominal:.1f}"


def test_hadamard_row_no_longer_collapses():
    """audiotq: x = D·h_k fell to ~1.3 dB. Now every k is within 3 dB of nominal."""
    x = hadamard_blocks(512)
    for engine in ENGINES:
        y, _ = tqa.decode(tqa.encode(x, 8000, engine=engine, profile="time"), dtype="float64")
        per_block, _ = block_sqnr(x, y, 512)
        assert per_block.min() > Settings().nominal_sqnr_db - 3


def test_stereo_is_not_downmixed():
    """audiotq averaged channels; TQA codes each one."""
    rng = np.random.default_rng(0)
    left, right = rng.normal(0, 0.1, 8192), rng.normal(0, 0.1, 8192)
    y, _ = tqa.decode(tqa.encode(np.stack([left, -right], 1), 44100, profile="time"), dtype="float64")
    assert np.corrcoef(y[:, 0], left)[0, 1] > 0.999 and np.corrcoef(y[:, 1], -right)[0, 1] > 0.999


@pytest.mark.parametrize("n_samples", [0, 1, 511, 513, 1023, 1025])
@pytest.mark.parametrize("channels", [1, 32])
def test_lengths_and_channel_counts(n_samples, channels):
    x = np.random.default_rng(n_samples).normal(0, 0.1, (n_samples, channels)).astype(np.float32)
    for engine in ENGINES:
        y, sr = tqa.decode(tqa.encode(x, 8000, engine=engine, profile="time"), engine=engine)
        assert sr == 8000 and y.shape == ((n_samples,) if channels == 1 else (n_samples, channels))


@pytest.mark.parametrize("rate", [8000, 384000])
def test_sample_rates(rate):
    x = np.random.default_rng(0).normal(0, 0.1, (3000, 2))
    y, sr = tqa.decode(tqa.encode(x, rate, profile="time"))
    assert sr == rate and y.shape == x.shape


def test_most_negative_integers_survive():
    x16 = np.full((1024, 1), -32768, np.int16)
    x16[::3] = 32767
    y16, _ = tqa.decode(tqa.encode(x16, 8000, bits=8), dtype="int16")
    err = y16.astype(float) - x16[:, 0]
    assert y16.dtype == np.int16 and 10 * np.log10(np.sum(x16.astype(float) ** 2) / np.sum(err**2)) > 45
    x32 = np.full(1024, -(2**31), np.int32)
    y32, _ = tqa.decode(tqa.encode(x32, 8000, profile="time"), dtype="int32")
    err = y32.astype(float) + 2.0**31
    assert y32.min() == -(2**31) and 10 * np.log10(2.0**62 * 1024 / np.sum(err**2)) > 35


def test_clipping_and_headroom_are_kept():
    x = np.clip(np.random.default_rng(3).normal(0, 4, 8192), -15.9, 15.9)
    y, _ = tqa.decode(tqa.encode(x, 8000, profile="time"), dtype="float64")
    assert np.max(np.abs(y)) > 12  # not clipped to +-1
    per_block, _ = block_sqnr(x, y, 512)
    assert per_block.min() > Settings().nominal_sqnr_db - 3


def test_full_scale_square_dc_and_silence_exactness():
    x = np.r_[np.zeros(1024), np.full(1024, 1.0), np.tile([1.0] * 16 + [-1.0] * 16, 64), np.zeros(512)]
    for engine in ENGINES:
        y, _ = tqa.decode(tqa.encode(x, 8000, engine=engine, profile="time"), engine=engine, dtype="float64")
        assert not y[:1024].any() and not y[-512:].any()
        assert 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2)) > 35
