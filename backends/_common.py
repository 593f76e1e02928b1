"""Kernels shared by the engines: array-API Walsh–Hadamard butterflies, the exact lookup-table
quantizer, dequantization, and Kronecker-factored Hadamard products.

Each engine module composes these (see backends/numpy.py, scipy.py, tiled.py); they are
written so that every composition gives the same bits (tqa.engine).
"""

from __future__ import annotations

import functools

import numpy as np

from tqa.engine import Array, Engine

# NumPy >= 2.1 implements the array API (2023.12) in its main namespace.
_NUMPY_IS_XP = hasattr(np, "astype") and getattr(np, "__array_api_version__", "") >= "2023.12"


def array_namespace(*arrays: Array):
    """``array_api_compat.array_namespace``, short-cut for NumPy arrays.

    The general lookup costs ~20 µs a call, which the tiled engine pays per tile and
    per kernel, and importing array-api-compat's NumPy wrapper ~90 ms per process;
    for plain ndarrays on a NumPy that implements the standard, NumPy itself is the
    namespace.
    """
    if _NUMPY_IS_XP and all(type(a) is np.ndarray for a in arrays):
        return np
    from array_api_compat import array_namespace as namespace

    return namespace(*arrays)


def fwht(x: Array) -> Array:
    """Unnormalized Walsh–Hadamard transform of each row of a 2-D array (log2 N butterfly stages)."""
    xp = array_namespace(x)
    rows, n = x.shape
    h = 1
    y = x
    while h < n:
        y = xp.reshape(y, (rows, n // (2 * h), 2, h))
        a = y[:, :, 0, :]
        b = y[:, :, 1, :]
        y = xp.stack((a + b, a - b), axis=2)
        h *= 2
    return xp.reshape(y, (rows, n))


@functools.lru_cache(maxsize=32)
def cell_table(key: bytes) -> tuple[float, float, np.ndarray, np.ndarray]:
    """A lookup table that turns quantization into O(1) work per coefficient.

    The line [-R, R) is cut into cells of width 2**-q, at most half the smallest gap
    between thresholds, so each cell holds at most one threshold.  For cell j,
    ``base[j]`` counts the thresholds <= its left edge and ``above[j]`` is the first
    threshold beyond it (NaN if none).  ``u * 2**q`` and ``floor`` are exact, so the cell of ``u``
    is exact and ``base[j] + (u >= above[j])`` equals ``#{t <= u}`` – the
    searchsorted definition – for every float, not just nearly.
    """
    t = np.frombuffer(key, np.float64)
    r = 2.0 ** np.ceil(np.log2(np.max(np.abs(t)) + 1.0))
    q = float(np.ceil(-np.log2(np.min(np.diff(t)) / 2.0))) if t.size > 1 else 0.0
    cells = int(2 * r * 2.0**q)
    left = -r + np.arange(cells) * 2.0**-q
    base = np.searchsorted(t, left, side="right")
    above = np.append(t, np.nan)[base]  # no threshold above: NaN compares False, even with u = inf
    return float(r * 2.0**q), float(2.0**q), base.astype(np.int16), above


def quantize(y: Array, scale: Array, thresholds: Array) -> Array:
    """Cell indices by the lookup table (any array-API namespace)."""
    xp = array_namespace(y)
    offset, step, base, above = cell_table(np.asarray(thresholds, dtype=np.float64).tobytes())
    u = y / xp.reshape(xp.asarray(scale, dtype=y.dtype), (-1, 1))
    j = xp.clip(xp.floor(u * step) + offset, 0.0, float(base.shape[0] - 1))
    j = xp.reshape(xp.astype(j, xp.int64), (-1,))
    lo = xp.take(xp.asarray(base), j, axis=0)
    up = xp.take(xp.asarray(above, dtype=y.dtype), j, axis=0)
    codes = lo + xp.astype(xp.reshape(u, (-1,)) >= up, lo.dtype)
    return xp.reshape(codes, y.shape)


def dequantize(codes: Array, scale: Array, levels: Array) -> Array:
    """``round_half_even(levels[codes] * scale[row])`` (any array-API namespace)."""
    xp = array_namespace(codes)
    levels = xp.asarray(levels, dtype=xp.float64)
    flat = xp.take(levels, xp.astype(xp.reshape(codes, (-1,)), xp.int64), axis=0)  # torch takes int64 only
    vals = xp.reshape(flat, codes.shape) * xp.reshape(xp.asarray(scale, dtype=xp.float64), (-1, 1))
    return xp.round(vals)


@functools.lru_cache(maxsize=16)
def sylvester(n: int) -> np.ndarray:
    """The n×n Walsh–Hadamard matrix, H_2n = [[H, H], [H, -H]] (read-only)."""
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    h.flags.writeable = False
    return h


# Up to this N the signs are folded into one N×N matrix (one BLAS call); above it the
# Kronecker factorization is cheaper (N = 512: 1.7 ns/sample against 9.9, tools/bench_engines.py).
DIRECT_MAX = 64


class KronHadamard:
    """``H_N = H_a ⊗ H_b`` products: reshape each block to (a, b), multiply by ``H_b`` on the
    right and ``H_a`` on the left – a + b multiply-adds per sample instead of N.

    ``matrix(n)`` supplies the small factors (SciPy's ``hadamard`` or :func:`sylvester`).
    All products are of integers below 2**53, so BLAS blocking and FMA change no bit.
    """

    def __init__(self, matrix) -> None:
        self.matrix = matrix
        self._signed = functools.lru_cache(maxsize=16)(self._signed_uncached)

    def _signed_uncached(self, n: int, sign_bytes: bytes, left: bool) -> np.ndarray:
        s = np.frombuffer(sign_bytes, np.float64)
        h = self.matrix(n)
        return s[:, None] * h if left else h * s[None, :]

    def _kron(self, x: np.ndarray) -> np.ndarray:
        rows, n = x.shape
        a = 1 << ((n.bit_length() - 2) // 2)  # a <= b: the right product runs on long contiguous rows
        b = n // a
        t = x.reshape(rows * a, b) @ self.matrix(b)
        t = t.reshape(rows, a, b)
        return np.matmul(self.matrix(a), t).reshape(rows, n)

    def rotate(self, x: np.ndarray, signs: np.ndarray) -> np.ndarray:
        n = x.shape[1]
        if n <= DIRECT_MAX:
            return x @ self._signed(n, np.ascontiguousarray(signs, np.float64).tobytes(), True)
        return self._kron(x * signs)

    def unrotate(self, y: np.ndarray, signs: np.ndarray) -> np.ndarray:
        n = y.shape[1]
        if n <= DIRECT_MAX:
            return y @ self._signed(n, np.ascontiguousarray(signs, np.float64).tobytes(), False)
        return self._kron(y) * signs


class MatrixEngine(Engine):
    """An engine whose rotations are :class:`KronHadamard` products of ``matrix(n)`` factors and
    whose quantizer is the shared lookup table (the ``scipy`` and ``tiled`` engines)."""

    def __init__(self, matrix) -> None:
        self._h = KronHadamard(matrix)

    def rotate(self, x, signs):
        return self._h.rotate(x, signs)

    def unrotate(self, y, signs):
        return self._h.unrotate(y, signs)

    def quantize(self, y, scale, thresholds):
        return quantize(y, scale, thresholds)

    def dequantize(self, codes, scale, levels):
        return dequantize(codes, scale, levels)
