"""``"tiled"`` engine: the block pipeline fused and run tile by tile.

Encoding a batch is rotate → quantize → dequantize, each a pass over arrays as large as
the batch; on a long signal every pass streams through main memory.  This engine runs the
whole pipeline on one tile of blocks at a time – a tile's input, coefficients, codes and
reconstruction (about ``TILE_BYTES`` each) stay in the core's L2 cache – and writes results
into preallocated outputs.  The Hadamard products are the Kronecker-factored ones with the
small factors built by NumPy (Sylvester doubling), so this engine never imports SciPy –
which saves ~0.2 s at the start of every process.
"""

from __future__ import annotations

import numpy as np

from tqa.engine import Engine

from ._common import KronHadamard, dequantize, quantize, sylvester

TILE_BYTES = 1 << 18  # float64 bytes of one tile's input (tools/bench_engines.py --tiles)


class TiledEngine(Engine):
    name = "tiled"

    def __init__(self, tile_bytes: int = TILE_BYTES) -> None:
        self.tile_bytes = tile_bytes
        self._h = KronHadamard(sylvester)

    def rotate(self, x, signs):
        return self._h.rotate(x, signs)

    def unrotate(self, y, signs):
        return self._h.unrotate(y, signs)

    def quantize(self, y, scale, thresholds):
        return quantize(y, scale, thresholds)

    def dequantize(self, codes, scale, levels):
        return dequantize(codes, scale, levels)

    def _tiles(self, rows: int, n: int):
        step = max(1, self.tile_bytes // (n * 8))
        for lo in range(0, rows, step):
            yield slice(lo, lo + step)

    def analyze(self, x, signs, scale, thresholds, levels):
        y = np.empty(x.shape)
        codes = np.empty(x.shape, np.int16)
        yhat = np.empty(x.shape)
        for t in self._tiles(*x.shape):
            y[t] = self._h.rotate(x[t], signs)
            codes[t] = quantize(y[t], scale[t], thresholds)
            yhat[t] = dequantize(codes[t], scale[t], levels)
        return y, codes, yhat

    def synthesize(self, codes, scale, levels, signs):
        out = np.empty(codes.shape)
        for t in self._tiles(*codes.shape):
            out[t] = self._h.unrotate(dequantize(codes[t], scale[t], levels), signs)
        return out
