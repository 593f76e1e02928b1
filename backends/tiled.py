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


_ABOVE: dict = {}


def _above_scaled(above: np.ndarray, step: float) -> np.ndarray:
    """``above * step`` (exact: a power of two), cached per cell table (tables are cached too)."""
    key = (id(above), step)
    hit = _ABOVE.get(key)
    if hit is None or hit[0] is not above:
        hit = _ABOVE[key] = (above, above * step)
    return hit[1]


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
            # the last product goes to ``out``, or with the signs still to apply to scratch: ``out`` is
            # then written once (by the sign product) instead of written, read back and rewritten
            dst = out if i == 0 and sign_first else (bufs[1] if cur is bufs[0] else bufs[0])
            if tail == 1:
                np.matmul(cur.reshape(lead, f), sylvester(f), out=dst.reshape(lead, f))
            else:
                np.matmul(sylvester(f), cur.reshape(lead, f, tail), out=dst.reshape(lead, f, tail))
            cur = dst
        if not sign_first:
            np.multiply(cur.reshape(r, n), signs, out=out)

    def _quantize_into(self, y: np.ndarray, scale: np.ndarray, table, out: np.ndarray) -> None:
        """``out = #{t <= y/scale}`` by the cell table, for grid coefficients ``y`` (integers).

        ``v = y / (scale / step)`` is ``(y / scale) * step`` exactly (``step`` is a power of two
        and, with integer ``y`` and the codec's scales, no quotient is subnormal), and
        ``v >= above * step`` is ``y / scale >= above``: the NumPy engine's cell and comparison,
        in one division and one table of ``above * step``.
        """
        offset, step, base, above = table
        size = y.size
        v = self._ws.get("u", size).reshape(y.shape)
        sc = self._ws.get("sc", scale.size)
        np.divide(scale, step, out=sc)
        np.divide(y, sc.reshape(-1, 1), out=v)
        j = self._ws.get("j", size).reshape(y.shape)
        # clip(floor(v) + offset, 0, cells - 1) as floor(clip(v, -offset, cells - 1 - offset)) + offset:
        # the bounds are integers, so clipping before the floor is the same; floor writes the indices
        np.clip(v, -offset, float(base.shape[0] - 1) - offset, out=j)  # no NaN here: y, scale finite, scale > 0
        ji = self._ws.get("ji", size, np.intp).reshape(y.shape)
        np.floor(j, out=ji, casting="unsafe")
        ji += int(offset)
        # the indices are in range (clipped above): mode="clip" is the same lookup without the
        # buffered copy that np.take makes of ``out`` in mode="raise"
        np.take(base, ji, out=out, mode="clip")
        up = self._ws.get("up", size).reshape(y.shape)
        np.take(_above_scaled(above, step), ji, out=up, mode="clip")
        ge = self._ws.get("ge", size, np.bool_).reshape(y.shape)
        np.greater_equal(v, up, out=ge)
        out += ge

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

    def encode_blocks(self, x, signs, thresholds, levels, cuts, scales, bits, split, records):
        """:meth:`tqa.engine.Engine.encode_blocks` tile by tile: energies, rotation, quantization,
        reconstruction and error sums of a tile in its scratch arrays, the cell indices of the
        whole batch in one reused array, packed at the end straight into ``records``.

        The same operations as the default (``einsum`` sums row by row, the same lookups), so
        the same records, energies and error sums.
        """
        from tqa import bitpack

        x = np.ascontiguousarray(x, dtype=np.float64)
        rows, n = x.shape
        if not rows or n % 8 or not isinstance(records, np.ndarray):
            return super().encode_blocks(x, signs, thresholds, levels, cuts, scales, bits, split, records)
        signs = np.ascontiguousarray(signs, dtype=np.float64)
        levels = np.ascontiguousarray(levels, dtype=np.float64)
        cuts = np.asarray(cuts, dtype=np.float64)
        scales = np.asarray(scales, dtype=np.float64)
        table = cell_table(np.asarray(thresholds, dtype=np.float64).tobytes())
        checked = levels.shape[0] <= np.size(thresholds)  # else every code (0..#thresholds) indexes levels
        energy = np.einsum("ij,ij->i", x, x)
        k = np.searchsorted(cuts, np.sqrt(energy), side="right") + 1
        silent = energy == 0
        k[silent] = 0
        scale = scales[k]
        dsum = np.empty(rows)
        codes = self._ws.get("codes", rows * n, np.int16).reshape(rows, n)
        for t in self._tiles(rows, n):
            r = t.stop - t.start
            y = self._ws.get("y", r * n).reshape(r, n)
            yhat = self._ws.get("yhat", r * n).reshape(r, n)
            self._rotate_into(x[t], signs, y, True)
            self._quantize_into(y, scale[t], table, codes[t])
            self._dequantize_into(codes[t], scale[t], levels, yhat, checked)
            np.subtract(y, yhat, out=yhat)
            dsum[t] = np.einsum("ij,ij->i", yhat, yhat)
        if silent.any():
            codes[silent] = 0
        side = (k | np.where(silent, 0, 1 << 12)).astype("<u2")
        records[:, 0:2] = side.view(np.uint8).reshape(-1, 2)
        cb = n * bits // 8
        if split:
            main = self._ws.get("main", rows * n, np.int16).reshape(rows, n)
            np.right_shift(codes, 1, out=main)
            bitpack.pack(main, bits, out=records[:, 2 : 2 + cb])
            np.bitwise_and(codes, 1, out=main)
            bitpack.pack(main, 1, out=records[:, 2 + cb :])
        else:
            bitpack.pack(codes, bits, out=records[:, 2 : 2 + cb])
        return energy, dsum

    def decode_blocks(self, records, scale, levels, signs, bits, split, out, mode=None, fallback=None):
        """:meth:`tqa.engine.Engine.decode_blocks` tile by tile: a tile's codes unpacked, dequantized
        and unrotated in scratch arrays, the ``1/N`` folded into the signs (``s/N`` is a power of
        two: ``v·(s/N) == (s·v)/N`` exactly); rows of modes 2 and 3 redone as the default does."""
        from tqa import bitpack

        rows, n = out.shape
        levels = np.ascontiguousarray(levels, dtype=np.float64)
        if (not rows or n % 8 or not isinstance(records, np.ndarray) or not isinstance(out, np.ndarray)
                or bits + bool(split) > 8 or levels.shape[0] < 1 << (bits + bool(split)) or not out.flags.c_contiguous):  # fmt: skip
            return super().decode_blocks(records, scale, levels, signs, bits, split, out, mode, fallback)
        scale = np.ascontiguousarray(scale, dtype=np.float64).reshape(-1)
        sn = np.ascontiguousarray(signs, dtype=np.float64) / float(n)
        cb = n * bits // 8
        codes = self._ws.get("c8", rows * n, np.uint8).reshape(rows, n)  # the whole batch's: fewer calls
        bitpack.unpack(records[:, 2 : 2 + cb], bits, n, out=codes)
        if split:
            codes <<= 1
            codes |= np.unpackbits(records[:, 2 + cb :], axis=1, count=n)
        for t in self._tiles(rows, n):
            r = t.stop - t.start
            c = codes[t]
            ci = self._ws.get("ci", r * n, np.intp).reshape(r, n)
            np.copyto(ci, c, casting="unsafe")
            w = self._ws.get("deq", r * n).reshape(r, n)
            # every code indexes ``levels`` (checked above): the lookup without the bounds-checked copy
            np.take(levels, ci, out=w, mode="clip")
            w *= scale[t].reshape(-1, 1)
            np.round(w, out=w)
            self._rotate_into(w, sn, out[t], False)
        if mode is not None:  # the few rows of modes 2 and 3 again, from the codes above
            mode = np.asarray(mode)
            for m in (2, 3):
                sel = np.flatnonzero(mode == m)
                if sel.size:
                    w = np.take(levels, codes[sel].astype(np.intp), mode="clip")
                    w *= scale[sel].reshape(-1, 1)
                    np.round(w, out=w)
                    if m == 2:
                        o = np.empty_like(w)
                        self._rotate_into(w, np.ascontiguousarray(fallback, dtype=np.float64) / float(n), o, False)
                        out[sel] = o
                    else:
                        w /= float(n)
                        out[sel] = w
        return out

    def from_grid(self, g, dtype, out=None):
        """:func:`tqa.samples.from_grid`, int16 output a slice of samples at a time: the scaled values
        stay in a cache-sized scratch array, clipped there and rounded straight into the output
        (``rint(clip(v)) == clip(rint(v))`` for integer bounds), one pass fewer and no
        chunk-sized temporary.  Other outputs: the reference."""
        if dtype != "int16" or not isinstance(g, np.ndarray) or g.ndim != 2 or g.dtype != np.float64:
            return super().from_grid(g, dtype, out)
        n, c = g.shape
        if out is None:
            out = np.empty((n, c), np.int16)
        step = max(1, (self.tile_bytes // 8) // max(1, c))
        if g.T.flags.c_contiguous and c > 1:  # the decoders' transposed views: read in the buffer's order
            src, dst = g.T, out.T  # contiguous reads and arithmetic, strided int16 writes (the cheapest side)
            for lo in range(0, n, step):
                hi = min(n, lo + step)
                t = self._ws.get("fg", (hi - lo) * c).reshape(c, hi - lo)
                np.multiply(src[:, lo:hi], 1.0 / 256.0, out=t)
                np.clip(t, -32768.0, 32767.0, out=t)
                np.rint(t, out=dst[:, lo:hi], casting="unsafe")
            return out
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            t = self._ws.get("fg", (hi - lo) * c).reshape(hi - lo, c)
            np.multiply(g[lo:hi], 1.0 / 256.0, out=t)
            np.clip(t, -32768.0, 32767.0, out=t)
            np.rint(t, out=out[lo:hi], casting="unsafe")
        return out
