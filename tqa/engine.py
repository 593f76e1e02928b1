"""The engine contract: the hot kernels of both profiles, and why every engine gives the same bits.

An engine implements four kernels on 2-D arrays, one block per row:

* :meth:`Engine.rotate` ``H · (signs * x)`` and :meth:`Engine.unrotate` ``signs * (H · y)``
  (unnormalized Walsh–Hadamard in Sylvester order; the codec divides by N);
* :meth:`Engine.quantize` – the number of thresholds ``<= y / scale[row]``;
* :meth:`Engine.dequantize` – ``round_half_even(levels[codes] * scale[row])``;

plus two fused pipelines with chained defaults (:meth:`Engine.analyze`,
:meth:`Engine.synthesize`) that an engine may run tile by tile.

Exactness.  Inputs to the rotations hold integers in float64 with ``|value| < 2**53``
once summed (the format's limits guarantee it: the grid stays below 2**27, blocks are at
most 2**13 samples, reconstructions are bounded by each profile's largest scale code), so
every Hadamard sum is exact in any order, with or without FMA or BLAS blocking.  Quantizing
is one correctly rounded division followed by exact comparisons, dequantizing one correctly
rounded multiplication followed by an exact rounding to the integer grid.  Engines may
therefore differ in algorithm (butterflies, matrix products, tiling, compiled loops) but
never in a bit: the conformance tests (tests/test_engines.py, tests/test_golden.py) check it.

Engines are registered by name in :mod:`tqa.registry`; the drivers never know which runs.
"""

from __future__ import annotations

import abc
from typing import Any

Array = Any

__all__ = ["Engine", "Array"]


class Engine(abc.ABC):
    """Hot kernels of the codecs; see the module docstring for the exactness contract."""

    name: str = "engine"

    @abc.abstractmethod
    def rotate(self, x: Array, signs: Array) -> Array:
        """``H · (signs * x)`` per row."""

    @abc.abstractmethod
    def unrotate(self, y: Array, signs: Array) -> Array:
        """``signs * (H · y)`` per row (N times the inverse rotation)."""

    @abc.abstractmethod
    def quantize(self, y: Array, scale: Array, thresholds: Array) -> Array:
        """Cell index per element: ``#{t in thresholds : t <= y / scale[row]}``."""

    @abc.abstractmethod
    def dequantize(self, codes: Array, scale: Array, levels: Array) -> Array:
        """``round_half_even(levels[codes] * scale[row])``: reconstruction on the integer grid."""

    def analyze(self, x: Array, signs: Array, scale: Array, thresholds: Array, levels: Array):
        """``(y, codes, ŷ)`` = rotate, quantize, dequantize."""
        y = self.rotate(x, signs)
        codes = self.quantize(y, scale, thresholds)
        return y, codes, self.dequantize(codes, scale, levels)

    def synthesize(self, codes: Array, scale: Array, levels: Array, signs: Array) -> Array:
        """``unrotate(dequantize(codes))``: N times the decoded blocks."""
        return self.unrotate(self.dequantize(codes, scale, levels), signs)

    def __repr__(self) -> str:
        return f"<tqa engine {self.name!r}>"
