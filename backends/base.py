"""The kernel interface every engine implements.

All arrays are 2-D, one block per row.  Inputs to :meth:`rotate` and :meth:`unrotate`
hold integers (in float64, |value| < 2**53), so every Hadamard sum is exact in any
summation order; :meth:`quantize` and :meth:`dequantize` are element-wise IEEE
operations (one correctly rounded division or multiplication, then an exact
comparison or round-half-even).  That is what makes engines bit-exact by
construction rather than by luck.
"""

from __future__ import annotations

from typing import Any

Array = Any


class Engine:
    """Hot kernels of the block codec. Subclasses override all four methods."""

    name = "base"

    def rotate(self, x: Array, signs: Array) -> Array:
        """``H · (signs * x)`` per row (unnormalized Walsh–Hadamard, Sylvester order)."""
        raise NotImplementedError

    def unrotate(self, y: Array, signs: Array) -> Array:
        """``signs * (H · y)`` per row; the codec divides by N afterwards."""
        raise NotImplementedError

    def quantize(self, y: Array, scale: Array, thresholds: Array) -> Array:
        """Cell index per element: the number of ``thresholds`` <= ``y / scale[row]``."""
        raise NotImplementedError

    def dequantize(self, codes: Array, scale: Array, levels: Array) -> Array:
        """``round_half_even(levels[codes] * scale[row])``: reconstruction on the integer grid."""
        raise NotImplementedError

    # Fused pipelines.  The defaults chain the kernels over the whole batch; an
    # engine may run them tile by tile instead (see backends/tiled.py).
    def analyze(self, x: Array, signs: Array, scale: Array, thresholds: Array, levels: Array):
        """``(y, codes, ŷ)`` = rotate, quantize, dequantize."""
        y = self.rotate(x, signs)
        codes = self.quantize(y, scale, thresholds)
        return y, codes, self.dequantize(codes, scale, levels)

    def synthesize(self, codes: Array, scale: Array, levels: Array, signs: Array) -> Array:
        """``unrotate(dequantize(codes))``: N times the decoded block."""
        return self.unrotate(self.dequantize(codes, scale, levels), signs)

    def __repr__(self) -> str:
        return f"<tqa engine {self.name!r}>"
