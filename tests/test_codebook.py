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
