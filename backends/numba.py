"""``"numba"`` engine: the block kernels compiled, one pass per block (optional extra ``tqa[fast]``).

Every kernel is the same IEEE arithmetic as the NumPy engine, so the bytes and
samples are identical by construction, not by tolerance:

* **rotate / unrotate**: an in-place fast Walsh–Hadamard transform per row.  Inputs
  are integers in float64 with every partial sum below 2**53, so each sum is exact
  and the order of the butterflies cannot change a bit.  Sign flips are exact.
* **quantize**: ``u = y / scale[row]`` (one correctly rounded division, as NumPy's),
  then the cell lookup of :func:`tqa.backends._common.cell_table` with the same
  operations: ``j = clip(floor(u * step) + offset, 0, cells - 1)``, ``base[j] +
  (u >= above[j])``, which equals ``#{t <= u}`` (``searchsorted(side="right")``).
* **dequantize**: ``levels[code] * scale[row]`` (one correctly rounded multiply) and
  ``rint`` (round half to even, as ``np.round``).
* **analyze / synthesize**: the three (two) kernels fused per row: a block's
  coefficients stay in L1 cache and every output is written once.

Compiled functions are cached on disk (``cache=True``, in ``__pycache__`` next to this
file or ``$NUMBA_CACHE_DIR``), so only the first process on a machine compiles.
Importing numba still costs ~0.25 s of CPU and the first calls in each process
~0.45 s more (numba's own start-up, which imports scipy.linalg, then loading the
cached machine code per signature): this engine pays only in long-lived processes
or very large calls (``tools/bench_engines.py --first-call``;
:func:`tqa.backends.compiled.pays_for`, the numba-free entry point with the factory).
Single-threaded by design (one core per process; parallelism comes from processes).

Kernel speed (one core, 512-sample blocks, 6 bits + sign, loaded 2-core machine):
analyze ~5 ns and synthesize ~2.2 ns per sample (344 and ~980 MB/s of int16 PCM),
against ~47 and ~66 ns for the tiled engine's NumPy/BLAS kernels.
"""

from __future__ import annotations

import numba
import numpy as np

from ._common import cell_table
from tqa.engine import Array, Engine

__all__ = ["NumbaEngine"]

_jit = numba.njit(cache=True, nogil=True, fastmath=False, boundscheck=False, error_model="numpy")


@_jit
def _fwht(out, r):
    """Unnormalized Walsh–Hadamard transform (Sylvester order) of row ``r`` of ``out``, in place.

    Radix-4 stages (and one radix-2 stage for odd log2 N).  Short rows index the 2-D
    array directly; long rows go through a (groups, 4, h) view of the row, whose inner
    loop over h contiguous elements vectorizes.
    """
    n = out.shape[1]
    h = 1
    if n <= 64:
        while 4 * h <= n:
            for a in range(0, n, 4 * h):
                for j in range(a, a + h):
                    p0, p1, p2, p3 = out[r, j], out[r, j + h], out[r, j + 2 * h], out[r, j + 3 * h]
                    s0, d0, s1, d1 = p0 + p1, p0 - p1, p2 + p3, p2 - p3
                    out[r, j], out[r, j + h], out[r, j + 2 * h], out[r, j + 3 * h] = s0 + s1, d0 + d1, s0 - s1, d0 - d1
            h *= 4
        if h < n:
            for a in range(0, n, 2 * h):
                for j in range(a, a + h):
                    p, q = out[r, j], out[r, j + h]
                    out[r, j], out[r, j + h] = p + q, p - q
        return
    v = out[r]
    while 4 * h <= n:
        w = v.reshape(n // (4 * h), 4, h)
        for a in range(n // (4 * h)):
            for j in range(h):
                p0, p1, p2, p3 = w[a, 0, j], w[a, 1, j], w[a, 2, j], w[a, 3, j]
                s0, d0, s1, d1 = p0 + p1, p0 - p1, p2 + p3, p2 - p3
                w[a, 0, j], w[a, 1, j], w[a, 2, j], w[a, 3, j] = s0 + s1, d0 + d1, s0 - s1, d0 - d1
        h *= 4
    if h < n:
        w = v.reshape(n // (2 * h), 2, h)
        for a in range(n // (2 * h)):
            for j in range(h):
                p, q = w[a, 0, j], w[a, 1, j]
                w[a, 0, j], w[a, 1, j] = p + q, p - q


@_jit
def _rotate(x, signs, out):
    rows, n = x.shape
    for r in range(rows):
        for k in range(n):
            out[r, k] = x[r, k] * signs[k]
        _fwht(out, r)


@_jit
def _unrotate(y, signs, out):
    rows, n = y.shape
    for r in range(rows):
        for k in range(n):
            out[r, k] = y[r, k]
        _fwht(out, r)
        for k in range(n):
            out[r, k] *= signs[k]


@_jit
def _quantize_row(y, r, s, offset, step, base, above, codes):
    """``codes[r] = #{t <= y[r] / s}`` by the cell table (see cell_table)."""
    n = y.shape[1]
    last = float(base.shape[0] - 1)
    for k in range(n):
        u = y[r, k] / s
        j = np.floor(u * step) + offset
        if j < 0.0:
            j = 0.0
        elif not j <= last:  # also NaN (not a valid input): the last cell, never out of the table
            j = last
        i = int(j)
        codes[r, k] = base[i] + (u >= above[i])


@_jit
def _dequantize_row(codes, r, s, levels, out):
    n = codes.shape[1]
    m = levels.shape[0]
    for k in range(n):
        c = codes[r, k]
        if c < 0 or c >= m:
            raise IndexError("code out of range of the reconstruction levels")
        out[r, k] = np.rint(levels[c] * s)


@_jit
def _quantize(y, scale, offset, step, base, above, out):
    for r in range(y.shape[0]):
        _quantize_row(y, r, scale[r], offset, step, base, above, out)


@_jit
def _dequantize(codes, scale, levels, out):
    for r in range(codes.shape[0]):
        _dequantize_row(codes, r, scale[r], levels, out)


@_jit
def _analyze(x, signs, scale, offset, step, base, above, levels, y, codes, yhat):
    rows, n = x.shape
    for r in range(rows):
        for k in range(n):
            y[r, k] = x[r, k] * signs[k]
        _fwht(y, r)
        _quantize_row(y, r, scale[r], offset, step, base, above, codes)
        _dequantize_row(codes, r, scale[r], levels, yhat)


@_jit
def _synthesize(codes, scale, levels, signs, out):
    rows, n = codes.shape
    for r in range(rows):
        _dequantize_row(codes, r, scale[r], levels, out)
        _fwht(out, r)
        for k in range(n):
            out[r, k] *= signs[k]


def _f64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _codes(a) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a if a.dtype in (np.int16, np.int32, np.int64, np.uint8, np.uint16) else a.astype(np.int64)


def _table(thresholds):
    offset, step, base, above = cell_table(np.ascontiguousarray(thresholds, dtype=np.float64).tobytes())
    return offset, step, base, above


class NumbaEngine(Engine):
    """The four kernels and the fused pipelines, compiled (NumPy arrays only)."""

    name = "numba"

    def rotate(self, x: Array, signs: Array) -> np.ndarray:
        x = _f64(x)
        out = np.empty(x.shape)
        _rotate(x, _f64(signs), out)
        return out

    def unrotate(self, y: Array, signs: Array) -> np.ndarray:
        y = _f64(y)
        out = np.empty(y.shape)
        _unrotate(y, _f64(signs), out)
        return out

    def quantize(self, y: Array, scale: Array, thresholds: Array) -> np.ndarray:
        y = _f64(y)
        offset, step, base, above = _table(thresholds)
        out = np.empty(y.shape, np.int16)
        _quantize(y, _f64(scale).reshape(-1), offset, step, base, above, out)
        return out

    def dequantize(self, codes: Array, scale: Array, levels: Array) -> np.ndarray:
        codes = _codes(codes)
        out = np.empty(codes.shape)
        _dequantize(codes, _f64(scale).reshape(-1), _f64(levels), out)
        return out

    def analyze(self, x, signs, scale, thresholds, levels):
        x = _f64(x)
        offset, step, base, above = _table(thresholds)
        y = np.empty(x.shape)
        codes = np.empty(x.shape, np.int16)
        yhat = np.empty(x.shape)
        _analyze(x, _f64(signs), _f64(scale).reshape(-1), offset, step, base, above, _f64(levels), y, codes, yhat)
        return y, codes, yhat

    def synthesize(self, codes, scale, levels, signs):
        codes = _codes(codes)
        out = np.empty(codes.shape)
        _synthesize(codes, _f64(scale).reshape(-1), _f64(levels), _f64(signs), out)
        return out
