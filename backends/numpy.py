"""``"numpy"`` engine: array-API code (array-api-compat), vectorized butterflies.

Written against the array API standard only (``xp = array_namespace(x)`` then ``xp.*``),
so the same kernels run on NumPy, ``array_api_strict``, torch and other conforming
libraries.  The Walsh–Hadamard transform is log2(N) butterfly stages over the whole batch:
a Python loop per stage, none per block or sample.
"""

from __future__ import annotations

from tqa.engine import Array, Engine

from ._common import array_namespace, dequantize, fwht, quantize


class NumpyEngine(Engine):
    name = "numpy"

    def rotate(self, x: Array, signs: Array) -> Array:
        xp = array_namespace(x)
        return fwht(x * xp.asarray(signs, dtype=x.dtype))

    def unrotate(self, y: Array, signs: Array) -> Array:
        xp = array_namespace(y)
        return fwht(y) * xp.asarray(signs, dtype=y.dtype)

    def quantize(self, y: Array, scale: Array, thresholds: Array) -> Array:
        return quantize(y, scale, thresholds)

    def dequantize(self, codes: Array, scale: Array, levels: Array) -> Array:
        return dequantize(codes, scale, levels)
