"""``"numpy"`` engine: array-API code (array-api-compat), vectorized butterflies.

Written against the array API standard only (``xp = array_namespace(x)`` then
``xp.*``), so the same kernels run on NumPy, ``array_api_strict`` and other
conforming libraries.  The fast Walsh–Hadamard transform is log2(N) butterfly
stages over the whole batch: a Python loop per stage, none per block or sample.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from .base import Array, Engine


def fwht(x: Array) -> Array:
    """Unnormalized Walsh–Hadamard transform of each row of a 2-D array."""
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


class ArrayAPIEngine(Engine):
    name = "numpy"

    def rotate(self, x: Array, signs: Array) -> Array:
        xp = array_namespace(x)
        return fwht(x * xp.asarray(signs, dtype=x.dtype))

    def unrotate(self, y: Array, signs: Array) -> Array:
        xp = array_namespace(y)
        return fwht(y) * xp.asarray(signs, dtype=y.dtype)

    def quantize(self, y: Array, scale: Array, thresholds: Array) -> Array:
        xp = array_namespace(y)
        u = y / xp.reshape(xp.asarray(scale, dtype=y.dtype), (-1, 1))
        return xp.searchsorted(xp.asarray(thresholds, dtype=y.dtype), u, side="right")

    def dequantize(self, codes: Array, scale: Array, levels: Array) -> Array:
        xp = array_namespace(codes)
        levels = xp.asarray(levels, dtype=xp.float64)
        flat = xp.take(levels, xp.reshape(codes, (-1,)), axis=0)
        vals = xp.reshape(flat, codes.shape) * xp.reshape(xp.asarray(scale, dtype=xp.float64), (-1, 1))
        return xp.round(vals)
