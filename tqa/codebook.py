"""Lloyd–Max scalar quantizers for the standard normal density.

The quantizer is solved against the exact Gaussian density: the cell probabilities
and conditional means have closed forms (``Phi`` and ``phi``), so the Lloyd–Max
fixed point ``c = E[X | cell(c)]`` is found by a few Lloyd sweeps from the
Panter–Dite companding start and then a Newton-type root solve
(:func:`scipy.optimize.root`).  Lloyd on random samples, as audiotq 0.1.1 did, stalls
long before convergence at 6 bits and above.

The tables are part of the .tqa format, so they are *frozen*: every threshold and
reconstruction level is rounded to a multiple of ``2**-24``.  This makes them
independent of the last-ulp behaviour of ``erf`` on a given platform (a test pins
their digest) and costs nothing measurable (< 1e-12 relative MSE).

The solvers' output is shipped in ``tqa/_tables.py`` (written by
``tools/gen_tables.py``; tests/test_codebook.py re-solves every table and compares bit
for bit, and pins the digests), so that starting the codec needs neither the solver nor SciPy.
"""

from __future__ import annotations

import base64
import functools
import zlib
from dataclasses import dataclass

import numpy as np

from ._tables import COMPANDED, TABLES
from .profiles.settings import MAX_BITS

__all__ = ["Codebook", "lloyd_max", "MAX_BITS", "panter_dite_mse"]

MAX_COMPANDED = 14
_GRID = 2.0**-24
_SQRT_2PI = np.sqrt(2.0 * np.pi)


def _pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / _SQRT_2PI


def _cells(thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probability and conditional mean of N(0,1) in each cell cut by ``thresholds``."""
    from scipy.special import ndtr

    edges = np.concatenate(([-np.inf], thresholds, [np.inf]))
    prob = ndtr(edges[1:]) - ndtr(edges[:-1])
    dens = _pdf(edges)
    return prob, (dens[:-1] - dens[1:]) / prob


def _mse(thresholds: np.ndarray, levels: np.ndarray) -> float:
    """Exact MSE of reconstructing N(0,1) at ``levels`` with cells cut at ``thresholds``.

    E[(X-c)^2 | cell] = E[X^2 | cell] - 2c E[X | cell] + c^2, with
    E[X^2 1{a<X<b}] = P + a phi(a) - b phi(b).
    """
    from scipy.special import ndtr

    edges = np.concatenate(([-np.inf], thresholds, [np.inf]))
    prob = ndtr(edges[1:]) - ndtr(edges[:-1])
    dens = _pdf(edges)
    xphi = np.where(np.isfinite(edges), edges, 0.0) * dens  # x phi(x) -> 0 at +-inf
    m1 = dens[:-1] - dens[1:]
    m2 = prob + xphi[:-1] - xphi[1:]
    return float(np.sum(m2 - 2.0 * levels * m1 + levels * levels * prob))


@dataclass(frozen=True)
class Codebook:
    """A scalar quantizer for unit-variance Gaussian data.

    ``boundaries`` (length L-1, increasing) cut the line into L cells; ``centroids``
    (length L) are the reconstruction levels; ``mse`` is the exact mean squared error
    per unit variance.  ``bits`` is log2(L).
    """

    bits: int
    centroids: np.ndarray
    boundaries: np.ndarray
    mse: float

    @property
    def levels(self) -> int:
        return self.centroids.size

    @property
    def sqnr_db(self) -> float:
        """Nominal SQNR on Gaussian data, 10 log10(1/mse)."""
        return float(-10.0 * np.log10(self.mse))

    def refined(self) -> "Codebook":
        """The sign-refined codebook: each cell split at its centroid.

        This is the 1-bit "sign" residual layer: the extra bit says on which side of
        the centroid the value lies, and each half cell is reconstructed at its own
        conditional centroid (not at +- a block-mean magnitude).  Cell ``k`` of the
        result is half ``k & 1`` of cell ``k >> 1`` of ``self``.
        """
        return _refined(self.bits)


def _freeze(x: np.ndarray) -> np.ndarray:
    out = np.round(np.asarray(x, dtype=np.float64) / _GRID) * _GRID
    out.flags.writeable = False
    return out


def _solve(levels: int) -> np.ndarray:
    """Centroids of the L-level Lloyd–Max quantizer of N(0,1)."""
    from scipy import optimize
    from scipy.special import ndtri

    # Panter–Dite start: the optimum point density is proportional to pdf^(1/3),
    # i.e. the quantiles of N(0, 3).
    c = np.sqrt(3.0) * ndtri((np.arange(levels) + 0.5) / levels)
    for _ in range(50):  # a few Lloyd sweeps bring Newton into its basin
        c = _cells(0.5 * (c[1:] + c[:-1]))[1]

    def residual(c: np.ndarray) -> np.ndarray:
        return _cells(0.5 * (c[1:] + c[:-1]))[1] - c

    sol = optimize.root(residual, c, method="hybr", options={"xtol": 1e-15})
    c = np.sort(sol.x)
    c = 0.5 * (c - c[::-1])  # exact symmetry about zero
    if np.max(np.abs(residual(c))) > 1e-9:  # pragma: no cover - guards a solver regression
        raise RuntimeError(f"Lloyd–Max did not converge for {levels} levels")
    return c


def _check_bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"bits must be an integer from 1 to {MAX_BITS}, got {bits!r}")
    return int(bits)


def solve(bits: int, refined: bool = False) -> Codebook:
    """Solve the frozen ``bits``-bit table from scratch (SciPy; ~50 ms at 8 bits).

    ``refined``: the sign-refined table (each cell split at its centroid).
    """
    bits = _check_bits(bits)
    c = _solve(2**bits)
    b = _freeze(0.5 * (c[1:] + c[:-1]))
    c = _freeze(_cells(b)[1])
    if refined:
        cuts = np.empty(2 * c.size - 1)
        cuts[0::2], cuts[1::2] = c, b
        b = _freeze(cuts)
        c = _freeze(_cells(b)[1])
        bits += 1
    return Codebook(bits, c, b, _mse(b, c))


@functools.lru_cache(maxsize=None)
def _table(bits: int, refined: bool) -> Codebook:
    bounds, levels, mse = TABLES[bits, refined]
    as_array = lambda v: _freeze(np.array([float.fromhex(h) for h in v]))  # noqa: E731
    return Codebook(bits + refined, as_array(levels), as_array(bounds), mse)


def lloyd_max(bits: int) -> Codebook:
    """The MSE-optimal ``2**bits``-level quantizer for N(0,1), 1 <= bits <= 8 (cached)."""
    return _table(_check_bits(bits), False)


def _refined(bits: int) -> Codebook:
    return _table(bits, True)


def solve_companded(bits: int) -> Codebook:
    """Solve the ``2**bits``-level companded table (9 to 14 bits) from scratch (SciPy).

    Thresholds come from the Panter–Dite optimal compander (the CDF of N(0, 3)):
    ``t_j = sqrt(3)·Phi^-1(j / 2**bits)``; levels are the exact conditional means of
    their cells, so the MSE approaches the high-resolution optimum 2.72·4**-bits.
    Frozen to multiples of 2**-24 like the Lloyd–Max tables.
    """
    from scipy.special import ndtri

    if not 9 <= bits <= MAX_COMPANDED:
        raise ValueError(f"companded quantizers cover 9 to {MAX_COMPANDED} bits, got {bits!r}")
    b = _freeze(np.sqrt(3.0) * ndtri(np.arange(1, 2**bits) / 2**bits))
    c = _freeze(_cells(b)[1])
    return Codebook(bits, c, b, _mse(b, c))


def unpack_table(blob: str) -> np.ndarray:
    """A frozen table from its packed form: base64(zlib(int32 steps of 2**-24)), tools/gen_tables.py."""
    steps = np.frombuffer(zlib.decompress(base64.b64decode(blob)), "<i4").astype(np.int64)
    out = np.cumsum(steps) * _GRID
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=None)
def companded(bits: int) -> Codebook:
    """The frozen ``2**bits``-level companded quantizer for N(0,1), 9 to 14 bits (no SciPy)."""
    if isinstance(bits, bool) or bits not in COMPANDED:
        raise ValueError(f"companded quantizers cover 9 to {MAX_COMPANDED} bits, got {bits!r}")
    bounds, levels, mse = COMPANDED[bits]
    return Codebook(bits, unpack_table(levels), unpack_table(bounds), mse)


def quantizer(bits: int) -> Codebook:
    """The table for ``bits`` bits: Lloyd–Max up to 8, companded from 9 to 14 (all frozen)."""
    return lloyd_max(bits) if bits <= MAX_BITS else companded(bits)


def panter_dite_mse(bits: int) -> float:
    """High-resolution (Panter–Dite) approximation of the Gaussian Lloyd–Max MSE."""
    return float(np.pi * np.sqrt(3.0) / 2.0 * 4.0 ** (-bits))
