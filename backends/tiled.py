"""``"tiled"`` engine: the array-API kernels run tile by tile.

The butterfly FWHT makes log2(N) passes over its input; on a whole file that is
log2(N) trips through main memory.  Running each kernel on tiles of rows whose
working set fits in a core's L2 cache keeps those passes in cache.  Results are
written into one preallocated output, so peak memory does not grow with the tile
count.
"""

from __future__ import annotations

import numpy as np

from .array_api import ArrayAPIEngine

TILE_BYTES = 1 << 17  # 128 KiB of float64 input per tile: input, stack output and temporaries fit in L2


class TiledEngine(ArrayAPIEngine):
    name = "tiled"

    def __init__(self, tile_bytes: int = TILE_BYTES) -> None:
        self.tile_bytes = tile_bytes

    def _tiles(self, a: np.ndarray):
        step = max(1, self.tile_bytes // (a.shape[1] * 8))
        for lo in range(0, a.shape[0], step):
            yield slice(lo, lo + step)

    def _map(self, fn, a: np.ndarray, scale, table, dtype) -> np.ndarray:
        out = np.empty(a.shape, dtype=dtype)
        for t in self._tiles(a):
            out[t] = fn(a[t], table) if scale is None else fn(a[t], scale[t], table)
        return out

    def rotate(self, x, signs):
        return self._map(super().rotate, x, None, signs, np.float64)

    def unrotate(self, y, signs):
        return self._map(super().unrotate, y, None, signs, np.float64)

    def quantize(self, y, scale, thresholds):
        return self._map(super().quantize, y, scale, thresholds, np.intp)

    def dequantize(self, codes, scale, levels):
        return self._map(super().dequantize, codes, scale, levels, np.float64)
