"""``"numba"`` engine: the block kernels compiled, one pass per block (optional extra ``tqa[fast]``).

Every kernel is the same IEEE arithmetic as the NumPy engine, so the bytes and
samples are identical by construction, not by tolerance:

* **rotate / unrotate**: an in-place fast Walsh–Hadamard transform per row, the radix-2
  butterflies of the NumPy engine in its order (an 8-point stage in registers, then
  radix-4 stages over contiguous slices).  Inputs are integers in float64 with every
  partial sum below 2**53, so each sum is exact; the order keeps even signed zeros equal.
* **quantize**: ``u = y / scale[row]`` (one correctly rounded division, as NumPy's),
  then the cell lookup of :func:`tqa.backends._common.cell_table` with the same
  operations: ``j = clip(floor(u * step) + offset, 0, cells - 1)``, ``base[j] +
  (u >= above[j])``, which equals ``#{t <= u}`` (``searchsorted(side="right")``).
* **dequantize**: ``levels[code] * scale[row]`` (one correctly rounded multiply) and
  ``rint`` (round half to even, as ``np.round``).
* **analyze / synthesize**: the three (two) kernels fused per row: a block's
  coefficients stay in L1 cache and every output is written once.
* **encode_blocks / decode_blocks** (:class:`tqa.engine.Engine`): the time profile's whole
  primary path per block – sum of squares, 12-bit scale code (a binary search of the
  same cuts), rotation, quantization, squared error, record packing (6 bits + sign in one
  pass); unpacking, reconstruction and the inverse rotation of every mode.  The sums run
  in four partial sums: integers below 2**53 sum exactly in any order, so they equal
  NumPy's ``einsum`` – and a row whose sum reaches 2**53 (float input near the headroom;
  never int16) is handed to the reference implementation.
* **try_modes**: the first retry of hard blocks (other modes at the nominal scale), with
  the driver's ``einsum`` sums of the coefficients; rows whose squared error reaches
  2**53 are left to the driver.
* **to_grid / from_grid**: :mod:`tqa.samples`' arithmetic in one loop, written in place.

Compiled functions are cached on disk (``cache=True``, in ``__pycache__`` next to this
file or ``$NUMBA_CACHE_DIR``), so only the first process on a machine compiles.
Importing numba still costs ~0.25 s of CPU and the first calls in each process
~0.45 s more (numba's own start-up, which imports scipy.linalg, then loading the
cached machine code per signature): this engine pays only in long-lived processes
or very large calls (``tools/bench_engines.py --first-call``;
:func:`tqa.backends.compiled.pays_for`, the numba-free entry point with the factory).
Single-threaded by design (one core per process; parallelism comes from processes).

Speed (``python tools/bench_engines.py --music --seconds 300 --blocks 512 --engines tiled,numba
--repeat 5``: whole tqa.encode / tqa.decode calls, 5 minutes of corpus music, stereo int16,
6 bits + sign, CPU time of one core on the loaded 2-core development machine): encode 341 MB/s,
decode 533 MB/s of int16 PCM, against the tiled engine's 89 and 128 (runs at load averages
5-7 printed 229-315 and 213-309, tiled 67-84 and 80-117).
"""

from __future__ import annotations

import numba
import numpy as np

from ._common import cell_table
from tqa.engine import Array, Engine

__all__ = ["NumbaEngine"]

_jit = numba.njit(cache=True, nogil=True, fastmath=False, boundscheck=False, error_model="numpy")


@_jit
def _fwht1(v):
    """Unnormalized Walsh–Hadamard transform (Sylvester order) of the contiguous 1-D ``v``, in place.

    The radix-2 butterflies ``(a + b, a - b)`` of NumPy's engine in the same ascending
    order of strides h = 1, 2, 4, ..., so even the signs of exact zeros agree: an
    8-point stage (h = 1, 2, 4 on each group of 8, in registers), then radix-4 stages
    (h, 2h) over four contiguous slices whose inner loop vectorizes, then one radix-2
    stage for the last odd power of two.
    """
    n = v.shape[0]
    h = 1
    if n >= 8:
        for a in range(0, n, 8):
            x0, x1, x2, x3, x4, x5, x6, x7 = v[a], v[a + 1], v[a + 2], v[a + 3], v[a + 4], v[a + 5], v[a + 6], v[a + 7]
            a0, a1, a2, a3 = x0 + x1, x0 - x1, x2 + x3, x2 - x3
            a4, a5, a6, a7 = x4 + x5, x4 - x5, x6 + x7, x6 - x7
            b0, b1, b2, b3 = a0 + a2, a1 + a3, a0 - a2, a1 - a3
            b4, b5, b6, b7 = a4 + a6, a5 + a7, a4 - a6, a5 - a7
            v[a], v[a + 1], v[a + 2], v[a + 3] = b0 + b4, b1 + b5, b2 + b6, b3 + b7
            v[a + 4], v[a + 5], v[a + 6], v[a + 7] = b0 - b4, b1 - b5, b2 - b6, b3 - b7
        h = 8
    while 4 * h <= n:
        for a in range(0, n, 4 * h):
            q0 = v[a : a + h]
            q1 = v[a + h : a + 2 * h]
            q2 = v[a + 2 * h : a + 3 * h]
            q3 = v[a + 3 * h : a + 4 * h]
            for j in range(h):
                p0, p1, p2, p3 = q0[j], q1[j], q2[j], q3[j]
                s0, d0, s1, d1 = p0 + p1, p0 - p1, p2 + p3, p2 - p3
                q0[j], q1[j], q2[j], q3[j] = s0 + s1, d0 + d1, s0 - s1, d0 - d1
        h *= 4
    while h < n:  # once at most (n < 8: up to twice)
        for a in range(0, n, 2 * h):
            q0 = v[a : a + h]
            q1 = v[a + h : a + 2 * h]
            for j in range(h):
                p, q = q0[j], q1[j]
                q0[j], q1[j] = p + q, p - q
        h *= 2


@_jit
def _rotate(x, signs, out):
    rows, n = x.shape
    for r in range(rows):
        v = out[r]
        for k in range(n):
            v[k] = x[r, k] * signs[k]
        _fwht1(v)


@_jit
def _unrotate(y, signs, out):
    rows, n = y.shape
    for r in range(rows):
        v = out[r]
        for k in range(n):
            v[k] = y[r, k]
        _fwht1(v)
        for k in range(n):
            v[k] *= signs[k]


@_jit
def _cells(v, s, offset, step, last, u, cell):
    """First pass of the quantizer (vectorizes): ``u = v / s`` and the clipped table cell of ``u``."""
    for k in range(v.shape[0]):
        q = v[k] / s
        j = np.floor(q * step) + offset
        j = j if j <= last else last  # also NaN (not a valid input): the last cell, never out of the table
        j = j if j >= 0.0 else 0.0
        u[k] = q
        cell[k] = np.int64(j)


@_jit
def _quantize_vec(v, s, offset, step, base, above, u, cell, codes):
    """``codes[k] = #{t <= v[k] / s}`` by the cell table (see cell_table), for one row ``v``."""
    _cells(v, s, offset, step, float(base.shape[0] - 1), u, cell)
    for k in range(v.shape[0]):
        i = cell[k]
        codes[k] = base[i] + (u[k] >= above[i])


@_jit
def _quantize_err(v, s, offset, step, base, above, levels, u, cell, codes):
    """:func:`_quantize_vec`, and ``sum((v - rint(levels[codes] * s))**2)`` (four partial sums,
    as _sum_squares: exact in any order for integers below 2**53)."""
    n = v.shape[0]
    _cells(v, s, offset, step, float(base.shape[0] - 1), u, cell)
    e0 = e1 = e2 = e3 = 0.0
    k = 0
    while k + 4 <= n:  # unsigned indices: no negative-index wraparound on the table lookups
        i0, i1, i2, i3 = np.uint64(cell[k]), np.uint64(cell[k + 1]), np.uint64(cell[k + 2]), np.uint64(cell[k + 3])
        c0 = np.uint64(base[i0] + (u[k] >= above[i0]))
        c1 = np.uint64(base[i1] + (u[k + 1] >= above[i1]))
        c2 = np.uint64(base[i2] + (u[k + 2] >= above[i2]))
        c3 = np.uint64(base[i3] + (u[k + 3] >= above[i3]))
        codes[k], codes[k + 1], codes[k + 2], codes[k + 3] = c0, c1, c2, c3
        d0 = v[k] - np.rint(levels[c0] * s)
        d1 = v[k + 1] - np.rint(levels[c1] * s)
        d2 = v[k + 2] - np.rint(levels[c2] * s)
        d3 = v[k + 3] - np.rint(levels[c3] * s)
        e0 += d0 * d0
        e1 += d1 * d1
        e2 += d2 * d2
        e3 += d3 * d3
        k += 4
    while k < n:
        i = np.uint64(cell[k])
        c = np.uint64(base[i] + (u[k] >= above[i]))
        codes[k] = c
        d = v[k] - np.rint(levels[c] * s)
        e0 += d * d
        k += 1
    return (e0 + e1) + (e2 + e3)


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
    n = y.shape[1]
    u = np.empty(n)
    cell = np.empty(n, np.int64)
    for r in range(y.shape[0]):
        _quantize_vec(y[r], scale[r], offset, step, base, above, u, cell, out[r])


@_jit
def _dequantize(codes, scale, levels, out):
    for r in range(codes.shape[0]):
        _dequantize_row(codes, r, scale[r], levels, out)


@_jit
def _analyze(x, signs, scale, offset, step, base, above, levels, y, codes, yhat):
    rows, n = x.shape
    u = np.empty(n)
    cell = np.empty(n, np.int64)
    for r in range(rows):
        v = y[r]
        for k in range(n):
            v[k] = x[r, k] * signs[k]
        _fwht1(v)
        _quantize_vec(v, scale[r], offset, step, base, above, u, cell, codes[r])
        _dequantize_row(codes, r, scale[r], levels, yhat)


@_jit
def _synthesize(codes, scale, levels, signs, out):
    rows, n = codes.shape
    for r in range(rows):
        _dequantize_row(codes, r, scale[r], levels, out)
        v = out[r]
        _fwht1(v)
        for k in range(n):
            v[k] *= signs[k]


EXACT = 2.0**53  # integer sums below this are exact in any order


@_jit
def _sum_squares(v):
    """``sum(v**2)`` in four interleaved partial sums (any order is exact for integers while the
    total stays below 2**53, and a total that reaches it still comes out >= 2**53)."""
    n = v.shape[0]
    e0 = e1 = e2 = e3 = 0.0
    k = 0
    while k + 4 <= n:
        a, b, c, d = v[k], v[k + 1], v[k + 2], v[k + 3]
        e0 += a * a
        e1 += b * b
        e2 += c * c
        e3 += d * d
        k += 4
    while k < n:
        a = v[k]
        e0 += a * a
        k += 1
    return (e0 + e1) + (e2 + e3)


@_jit
def _group(bits):
    """(codes, bytes) of the fewest codes of ``bits`` bits that fill whole bytes (as tqa.bitpack)."""
    g = 8
    while g > 1 and (g // 2) * bits % 8 == 0:
        g //= 2
    return g, g * bits // 8


@_jit
def _pack_row(vals, shift, bits, rec, pos):
    """Pack ``vals >> shift`` (``bits`` bits each, MSB first) into ``rec[pos:]``, as tqa.bitpack.pack."""
    n = vals.shape[0]
    mask = (1 << bits) - 1
    if bits == 6:
        for a in range(0, n, 4):
            w = ((((vals[a] >> shift) & 63) << 18) | (((vals[a + 1] >> shift) & 63) << 12)
                 | (((vals[a + 2] >> shift) & 63) << 6) | ((vals[a + 3] >> shift) & 63))  # fmt: skip
            rec[pos] = np.uint8(w >> 16)
            rec[pos + 1] = np.uint8((w >> 8) & 255)
            rec[pos + 2] = np.uint8(w & 255)
            pos += 3
        return pos
    if bits == 1:
        for a in range(0, n, 8):
            w = 0
            for i in range(8):
                w = (w << 1) | ((vals[a + i] >> shift) & 1)
            rec[pos] = np.uint8(w)
            pos += 1
        return pos
    g, nbytes = _group(bits)
    for a in range(0, n, g):
        w = np.uint64(0)
        for i in range(g):
            w = (w << np.uint64(bits)) | np.uint64((vals[a + i] >> shift) & mask)
        for b in range(nbytes):
            rec[pos + b] = np.uint8((w >> np.uint64(8 * (nbytes - 1 - b))) & np.uint64(255))
        pos += nbytes
    return pos


@_jit
def _pack_6_sign(codes, rec, pos):
    """``_pack_row(codes, 1, 6, ...)`` then ``_pack_row(codes, 0, 1, ...)`` in one pass (6 bits + sign).
    Unsigned positions: numba then skips its negative-index wraparound."""
    n = codes.shape[0]
    p = np.uint64(pos)
    sp = np.uint64(pos + n * 6 // 8)
    for g in range(n // 8):
        a = np.uint64(8 * g)
        c0, c1, c2, c3 = np.int32(codes[a]), np.int32(codes[a + 1]), np.int32(codes[a + 2]), np.int32(codes[a + 3])
        c4, c5, c6, c7 = np.int32(codes[a + 4]), np.int32(codes[a + 5]), np.int32(codes[a + 6]), np.int32(codes[a + 7])
        w = ((c0 >> 1) << 18) | ((c1 >> 1) << 12) | ((c2 >> 1) << 6) | (c3 >> 1)
        v = ((c4 >> 1) << 18) | ((c5 >> 1) << 12) | ((c6 >> 1) << 6) | (c7 >> 1)
        rec[p] = np.uint8(w >> 16)
        rec[p + 1] = np.uint8((w >> 8) & 255)
        rec[p + 2] = np.uint8(w & 255)
        rec[p + 3] = np.uint8(v >> 16)
        rec[p + 4] = np.uint8((v >> 8) & 255)
        rec[p + 5] = np.uint8(v & 255)
        rec[sp] = np.uint8(((c0 & 1) << 7) | ((c1 & 1) << 6) | ((c2 & 1) << 5) | ((c3 & 1) << 4)
                           | ((c4 & 1) << 3) | ((c5 & 1) << 2) | ((c6 & 1) << 1) | (c7 & 1))  # fmt: skip
        p += np.uint64(6)
        sp += np.uint64(1)


@_jit
def _unpack_6_sign(rec, pos, codes):
    """The inverse of _pack_6_sign: ``codes = (6-bit field << 1) | sign bit``."""
    n = codes.shape[0]
    p = np.uint64(pos)
    sp = np.uint64(pos + n * 6 // 8)
    for g in range(n // 8):
        a = np.uint64(8 * g)
        w = (np.int32(rec[p]) << 16) | (np.int32(rec[p + 1]) << 8) | np.int32(rec[p + 2])
        v = (np.int32(rec[p + 3]) << 16) | (np.int32(rec[p + 4]) << 8) | np.int32(rec[p + 5])
        b = np.int32(rec[sp])
        codes[a] = ((w >> 17) & 126) | ((b >> 7) & 1)
        codes[a + 1] = ((w >> 11) & 126) | ((b >> 6) & 1)
        codes[a + 2] = ((w >> 5) & 126) | ((b >> 5) & 1)
        codes[a + 3] = ((w << 1) & 126) | ((b >> 4) & 1)
        codes[a + 4] = ((v >> 17) & 126) | ((b >> 3) & 1)
        codes[a + 5] = ((v >> 11) & 126) | ((b >> 2) & 1)
        codes[a + 6] = ((v >> 5) & 126) | ((b >> 1) & 1)
        codes[a + 7] = ((v << 1) & 126) | (b & 1)
        p += np.uint64(6)
        sp += np.uint64(1)


@_jit
def _unpack_row(rec, pos, bits, codes):
    """``codes[:] =`` the ``bits``-bit fields of ``rec[pos:]``, MSB first (as tqa.bitpack.unpack)."""
    n = codes.shape[0]
    if bits == 6:
        for a in range(0, n, 4):
            w = (np.int32(rec[pos]) << 16) | (np.int32(rec[pos + 1]) << 8) | np.int32(rec[pos + 2])
            codes[a] = w >> 18
            codes[a + 1] = (w >> 12) & 63
            codes[a + 2] = (w >> 6) & 63
            codes[a + 3] = w & 63
            pos += 3
        return pos
    g, nbytes = _group(bits)
    mask = np.uint64((1 << bits) - 1)
    for a in range(0, n, g):
        w = np.uint64(0)
        for b in range(nbytes):
            w = (w << np.uint64(8)) | np.uint64(rec[pos + b])
        pos += nbytes
        for i in range(g):
            codes[a + i] = np.int32((w >> np.uint64(bits * (g - 1 - i))) & mask)
    return pos


@_jit
def _add_low_bits(rec, pos, codes):
    """``codes = codes << 1 | bit`` with the bits of ``rec[pos:]``, MSB first."""
    for a in range(0, codes.shape[0], 8):
        b = np.int32(rec[pos + (a >> 3)])
        for i in range(8):
            codes[a + i] = (codes[a + i] << 1) | ((b >> (7 - i)) & 1)


@_jit
def _encode_blocks(x, signs, offset, step, base, above, levels, cuts, scales, bits, split, records, energy, dsum, exact):
    """Rows of ``x`` to block records: see Engine.encode_blocks (``levels`` has a level per cell)."""
    rows, n = x.shape
    y = np.empty(n)
    u = np.empty(n)
    cell = np.empty(n, np.int64)
    codes = np.empty(n, np.int16)
    nc = cuts.shape[0]
    for r in range(rows):
        e = _sum_squares(x[r])
        kc = 0
        if e > 0.0:  # log_code(sqrt(e)): searchsorted(cuts, ., side="right") + 1
            sig = np.sqrt(e)
            lo, hi = 0, nc
            while lo < hi:
                mid = (lo + hi) >> 1
                if cuts[mid] <= sig:
                    lo = mid + 1
                else:
                    hi = mid
            kc = lo + 1
        s = scales[kc]
        for k in range(n):
            y[k] = x[r, k] * signs[k]
        _fwht1(y)
        d2 = _quantize_err(y, s, offset, step, base, above, levels, u, cell, codes)  # and y - ŷ squared
        energy[r] = e
        dsum[r] = d2
        exact[r] = e < EXACT and d2 < EXACT
        rec = records[r]
        if e > 0.0:
            side = kc | (1 << 12)
        else:  # silent: no scale, all codes zero
            side = 0
            codes[:] = 0
        rec[0] = np.uint8(side & 255)
        rec[1] = np.uint8(side >> 8)
        if split and bits == 6:  # the default settings
            _pack_6_sign(codes, rec, 2)
        else:
            pos = _pack_row(codes, 1 if split else 0, bits, rec, 2)
            if split:
                _pack_row(codes, 0, 1, rec, pos)


@_jit
def _log_code(v, cuts):
    """``searchsorted(cuts, v, side="right") + 1`` for v > 0, else 0 (blockcodec.log_code)."""
    if not v > 0.0:
        return 0
    lo, hi = 0, cuts.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if cuts[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo + 1


@_jit
def _try_modes(y2, y3, sum2, sum3, energy, best, mode, k, codes, offset, step, base, above, levels, cuts, scales,
               lim_rot, lim_id, done):  # fmt: skip
    """See Engine.try_modes: modes 2 and 3 at the nominal scale, for the rows whose squared errors
    sum exactly (the sums of squares of the coefficients are the driver's)."""
    rows, n = y2.shape
    u = np.empty(n)
    cell = np.empty(n, np.int64)
    c = np.empty(n, np.int16)
    win = np.empty(n, np.int16)
    for r in range(rows):
        b = best[r]
        wmode, wk = -1, 0
        ok = True
        for alt in (2, 3):
            if alt == 2:
                ay, e = y2[r], sum2[r]
                kc = min(max(_log_code(np.sqrt(energy[r]), cuts), 1), lim_rot)
            else:
                ay, e = y3[r], sum3[r]
                kc = min(max(_log_code(np.sqrt(energy[r] * n), cuts), 1), lim_id)
            s = scales[kc]
            d2 = _quantize_err(ay, s, offset, step, base, above, levels, u, cell, c)
            if not d2 < EXACT:
                ok = False
                break
            err = d2 / e
            if err < b:
                b = err
                wmode, wk = alt, kc
                win[:] = c
        done[r] = ok
        if ok and wmode >= 0:
            best[r] = b
            mode[r] = wmode
            k[r] = wk
            codes[r] = win


@_jit
def _decode_blocks(records, scale, levels, signs, bits, split, out, mode, fallback):
    """Records to grid blocks: see Engine.decode_blocks (``levels`` has a level per code; ``mode``
    an array per row, empty for all primary)."""
    rows, n = out.shape
    codes = np.empty(n, np.int32)
    inv = float(n)
    modes = mode.shape[0] > 0
    for r in range(rows):
        rec = records[r]
        v = out[r]
        s = scale[r]
        m = mode[r] if modes else 1
        if split and bits == 6:  # the default settings
            _unpack_6_sign(rec, 2, codes)
        else:
            pos = _unpack_row(rec, 2, bits, codes)
            if split:
                _add_low_bits(rec, pos, codes)
        for k in range(n):
            v[k] = np.rint(levels[np.uint64(codes[k])] * s)  # codes >= 0: unsigned, no wraparound
        if m == 3:  # identity
            for k in range(n):
                v[k] = v[k] / inv
            continue
        _fwht1(v)
        sg = fallback if m == 2 else signs
        for k in range(n):
            v[k] = v[k] * sg[k] / inv


@_jit
def _to_grid(x, scale, rnd, out):
    """``out = x * scale`` (``rint``-ed with ``rnd``); the inner loop runs along the smaller
    stride of ``out`` (a transposed (channels, samples) buffer is written channel by channel)."""
    rows, cols = x.shape
    if out.strides[0] < out.strides[1]:
        for j in range(cols):
            for i in range(rows):
                v = x[i, j] * scale
                out[i, j] = np.rint(v) if rnd else v
    else:
        for i in range(rows):
            for j in range(cols):
                v = x[i, j] * scale
                out[i, j] = np.rint(v) if rnd else v


@_jit
def _to_grid_flat(x, scale, rnd, out):
    for i in range(x.shape[0]):
        v = x[i] * scale
        out[i] = np.rint(v) if rnd else v


@_jit
def _int16_of(v):
    t = np.rint(v * (1.0 / 256.0))
    t = t if t >= -32768.0 else -32768.0
    t = t if t <= 32767.0 else 32767.0
    return np.int16(t)


@_jit
def _int32_of(v):
    t = v * 256.0
    t = t if t >= -2147483648.0 else -2147483648.0
    t = t if t <= 2147483647.0 else 2147483647.0
    return np.int32(t)


@_jit
def _grid_to(g, kind, out):
    """Grid values to samples (kind 0 int16, 1 int32, 2 float32, 3 float64), as tqa.samples.from_grid:
    rows of a (samples, channels) view of (channels, samples) grid blocks, read along the grid."""
    inv = 1.0 / 8388608.0  # 1 / GRID
    z = np.float32(0.0)
    rows, cols = g.shape
    for j in range(cols):
        if kind == 0:
            for i in range(rows):
                out[i, j] = _int16_of(g[i, j])
        elif kind == 1:
            for i in range(rows):
                out[i, j] = _int32_of(g[i, j])
        elif kind == 2:
            for i in range(rows):
                out[i, j] = np.float32(g[i, j] * inv) + z  # rounded once to float32; -0.0 -> +0.0
        else:
            for i in range(rows):
                out[i, j] = g[i, j] * inv + 0.0  # -0.0 -> +0.0


_GRID_OUT = {"int16": (0, np.int16), "int32": (1, np.int32), "float32": (2, np.float32), "float64": (3, np.float64)}


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

    def encode_blocks(self, x, signs, thresholds, levels, cuts, scales, bits, split, records):
        x = _f64(x)
        rows = x.shape[0]
        energy, dsum = np.empty(rows), np.empty(rows)
        exact = np.empty(rows, np.bool_)
        offset, step, base, above = _table(thresholds)
        levels = _f64(levels)
        if levels.shape[0] != np.asarray(thresholds).size + 1:  # not a level per cell: the reference's errors
            return Engine.encode_blocks(self, x, signs, thresholds, levels, cuts, scales, bits, split, records)
        _encode_blocks(x, _f64(signs), offset, step, base, above, _f64(levels), _f64(cuts), _f64(scales), int(bits),
                       bool(split), records, energy, dsum, exact)  # fmt: skip
        if not exact.all():  # a sum reached 2**53: those rows as the reference computes them
            bad = np.flatnonzero(~exact)
            sub = np.empty((bad.size, records.shape[1]), np.uint8)
            energy[bad], dsum[bad] = Engine.encode_blocks(self, x[bad], signs, thresholds, levels, cuts, scales, bits,
                                                          split, sub)  # fmt: skip
            records[bad] = sub
        return energy, dsum

    def decode_blocks(self, records, scale, levels, signs, bits, split, out, mode=None, fallback=None):
        levels = _f64(levels)
        if levels.shape[0] < 1 << (int(bits) + bool(split)) or (mode is not None and fallback is None):
            # codes without a level: the reference's errors
            return Engine.decode_blocks(self, records, scale, levels, signs, bits, split, out, mode, fallback)
        signs = _f64(signs)
        m = np.zeros(0, np.int64) if mode is None else np.ascontiguousarray(mode, dtype=np.int64)
        _decode_blocks(records, _f64(scale).reshape(-1), levels, signs, int(bits), bool(split), out, m,
                       signs if fallback is None else _f64(fallback))  # fmt: skip
        return out

    def try_modes(self, y2, y3, sum2, sum3, energy, best, mode, k, codes, thresholds, levels, cuts, scales, limits):
        y2, y3 = _f64(y2), _f64(y3)
        done = np.zeros(y2.shape[0], np.bool_)
        levels = _f64(levels)
        ok = (levels.shape[0] == np.asarray(thresholds).size + 1 and y3.shape == y2.shape
              and all(isinstance(a, np.ndarray) and a.flags.writeable for a in (best, mode, k, codes))
              and codes.dtype == np.int16 and codes.shape == y2.shape)  # fmt: skip
        if not ok or not y2.shape[0]:
            return done
        offset, step, base, above = _table(thresholds)
        _try_modes(y2, y3, _f64(sum2), _f64(sum3), _f64(energy), best, mode, k, codes, offset, step, base, above,
                   levels, _f64(cuts), _f64(scales), int(limits[0]), int(limits[1]), done)  # fmt: skip
        return done

    def to_grid(self, x, out=None):
        x = np.asarray(x)
        if x.ndim != 2 or x.dtype not in (np.int16, np.int32, np.float64) or not x.dtype.isnative:
            return super().to_grid(x, out)  # float32 keeps its dtype (NumPy's weak scalars): the reference
        if out is None:
            out = np.empty(x.shape)
        elif out.shape != x.shape or out.dtype != np.float64:
            return super().to_grid(x, out)
        from tqa.samples import GRID

        scale, rnd = (256.0, False) if x.dtype == np.int16 else (1.0 / 256.0 if x.dtype == np.int32 else GRID, True)
        if x.flags.c_contiguous and out.flags.c_contiguous:
            _to_grid_flat(x.reshape(-1), scale, rnd, out.reshape(-1))
        else:
            _to_grid(x, scale, rnd, out)
        return out

    def from_grid(self, g, dtype, out=None):
        g = np.asarray(g)
        kind, want = _GRID_OUT.get(dtype, (None, None))
        if want is None or g.ndim != 2 or g.dtype != np.float64:
            return super().from_grid(g, dtype, out)
        if out is None:
            out = np.empty(g.shape, want)
        elif out.shape != g.shape or out.dtype != want:
            return super().from_grid(g, dtype, out)
        _grid_to(g, kind, out)
        return out
