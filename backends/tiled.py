"""``"tiled"`` engine: the block pipeline fused and run tile by tile.

Encoding a batch is rotate → quantize → dequantize, each a pass over arrays as
large as the batch; on a long signal in one call every pass streams through main
memory.  This engine runs the whole pipeline on one tile of blocks at a time —
a tile's input, coefficients, codes and reconstruction (about ``TILE_BYTES`` each)
stay in the core's L2 cache — and writes results into preallocated outputs.  The
Hadamard products are the Kronecker-factored ones of ``backends/_common.py`` with the
small factors built by NumPy (Sylvester doubling), so this engine never imports SciPy –
which saves ~0.2 s at the start of every process.

Every step writes into its output or into tile-sized scratch arrays kept per thread
and reused across calls (``_Workspace``), with the NumPy engine's operations in the
same order (so the same bits): no temporaries as large as the batch, no copy-back
of tile results, and no fresh pages for the allocator to fault in on every chunk.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from ._common import DIRECT_MAX, MatrixEngine, cell_table, sylvester

TILE_BYTES = 1 << 18  # float64 bytes of one tile's input (tools/bench_engines.py --tiles)


def _prod(xs) -> int:
    p = 1
    for v in xs:
        p *= v
    return p


@functools.lru_cache(maxsize=None)
def _factors(n: int) -> tuple[int, ...]:
    """Sylvester factors of ``n = 2**k`` (k >= 7) for :meth:`TiledEngine._rotate_into`: eights, the
    remainder in the last one or two (16 or 16 x 16), e.g. 128 = 8·16, 512 = 8·8·8, 1024 = 8·8·16."""
    k = n.bit_length() - 1
    m, rem = divmod(k, 3)
    fs = [8] * m
    if rem == 1:
        fs[-1] = 16
    elif rem == 2:
        fs[-2:] = [16, 16]
    assert _prod(fs) == n
    return tuple(fs)


class _Workspace(threading.local):
    """Tile-sized scratch arrays, per thread (engines are shared singletons), reused across calls.

    Only temporaries live here; every array an engine method returns is fresh.
    """

    def get(self, name: str, size: int, dtype=np.float64) -> np.ndarray:
        buf = self.__dict__.get(name)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = np.empty(size, dtype)
            self.__dict__[name] = buf
        return buf[:size]


class TiledEngine(MatrixEngine):
    name = "tiled"

    def __init__(self, tile_bytes: int = TILE_BYTES) -> None:
        super().__init__(sylvester)
        self.tile_bytes = tile_bytes
        self._ws = _Workspace()

    def _tiles(self, rows: int, n: int):
        step = max(1, self.tile_bytes // (n * 8))
        for lo in range(0, rows, step):
            yield slice(lo, min(rows, lo + step))

    # -- kernels writing into given outputs (every temporary from the workspace) -------
    def _rotate_into(self, x: np.ndarray, signs: np.ndarray, out: np.ndarray, sign_first: bool) -> None:
        """``out = H·(signs*x)`` (sign_first) or ``signs*(H·x)`` for a tile; exact integer sums.

        ``H_n`` is the Kronecker product of small Sylvester factors (``_factors``: 8 x 8 x 8 for
        n = 512), applied one axis at a time: 24 multiply-adds a sample instead of 48 with two
        factors.  Every partial sum is an integer below 2**53, so any grouping gives the same bits.
        """
        r, n = x.shape
        if n <= DIRECT_MAX:
            m = self._h._signed(n, np.ascontiguousarray(signs, np.float64).tobytes(), sign_first)
            np.matmul(x, m, out=out)
            return
        bufs = (self._ws.get("rot1", r * n), self._ws.get("rot2", r * n))
        if sign_first:
            np.multiply(x, signs, out=bufs[0].reshape(r, n))
            cur = bufs[0]
        else:
            cur = x
        fs = _factors(n)
        for i in range(len(fs) - 1, -1, -1):  # the last axis first (a plain product), then outwards
            f, lead = fs[i], r * _prod(fs[:i])
            tail = n // (lead // r) // f
            dst = out if i == 0 else (bufs[1] if cur is bufs[0] else bufs[0])
            if tail == 1:
                np.matmul(cur.reshape(lead, f), sylvester(f), out=dst.reshape(lead, f))
            else:
                np.matmul(sylvester(f), cur.reshape(lead, f, tail), out=dst.reshape(lead, f, tail))
            cur = dst
        if not sign_first:
            out *= signs

    def _quantize_into(self, y: np.ndarray, scale: np.ndarray, table, out: np.ndarray) -> np.ndarray:
        """``out = #{t <= y/scale}`` by the cell table, the NumPy engine's operations in place; returns u."""
        offset, step, base, above = table
        size = y.size
        u = self._ws.get("u", size).reshape(y.shape)
        np.divide(y, scale.reshape(-1, 1), out=u)
        j = self._ws.get("j", size).reshape(y.shape)
        np.multiply(u, step, out=j)
        np.floor(j, out=j)
        j += offset
        np.maximum(j, 0.0, out=j)  # np.clip's values (no NaN here: y and scale are finite, scale > 0)
        np.minimum(j, float(base.shape[0] - 1), out=j)
        ji = self._ws.get("ji", size, np.intp).reshape(y.shape)
        np.copyto(ji, j, casting="unsafe")
        # the indices are in range (clipped above): mode="clip" is the same lookup without the
        # buffered copy that np.take makes of ``out`` in mode="raise"
        np.take(base, ji, out=out, mode="clip")
        up = self._ws.get("up", size).reshape(y.shape)
        np.take(above, ji, out=up, mode="clip")
        ge = self._ws.get("ge", size, np.bool_).reshape(y.shape)
        np.greater_equal(u, up, out=ge)
        out += ge
        return u

    def _dequantize_into(self, codes: np.ndarray, scale: np.ndarray, levels: np.ndarray, out: np.ndarray,
                         checked: bool = True) -> None:  # fmt: skip
        """``out = round_half_even(levels[codes] * scale)``; ``checked=False``: the codes are known to
        index ``levels`` (the quantizer's own), so the lookup skips np.take's bounds-checked copy."""
        if codes.dtype != np.intp:
            ci = self._ws.get("ci", codes.size, np.intp).reshape(codes.shape)
            np.copyto(ci, codes, casting="unsafe")
        else:
            ci = codes
        if checked and codes.size and 0 <= codes.min() and codes.max() < levels.shape[0]:
            checked = False  # two cheap reductions spare np.take's buffered copy in mode="raise"
        np.take(levels, ci, out=out, mode="raise" if checked else "clip")  # raise: IndexError for a code beyond the table
        out *= scale.reshape(-1, 1)
        np.round(out, out=out)

    # -- fused pipelines -----------------------------------------------------------------
    def analyze(self, x, signs, scale, thresholds, levels):
        x = np.ascontiguousarray(x, dtype=np.float64)
        scale = np.ascontiguousarray(scale, dtype=np.float64).reshape(-1)
        levels = np.ascontiguousarray(levels, dtype=np.float64)
        table = cell_table(np.asarray(thresholds, dtype=np.float64).tobytes())
        checked = levels.shape[0] <= np.size(thresholds)  # else every code (0..#thresholds) indexes levels
        y = np.empty(x.shape)
        codes = np.empty(x.shape, np.int16)
        yhat = np.empty(x.shape)
        for t in self._tiles(*x.shape):
            self._rotate_into(x[t], signs, y[t], True)
            self._quantize_into(y[t], scale[t], table, codes[t])
            self._dequantize_into(codes[t], scale[t], levels, yhat[t], checked)
        return y, codes, yhat

    def synthesize(self, codes, scale, levels, signs):
        codes = np.ascontiguousarray(codes)
        scale = np.ascontiguousarray(scale, dtype=np.float64).reshape(-1)
        levels = np.ascontiguousarray(levels, dtype=np.float64)
        out = np.empty(codes.shape)
        rows, n = codes.shape
        for t in self._tiles(rows, n):
            r = t.stop - t.start
            w = self._ws.get("deq", r * n).reshape(r, n)
            self._dequantize_into(codes[t], scale[t], levels, w)
            self._rotate_into(w, signs, out[t], False)
        return out
