"""``"tiled"`` engine: the block pipeline fused and run tile by tile.

Encoding a batch is rotate → quantize → dequantize, each a pass over arrays as
large as the batch; on a long signal in one call every pass streams through main
memory.  This engine runs the whole pipeline on one tile of blocks at a time —
a tile's input, coefficients, codes and reconstruction (about ``TILE_BYTES`` each)
stay in the core's L2 cache — and writes results into preallocated outputs.  The
kernels are the SciPy engine's Kronecker-factored Hadamard products, with the small
Hadamard factors built by NumPy (Sylvester doubling), so this engine does not
import SciPy – which saves ~0.2 s at the start of every process.
"""

from __future__ import annotations

import functools

import numpy as np

from .scipy_matmul import ScipyEngine

TILE_BYTES = 1 << 18  # float64 bytes of one tile's input (tools/bench_engines.py --tiles)


@functools.lru_cache(maxsize=16)
def sylvester(n: int) -> np.ndarray:
    """The n×n Walsh–Hadamard matrix, H_2n = [[H, H], [H, -H]]."""
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    h.flags.writeable = False
    return h


class TiledEngine(ScipyEngine):
    name = "tiled"

    def __init__(self, tile_bytes: int = TILE_BYTES) -> None:
        self.tile_bytes = tile_bytes

    @staticmethod
    def _matrix(n: int) -> np.ndarray:
        return sylvester(n)

    def _tiles(self, rows: int, n: int):
        step = max(1, self.tile_bytes // (n * 8))
        for lo in range(0, rows, step):
            yield slice(lo, lo + step)

    def analyze(self, x, signs, scale, thresholds, levels):
        y = np.empty(x.shape)
        codes = np.empty(x.shape, np.int16)
        yhat = np.empty(x.shape)
        for t in self._tiles(*x.shape):
            y[t], codes[t], yhat[t] = super().analyze(x[t], signs, scale[t], thresholds, levels)
        return y, codes, yhat

    def synthesize(self, codes, scale, levels, signs):
        out = np.empty(codes.shape)
        for t in self._tiles(*codes.shape):
            out[t] = super().synthesize(codes[t], scale[t], levels, signs)
        return out
