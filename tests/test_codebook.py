import hashlib

import numpy as np
import pytest

import tqa
from tqa.codebook import panter_dite_mse

# Max (1960), "Quantizing for minimum distortion", Table I: MSE of the optimum
# Gaussian quantizer for 2, 4, 8, 16, 32 levels.
MAX_1960 = {1: 0.3634, 2: 0.1175, 3: 0.03454, 4: 0.009497, 5: 0.002499}


@pytest.mark.parametrize("bits", sorted(MAX_1960))
def test_matches_max_1960(bits):
    assert tqa.lloyd_max(bits).mse == pytest.approx(MAX_1960[bits], rel=0.005)


@pytest.mark.parametrize("bits", [6, 7, 8])
def test_approaches_panter_dite(bits):
    ratio = tqa.lloyd_max(bits).mse / panter_dite_mse(bits)
    assert 0.96 < ratio < 1.0


def test_panter_dite_ratio_increases_to_one():
    ratios = [tqa.lloyd_max(b).mse / panter_dite_mse(b) for b in range(4, 9)]
    assert all(a < b for a, b in zip(ratios, ratios[1:]))


@pytest.mark.parametrize("bits", range(1, 9))
def test_is_a_lloyd_max_fixed_point(bits):
    """Centroids are conditional means of their cells; boundaries are midpoints."""
    cb = tqa.lloyd_max(bits)
    assert cb.centroids.size == 2**bits and cb.boundaries.size == 2**bits - 1
    assert np.all(np.diff(cb.centroids) > 0)
    np.testing.assert_allclose(cb.boundaries, 0.5 * (cb.centroids[1:] + cb.centroids[:-1]), atol=1e-7)
    np.testing.assert_array_equal(cb.centroids, -cb.centroids[::-1])
    # Monte Carlo check of the exact MSE
    x = np.random.default_rng(bits).standard_normal(400_000)
    q = cb.centroids[np.searchsorted(cb.boundaries, x)]
    assert np.mean((x - q) ** 2) == pytest.approx(cb.mse, rel=0.03)


def test_sign_refinement_gains_about_six_db():
    cb = tqa.lloyd_max(6)
    ref = cb.refined()
    assert cb.sqnr_db == pytest.approx(31.9, abs=0.05)
    assert ref.sqnr_db == pytest.approx(37.8, abs=0.05)
    # refined cell k is half (k & 1) of cell k >> 1
    np.testing.assert_array_equal(ref.boundaries[0::2], cb.centroids)
    np.testing.assert_array_equal(ref.boundaries[1::2], cb.boundaries)


@pytest.mark.parametrize("bits", [0, 9, 99, -1, 2.5, "6", True])
def test_bad_bits(bits):
    with pytest.raises(ValueError, match="bits"):
        tqa.lloyd_max(bits)


def test_tables_are_frozen():
    """The tables are part of the file format: their bytes must never drift."""
    h = hashlib.sha256()
    for b in range(1, 9):
        for cb in (tqa.lloyd_max(b), tqa.lloyd_max(b).refined()):
            h.update(cb.centroids.tobytes() + cb.boundaries.tobytes())
    assert h.hexdigest() == FROZEN_DIGEST


# sha256 of the v1 tables (centroids and boundaries, float64 little-endian, bits 1..8,
# plain then sign-refined).  Changing it breaks every existing .tqa file.
FROZEN_DIGEST = "7d79f44d347467e8e1c4842bc547ff34c14f30b15b0e75fcf380496772ff0117"


@pytest.mark.parametrize("bits", range(1, 9))
def test_shipped_lloyd_max_tables_equal_a_fresh_solve(bits):
    """tqa/_tables.py (tools/gen_tables.py) against the solver, bit for bit."""
    from tqa.codebook import solve

    for refined, shipped in ((False, tqa.lloyd_max(bits)), (True, tqa.lloyd_max(bits).refined())):
        fresh = solve(bits, refined)
        assert fresh.centroids.tobytes() == shipped.centroids.tobytes()
        assert fresh.boundaries.tobytes() == shipped.boundaries.tobytes()
        # the MSE is reported, never coded: its last bits follow NumPy's exp, whose SIMD path differs
        # by an ULP between CPUs (0.010106184489036343 vs ...399 at 4 bits on an EPYC without AVX-512)
        assert fresh.mse == pytest.approx(shipped.mse, rel=1e-13)


def test_shipped_companded_and_gain_tables_equal_a_fresh_solve():
    from tqa._tables import GAIN
    from tqa.codebook import companded, solve_companded

    mse = [1.0]
    for bits in range(1, 15):
        cb = tqa.lloyd_max(bits) if bits <= 8 else companded(bits)
        if bits > 8:
            fresh = solve_companded(bits)
            assert fresh.centroids.tobytes() == cb.centroids.tobytes() and fresh.boundaries.tobytes() == cb.boundaries.tobytes()
        mse.append(cb.mse)
    fresh_gain = np.log2(np.array(mse[:-1]) - np.array(mse[1:]))
    assert [float.fromhex(v) for v in GAIN] == fresh_gain.tolist()


def test_companded_and_gain_tables_are_frozen():
    from tqa._tables import GAIN
    from tqa.codebook import companded

    h = hashlib.sha256()
    for b in range(9, 15):
        cb = companded(b)
        h.update(cb.centroids.tobytes() + cb.boundaries.tobytes())
    assert h.hexdigest() == "75cd486fa931454fa1b35103c66e0c9838154a6dfb35981530ba1874fba95e08"
    assert hashlib.sha256(",".join(GAIN).encode()).hexdigest() == GAIN_DIGEST


def test_starting_the_codec_needs_no_solver():
    """Frozen tables: the time-domain profile imports no SciPy at all, the spectral one only
    scipy.fft (for its DCT-IV; scipy.fft itself pulls in scipy.special), never the solvers."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, tqa; tqa.decode(tqa.encode(np.zeros(3000), 8000, profile='time')); "
            "a = 'scipy' in sys.modules; "
            "tqa.decode(tqa.encode(np.zeros(3000), 8000, profile='spectral', rate=14.0)); "
            "print(a, 'scipy.optimize' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


GAIN_DIGEST = "4d46d9d97d48e06b33ce4d011e39275bdde045d6e60892364de17b21de159a84"
