"""Compiled (numba) loops of the sv2 ENCODER: the MDCT fold, quantization with its band
statistics, the symbol counts, and the whole frame packing (symbols, rANS, LSB planes, sign and
escape bits) in one pass per frame.  Each replaces a NumPy function of tqa.sv2.codec /
tqa.sv2.transform that stays the reference (TQA_SV2_JIT=0, or numba absent); the values are the
same to the last bit by construction:

* the same IEEE operations in the same order (no fastmath, no FMA contraction: numba does not
  contract a*b+c unless asked);
* sums that NumPy makes in a particular order are made in that order: ``np.bincount`` with
  weights and ``np.add.at`` add sequentially; ``np.einsum("...k,...k->...", v, v)`` over a
  contiguous band of 16 adds in two SIMD lanes (even / odd elements), four products at a time
  (NumPy's baseline ``sum_of_products_contig_contig_outstride0_two``), then the two lanes —
  tqa.sv2.codec checks this against the NumPy in use at first use, and runs NumPy's encoder
  where it does not hold;
* everything else is integer arithmetic (symbols, rANS, bit packing).

Loaded only through tqa.sv2.codec when tqa.sv2._jit.AVAILABLE (the same switch as the decoder's
loops); numba caches the machine code next to this file; tqa.sv2._aot compiles the same
functions ahead of time (what a one-shot process loads without importing numba).
"""

from __future__ import annotations

import numpy as np
import numba

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")

BAND = 16
ESC = 15


@_jit
def _band_sq(v, base):  # pragma: no cover - compiled
    """Sum of squares of v[base:base+16] in NumPy einsum's order (:func:`_sq_sum`)."""
    return _sq_sum(v, base, BAND)


@_jit
def _band_sum2(v0, v1, v2, v3, v4, v5, v6, v7, w0, w1, w2, w3, w4, w5, w6, w7):  # pragma: no cover - compiled
    """:func:`_sq_sum` of a band (v0..v7, w0..w7) written out (straight-line: see :func:`_band_stats`)."""
    a0 = v6 * v6 + 0.0
    a1 = v7 * v7 + 0.0
    a0 = v4 * v4 + a0
    a1 = v5 * v5 + a1
    a0 = v2 * v2 + a0
    a1 = v3 * v3 + a1
    a0 = v0 * v0 + a0
    a1 = v1 * v1 + a1
    a0 = w6 * w6 + a0
    a1 = w7 * w7 + a1
    a0 = w4 * w4 + a0
    a1 = w5 * w5 + a1
    a0 = w2 * w2 + a0
    a1 = w3 * w3 + a1
    a0 = w0 * w0 + a0
    a1 = w1 * w1 + a1
    return a0 + a1


@_jit
def _band_stats(v, esq, mx):  # pragma: no cover - compiled
    """Per band of 16 of the row v: esq[b] the einsum of the squares (NumPy's order, :func:`_sq_sum`),
    mx[b] the largest value (a tree of maxima: exact in any order, v having neither NaN nor -0.0).
    The loop over bands innermost, its body straight-line: the compiler vectorizes across bands
    (quantize 66 -> 57 ms of an fb5 encode, measured; not faster for ms_energies' band sums, which
    keep :func:`_band_sq`)."""
    for b in range(v.size // BAND):
        o = b * BAND
        v0, v1, v2, v3, v4, v5, v6, v7 = v[o], v[o + 1], v[o + 2], v[o + 3], v[o + 4], v[o + 5], v[o + 6], v[o + 7]
        w0, w1, w2, w3, w4, w5, w6, w7 = v[o + 8], v[o + 9], v[o + 10], v[o + 11], v[o + 12], v[o + 13], v[o + 14], v[o + 15]
        esq[b] = _band_sum2(v0, v1, v2, v3, v4, v5, v6, v7, w0, w1, w2, w3, w4, w5, w6, w7)
        m0 = max(max(max(v0, v1), max(v2, v3)), max(max(v4, v5), max(v6, v7)))
        m1 = max(max(max(w0, w1), max(w2, w3)), max(max(w4, w5), max(w6, w7)))
        mx[b] = max(m0, m1)


@_jit
def band_energies(X, out):  # pragma: no cover - compiled
    """out[..., b] = einsum over band b of X (R, N) rows: (R, N/16)."""
    R, N = X.shape
    for r in range(R):
        row = X[r]
        for b in range(N // BAND):
            out[r, b] = _band_sq(row, b * BAND)


@_jit
def fold_frames(seg, short, rlc, rrc, WL, WS, sidx, out_long, out_short):  # pragma: no cover - compiled
    """Windowed, folded segments (tqa.sv2.transform._fold before its DCT-IV) of frames given by
    their 2N segments seg (ch, F, 2N): long frames into out_long (F, ch, N) (window WL[rlc, rrc],
    overlap codes 0: none, 1: N/16, 2: N/2), the 8 short blocks of short frame f into
    out_short[sidx[f]] (ch, 8, N/8) (windows WS[left code, right code], 0: none, 1: N/16)."""
    ch, F, N2 = seg.shape
    N = N2 // 2
    h = N // 2
    m = N // 8
    hm = m // 2
    for f in range(F):
        if not short[f]:
            w = WL[rlc[f], rrc[f]]
            for c in range(ch):
                s = seg[c, f]
                o = out_long[f, c]
                for j in range(h):
                    o[j] = -(s[N + h - 1 - j] * w[N + h - 1 - j]) - s[N + h + j] * w[N + h + j]
                    o[h + j] = s[j] * w[j] - s[N - 1 - j] * w[N - 1 - j]
        else:
            k = sidx[f]
            for b in range(8):
                lo = N // 2 - m // 2 + b * m
                w = WS[rlc[f] if b == 0 else 1, rrc[f] if b == 7 else 1]
                for c in range(ch):
                    s = seg[c, f]
                    o = out_short[k, c, b]
                    for j in range(hm):
                        o[j] = -(s[lo + m + hm - 1 - j] * w[m + hm - 1 - j]) - s[lo + m + hm + j] * w[m + hm + j]
                        o[hm + j] = s[lo + j] * w[j] - s[lo + m - 1 - j] * w[m - 1 - j]


JB = 16  # fold_block's rows per sweep over many channels


@_jit
def fold_block(x, short, rlc, rrc, WL, WS, sidx, out_long, out_short):  # pragma: no cover - compiled
    """:func:`fold_frames` of consecutive frames straight from their samples x ((F+1)·N, ch)
    (frame i's 2N segment is x[i·N : i·N + 2N]): no segments array."""
    F, ch, N = out_long.shape
    h = N // 2
    m = N // 8
    hm = m // 2
    for f in range(F):
        b0 = f * N
        if not short[f]:
            w = WL[rlc[f], rrc[f]]
            if ch == 2:  # both channels in one sweep: x's rows are (left, right) pairs (~1.25x, measured)
                o0 = out_long[f, 0]
                o1 = out_long[f, 1]
                for j in range(h):
                    i1 = N + h - 1 - j
                    i2 = N + h + j
                    i3 = N - 1 - j
                    o0[j] = -(x[b0 + i1, 0] * w[i1]) - x[b0 + i2, 0] * w[i2]
                    o1[j] = -(x[b0 + i1, 1] * w[i1]) - x[b0 + i2, 1] * w[i2]
                    o0[h + j] = x[b0 + j, 0] * w[j] - x[b0 + i3, 0] * w[i3]
                    o1[h + j] = x[b0 + j, 1] * w[j] - x[b0 + i3, 1] * w[i3]
                continue
            if ch <= 8:
                for c in range(ch):
                    o = out_long[f, c]
                    for j in range(h):
                        i1 = N + h - 1 - j
                        i2 = N + h + j
                        i3 = N - 1 - j
                        o[j] = -(x[b0 + i1, c] * w[i1]) - x[b0 + i2, c] * w[i2]
                        o[h + j] = x[b0 + j, c] * w[j] - x[b0 + i3, c] * w[i3]
                continue
            # Many channels: JB samples of every channel at a time.  x's rows are channels-last, so a
            # channel at a time reads a cache line per sample and uses 8 bytes of it; JB rows of all
            # channels (4 x 16 rows of 384 channels: ~200 kB) stay in cache while each channel's
            # outputs are made (384 channels: ~90 -> ~65-76 ms a 1-s chunk's frames, the same values;
            # 1 or 6 channels: ~12% slower, so not for those, nor the loop above with a sweep of h
            # rows: its run-time bounds cost 6 channels 25 -> 29 ms, measured)
            for jb in range(0, h, JB):
                je = min(jb + JB, h)
                for c in range(ch):
                    o = out_long[f, c]
                    for j in range(jb, je):
                        i1 = N + h - 1 - j
                        i2 = N + h + j
                        i3 = N - 1 - j
                        o[j] = -(x[b0 + i1, c] * w[i1]) - x[b0 + i2, c] * w[i2]
                        o[h + j] = x[b0 + j, c] * w[j] - x[b0 + i3, c] * w[i3]
        else:
            k = sidx[f]
            for b in range(8):
                lo = b0 + N // 2 - m // 2 + b * m
                w = WS[rlc[f] if b == 0 else 1, rrc[f] if b == 7 else 1]
                if ch <= 8:  # a sweep a channel, as the long frames (in rows of JB: stereo ~15% slower, measured)
                    for c in range(ch):
                        o = out_short[k, c, b]
                        for j in range(hm):
                            i1 = m + hm - 1 - j
                            i2 = m + hm + j
                            i3 = m - 1 - j
                            o[j] = -(x[lo + i1, c] * w[i1]) - x[lo + i2, c] * w[i2]
                            o[hm + j] = x[lo + j, c] * w[j] - x[lo + i3, c] * w[i3]
                    continue
                for jb in range(0, hm, JB):
                    je = min(jb + JB, hm)
                    for c in range(ch):
                        o = out_short[k, c, b]
                        for j in range(jb, je):
                            i1 = m + hm - 1 - j
                            i2 = m + hm + j
                            i3 = m - 1 - j
                            o[j] = -(x[lo + i1, c] * w[i1]) - x[lo + i2, c] * w[i2]
                            o[hm + j] = x[lo + j, c] * w[j] - x[lo + i3, c] * w[i3]


@_jit
def ms_energies(X, XM, EB, EBM, r):  # pragma: no cover - compiled
    """XM = orthonormal M/S of stereo X (F, 2, N) (r = sqrt(0.5)); EB, EBM (F, 2, N/16) their
    band energies (einsum order)."""
    F, ch, N = X.shape
    for f in range(F):
        x0 = X[f, 0]
        x1 = X[f, 1]
        m0 = XM[f, 0]
        m1 = XM[f, 1]
        for i in range(N):
            m0[i] = (x0[i] + x1[i]) * r
            m1[i] = (x0[i] - x1[i]) * r
        for c in range(ch):
            for b in range(N // BAND):
                EB[f, c, b] = _band_sq(X[f, c], b * BAND)
                EBM[f, c, b] = _band_sq(XM[f, c], b * BAND)


@_jit
def quantize(X, XM, ms, e, half, step, inv, divide, rho, q, v, esq, mx):  # pragma: no cover - compiled
    """codec.quantize's elementwise part: v = |Y|/step (Y = XM where ms, else X; per short block
    step·half[e] where divide), q = sign·floor(v + rho); per band the einsum of v² and max v."""
    F, ch, N = X.shape
    sv = np.empty(8)
    for f in range(F):
        Y = XM[f] if ms[f] else X[f]
        if divide:
            for k in range(8):
                sv[k] = step * half[e[f, k]]
        for c in range(ch):
            y = Y[c]
            vv = v[f, c]
            qq = q[f, c]
            for i in range(N):
                if divide:
                    a = abs(y[i]) / sv[i % 8]
                else:
                    a = abs(y[i]) * inv
                vv[i] = a
                n = np.int64(np.floor(a + rho))
                qq[i] = -n if y[i] < 0 else n
            _band_stats(vv, esq[f, c], mx[f, c])


@_jit
def _bitlen(x):  # pragma: no cover - compiled
    n = 0
    while x > 0:
        n += 1
        x >>= 1
    return n


@_jit
def counts(q, v, cls, shift, C, d, cc, cn, cd, cent):  # pragma: no cover - compiled
    """codec.counts in place: class-delta counts d (2, 2C-1), coefficient symbols cc (C, 16),
    centroid counts cn and sums cd (3C,) (added coefficient by coefficient, frame-major, as
    np.bincount / np.add.at do; only if cent); returns the raw bits (an integer).  Branch-free
    per coefficient: a band's three centroid sums are held in slots 1..3 of a small array (slot 0
    takes the zeros' values and is dropped), each key's additions in their order."""
    F, ch, N = q.shape
    nb = N // BAND
    raw = 0
    sacc = np.zeros(4)  # slot 0: |q| = 0 (discarded), 1..3: the centroid keys of |q| = 1, 2, 3+
    nacc = np.zeros(4, np.int64)
    for f in range(F):
        prev = 0
        for t in range(ch * nb):
            c = cls[f, t]
            d[1 if prev != 0 else 0, c - prev + C - 1] += 1
            prev = c
        for t in range(ch * nb):
            c = cls[f, t]
            if c == 0:
                continue
            chn = t // nb
            lo = (t % nb) * BAND
            s = shift[c]
            qq = q[f, chn]
            vv = v[f, chn]
            raw += BAND * s
            for j in range(4):
                nacc[j] = 0
            if cent:
                sacc[0] = 0.0
                sacc[1] = cd[c * 3]
                sacc[2] = cd[c * 3 + 1]
                sacc[3] = cd[c * 3 + 2]
                for k in range(lo, lo + BAND):
                    x = qq[k]
                    sg = x >> 63  # |x| branch-free (numba's abs: ~1.1x slower here, measured)
                    a = (x ^ sg) - sg
                    msb = a >> s
                    cc[c, min(msb, ESC)] += 1
                    j = min(a, 3)
                    nacc[j] += 1
                    sacc[j] += a - vv[k]
                    if msb >= ESC:
                        raw += 2 * _bitlen(msb - ESC + 1) - 1
                cd[c * 3] = sacc[1]
                cd[c * 3 + 1] = sacc[2]
                cd[c * 3 + 2] = sacc[3]
                cn[c * 3] += nacc[1]
                cn[c * 3 + 1] += nacc[2]
                cn[c * 3 + 2] += nacc[3]
            else:
                for k in range(lo, lo + BAND):
                    x = qq[k]
                    sg = x >> 63  # |x| branch-free (numba's abs: ~1.1x slower here, measured)
                    a = (x ^ sg) - sg
                    msb = a >> s
                    cc[c, min(msb, ESC)] += 1
                    nacc[min(a, 1)] += 1
                    if msb >= ESC:
                        raw += 2 * _bitlen(msb - ESC + 1) - 1
            raw += BAND - nacc[0]
    return raw


U64 = np.uint64  # the rANS coder's type: its states' products need all 64 bits unsigned


@_jit
def _rans_table(freq, cum):  # pragma: no cover - compiled
    """Per (table t, symbol k) at row t * S + k, four words side by side (one index, one cache
    line): the renormalization bound freq << 20, and m, sh, (4096 - freq) | cum << 16 such that
    x // freq = (((x * m) >> 32) + x) >> sh exactly for every state x < freq << 20: m = ceil(2**(32
    + sh) / freq) - 2**32 with 2**sh the power of two at or above freq (Granlund & Montgomery's
    round-up reciprocal with the 33-bit multiplier's top bit added back as x: its error x·e < freq²
    2**20 <= 2**(32 + sh) for sh <= 12), so that the step needs no correction."""
    T, S = freq.shape
    tab = np.zeros(T * S * 4, U64)
    for t in range(T):
        for k in range(S):
            fr = np.int64(freq[t, k])
            if fr <= 0:
                continue
            sh = 0
            while (1 << sh) < fr:
                sh += 1
            j = (t * S + k) * 4
            tab[j] = U64(fr << 20)
            tab[j + 1] = U64(((1 << (32 + sh)) + fr - 1) // fr - (1 << 32))
            tab[j + 2] = U64(sh)
            tab[j + 3] = U64((4096 - fr) | (np.int64(cum[t, k]) << 16))
    return tab


@_jit
def _rans_step(x, p, sym, tab, wbuf):  # pragma: no cover - compiled
    """One rANS encoder step of state x (symbol sym: a row of :func:`_rans_table`), writing a word
    at wbuf[p - 1] and moving p down when it renormalizes (the words end up in decoder order): a
    word is always stored, kept if emitted (branch-free).  The new state is x + (x // freq) (4096
    - freq) + cum = ((x // freq) << 12) + x % freq + cum."""
    j = U64(sym) * U64(4)
    em = x >= tab[j]
    wbuf[p - U64(1)] = x
    if em:  # a conditional move
        x = x >> U64(16)
    p -= U64(em)
    qt = (((x * tab[j + U64(1)]) >> U64(32)) + x) >> tab[j + U64(2)]
    w = tab[j + U64(3)]
    return x + qt * (w & U64(0xFFFF)) + (w >> U64(16)), p


@_jit
def _rans_lanes(tsym, tab, soff, n, wbuf, wend, wstart, xs):  # pragma: no cover - compiled
    """rANS-code every lane (frame), each from its last symbol to its first, four lanes at a time
    (independent dependency chains that the CPU overlaps; frames of like symbol counts grouped,
    so that few symbols are left to code one lane at a time): lane f's words into wbuf just below
    wend[f] (first word at wstart[f]), final state xs[f].  Indices unsigned (no negative-index
    wrap-around) and the write positions the only per-lane counters: no register spills.
    ~2x the speed of the four lanes with the quotient's correction and signed indices (36 against
    75 ms of an fb5 encode, measured)."""
    F = n.size
    order = np.argsort(n)
    for g in range(0, F - 3, 4):
        f0, f1, f2, f3 = order[g], order[g + 1], order[g + 2], order[g + 3]
        x0 = x1 = x2 = x3 = U64(1 << 16)
        p0, p1, p2, p3 = U64(wend[f0]), U64(wend[f1]), U64(wend[f2]), U64(wend[f3])
        i0, i1, i2, i3 = U64(soff[f0] + n[f0]), U64(soff[f1] + n[f1]), U64(soff[f2] + n[f2]), U64(soff[f3] + n[f3])
        for _ in range(min(min(n[f0], n[f1]), min(n[f2], n[f3]))):
            i0 -= U64(1)
            i1 -= U64(1)
            i2 -= U64(1)
            i3 -= U64(1)
            x0, p0 = _rans_step(x0, p0, tsym[i0], tab, wbuf)
            x1, p1 = _rans_step(x1, p1, tsym[i1], tab, wbuf)
            x2, p2 = _rans_step(x2, p2, tsym[i2], tab, wbuf)
            x3, p3 = _rans_step(x3, p3, tsym[i3], tab, wbuf)
        xs[f0], xs[f1], xs[f2], xs[f3] = x0, x1, x2, x3
        wstart[f0], wstart[f1], wstart[f2], wstart[f3] = p0, p1, p2, p3
        _rans_rest(tsym, tab, soff, wbuf, wstart, xs, f0, i0)
        _rans_rest(tsym, tab, soff, wbuf, wstart, xs, f1, i1)
        _rans_rest(tsym, tab, soff, wbuf, wstart, xs, f2, i2)
        _rans_rest(tsym, tab, soff, wbuf, wstart, xs, f3, i3)
    for g in range(F - F % 4, F):
        f = order[g]
        xs[f] = 1 << 16
        wstart[f] = wend[f]
        _rans_rest(tsym, tab, soff, wbuf, wstart, xs, f, U64(soff[f] + n[f]))


@_jit
def _rans_rest(tsym, tab, soff, wbuf, wstart, xs, f, i):  # pragma: no cover - compiled
    """Lane f's symbols below i, one at a time, from its state xs[f] and word position wstart[f]."""
    x = U64(xs[f])
    p = U64(wstart[f])
    while i > U64(soff[f]):
        i -= U64(1)
        x, p = _rans_step(x, p, tsym[i], tab, wbuf)
    xs[f] = x
    wstart[f] = p


@_jit
def _planes8(ab, o, s):  # pragma: no cover - compiled
    """The bits of plane s of ab[o:o+8] (non-negative), ab[o] as the top bit: the eight bytes of
    those values that hold the plane in one word, the plane's bits masked (bit 8k) and gathered into
    the top byte by one multiply (0x8040201008040201: bit 8k lands at 63 - k, no two partial
    products share a position, so nothing carries)."""
    sh = s & 7
    hb = (s >> 3) << 3
    w = np.uint64(0)
    for k in range(8):
        w |= np.uint64((ab[o + k] >> hb) & 0xFF) << np.uint64(8 * k)
    w = (w >> np.uint64(sh)) & np.uint64(0x0101010101010101)
    return np.int64((w * np.uint64(0x8040201008040201)) >> np.uint64(56))


@_jit
def _low_bytes(qq, o, hb):  # pragma: no cover - compiled
    """The bytes hb/8 of |qq[o:o+8]| in one word, |qq[o]| lowest: the eight values' bits of
    those planes, for :func:`_plane8`."""
    w = U64(0)
    for k in range(8):
        x = np.int64(qq[o + k])
        w |= U64(((-x if x < 0 else x) >> hb) & 0xFF) << U64(8 * k)
    return w


@_jit
def _plane8(w, sh):  # pragma: no cover - compiled
    """Bit sh of each byte of w (:func:`_low_bytes`) in one byte, byte 0's as the top bit: masked
    (bit 8k) and gathered into the top byte by one multiply (0x8040201008040201: bit 8k lands at
    63 - k, no two partial products share a position, so nothing carries)."""
    w = (w >> U64(sh)) & U64(0x0101010101010101)
    return (w * U64(0x8040201008040201)) >> U64(56)


@_jit
def _sign_tables():  # pragma: no cover - compiled
    """Per four coefficients' nonzero mask z and negative mask g (first coefficient the top bit):
    ct[z * 16 + g], g's bits where z has them, in order (a 4-bit PEXT), and pc[z] their number.
    The signs of a band from its two masks in four look-ups instead of a shift-or chain through
    every coefficient, which kept the coefficient loop scalar (pack: 75 -> 62 ms of an fb5 encode's
    symbol pass, measured)."""
    ct = np.zeros(256, np.int64)
    pc = np.zeros(16, np.int64)
    for z in range(16):
        for g in range(16):
            o = 0
            for bit in range(3, -1, -1):
                if (z >> bit) & 1:
                    o = (o << 1) | ((g >> bit) & 1)
            ct[z * 16 + g] = o
        pc[z] = (z & 1) + ((z >> 1) & 1) + ((z >> 2) & 1) + (z >> 3)
    return ct, pc


@_jit
def pack(q, cls, ms, e, short, r, zany, shift, C, cum, freq):  # pragma: no cover - compiled
    """codec.pack_frames's payloads of a run of frames, silence maps left out: per frame the
    header byte, the step refinements (short frames), then (after where the silence map goes,
    ``cut``) the varint word count, the rANS words (u16 LE), the LSB planes, the sign bits and
    the escape codes (Exp-Golomb) padded to a byte.  Returns (bytes, offsets (F+1,), cut (F,))."""
    F, ch, N = q.shape
    nb = N // BAND
    nbc = ch * nb
    S = freq.shape[1]
    tab = _rans_table(freq, cum)
    ct, pc = _sign_tables()
    per = nbc + ch * N
    tsym = np.empty(F * per, np.uint16)  # per symbol: table row (table t, symbol k) = t * S + k
    smax = 0
    for c in range(shift.size):
        smax = max(smax, shift[c])
    rawper = 2 * nbc * smax + (ch * N + 7) // 8 + 8
    rb = np.empty(F * rawper, np.uint8)  # per frame: its LSB planes, then its sign bits (escapes: later)
    nlsb_ = np.zeros(F, np.int64)
    nsign_ = np.zeros(F, np.int64)
    n = np.zeros(F, np.int64)
    soff = np.zeros(F, np.int64)
    wend = np.zeros(F, np.int64)
    besc = np.zeros(F * nbc, np.bool_)  # whether the band has escape codes
    need = 0
    for f in range(F):  # symbols in decoder order; sizes of the raw parts
        base = f * per
        soff[f] = base
        wend[f] = (f + 1) * (per + 2)  # words: at most one a symbol, and the always-stored one
        nn = 0
        prev = 0
        for t in range(nbc):
            c = cls[f, t]
            tsym[base + nn] = (S if prev != 0 else 0) + c - prev + C - 1
            nn += 1
            prev = c
        nlsb = 0
        for t in range(nbc):
            c = cls[f, t]
            if c != 0:
                nlsb += 2 * shift[c]
        rs = f * rawper
        lp = rs  # the next LSB plane byte
        sp = rs + nlsb  # the next sign byte
        nsign = 0
        nesc = 0
        acc = 0
        nacc = 0
        for t in range(nbc):
            c = cls[f, t]
            if c == 0:
                continue
            s = shift[c]
            qq = q[f, t // nb]
            lo = (t % nb) * BAND
            row = (1 + c) * S
            top = 0
            nzm = 0  # the band's nonzero and negative coefficients, bit 15 - k: no chain in this loop
            ngm = 0
            for k in range(BAND):
                x = np.int64(qq[lo + k])
                a = -x if x < 0 else x
                nzm |= np.int64(a != 0) << (15 - k)
                ngm |= np.int64(x < 0) << (15 - k)
                msb = a >> s
                top = max(top, msb)
                tsym[base + nn + k] = row + min(msb, ESC)
            nn += BAND
            if top >= ESC:
                besc[f * nbc + t] = True
                for k in range(lo, lo + BAND):
                    x = np.int64(qq[k])
                    msb = (-x if x < 0 else x) >> s
                    if msb >= ESC:
                        nesc += 2 * _bitlen(msb - ESC + 1) - 1
            for h in range(12, -1, -4):  # a sign bit per nonzero coefficient, in order: four at a time
                z = (nzm >> h) & 15
                acc = (acc << pc[z]) | ct[z * 16 + ((ngm >> h) & 15)]
                nacc += pc[z]
            if nacc >= 32:
                nacc -= 32
                w = acc >> nacc
                rb[sp] = (w >> 24) & 0xFF
                rb[sp + 1] = (w >> 16) & 0xFF
                rb[sp + 2] = (w >> 8) & 0xFF
                rb[sp + 3] = w & 0xFF
                sp += 4
                nsign += 32
                acc &= (1 << nacc) - 1
            # LSB planes: s planes of 16 bits, MSB plane first (the bytes of the values gathered once a band)
            hb = -1
            w0 = w1 = U64(0)
            for j in range(s - 1, -1, -1):
                if (j >> 3) << 3 != hb:
                    hb = (j >> 3) << 3
                    w0 = _low_bytes(qq, lo, hb)
                    w1 = _low_bytes(qq, lo + 8, hb)
                rb[lp] = _plane8(w0, j & 7)
                rb[lp + 1] = _plane8(w1, j & 7)
                lp += 2
        while nacc >= 8:
            nacc -= 8
            rb[sp] = (acc >> nacc) & 0xFF
            sp += 1
            nsign += 8
        if nacc:
            rb[sp] = (acc << (8 - nacc)) & 0xFF
            nsign += nacc
        n[f] = nn
        nlsb_[f] = nlsb
        nsign_[f] = nsign
        need += 1 + 8 + 10 + 2 * (nn + 2) + nlsb + (nsign + nesc + 7) // 8
    wbuf = np.empty(F * (per + 2), np.uint16)
    wstart = np.zeros(F, np.int64)
    xs = np.zeros(F, np.int64)
    _rans_lanes(tsym, tab, soff, n, wbuf, wend, wstart, xs)
    wb8 = wbuf.view(np.uint8)  # the words little-endian, as written out
    out = np.zeros(need, np.uint8)
    offs = np.zeros(F + 1, np.int64)
    cut = np.zeros(F, np.int64)
    p = 0
    for f in range(F):
        sh = short[f]
        hdr = (1 if sh else 0) | ((1 if (r[f] == N // 16 and not sh) else 0) << 1) \
            | ((1 if (r[f + 1] == N // 16 and not sh) else 0) << 2) | ((1 if ms[f] else 0) << 3) \
            | ((1 if zany[f] else 0) << 4)
        out[p] = hdr
        p += 1
        if sh:
            for k in range(8):
                out[p] = e[f, k]
                p += 1
        cut[f] = p
        nw = wend[f] - wstart[f]
        total = nw + 2
        while True:  # varint word count
            b7 = total & 0x7F
            total >>= 7
            out[p] = b7 | (0x80 if total else 0)
            p += 1
            if not total:
                break
        x = xs[f]
        hi = x >> 16
        lo16 = x & 0xFFFF
        out[p] = hi & 0xFF
        out[p + 1] = hi >> 8
        out[p + 2] = lo16 & 0xFF
        out[p + 3] = lo16 >> 8
        p += 4
        out[p : p + 2 * nw] = wb8[2 * wstart[f] : 2 * wend[f]]
        p += 2 * nw
        rs = f * rawper
        nr = nlsb_[f] + (nsign_[f] + 7) // 8
        out[p : p + nr] = rb[rs : rs + nr]  # the LSB planes and sign bits as made above
        p += nlsb_[f]
        bp = nsign_[f]
        for t in range(nbc):
            if besc[f * nbc + t]:
                s = shift[cls[f, t]]
                qq = q[f, t // nb]
                lo = (t % nb) * BAND
                for k in range(lo, lo + BAND):
                    x = np.int64(qq[k])
                    msb = (-x if x < 0 else x) >> s
                    if msb >= ESC:
                        ev = msb - ESC + 1
                        L = _bitlen(ev)
                        bp += L - 1
                        for i in range(L - 1, -1, -1):
                            if (ev >> i) & 1:
                                out[p + (bp >> 3)] |= 1 << (7 - (bp & 7))
                            bp += 1
        p += (bp + 7) >> 3
        offs[f + 1] = p
    return out[:p], offs, cut


fold_block16 = fold_block  # x as an int16 spool's quotients, windows times 256: the same products (x·256·w, 256 exact)
pack16 = pack  # q as int16 (what tqa.sv2._Kept reads back): the JIT dispatches by type


@_jit
def zero_map(x, n, zrun, z):  # pragma: no cover - compiled
    """codec.zero_map into z (F, ch, n): samples of each frame's hop (x (F·n, ch)) inside runs
    of at least zrun exact zeros; returns whether there is any."""
    F, ch, _ = z.shape
    anyz = False
    cnt = np.zeros(ch, np.int64)
    for f in range(F):
        if ch > 8:  # many channels: zeros counted row by row (a channel at a time reads a cache line a sample: 192 channels 18 -> 3.4 ms)
            cnt[:] = 0
            for i in range(n):
                r = x[f * n + i]
                for c in range(ch):
                    cnt[c] += r[c] == 0
        for c in range(ch):
            zz = z[f, c]
            nz = cnt[c]
            if ch <= 8:
                for i in range(n):  # a vectorized count first: most hops hold fewer than zrun zeros (fb5: 26 -> 8 ms)
                    nz += x[f * n + i, c] == 0
            if nz < zrun:
                zz[:] = False
                continue
            i = 0
            while i < n:
                if x[f * n + i, c] != 0:
                    zz[i] = False
                    i += 1
                    continue
                j = i
                while j < n and x[f * n + j, c] == 0:
                    j += 1
                keep = j - i >= zrun
                anyz |= keep
                for k in range(i, j):
                    zz[k] = keep
                i = j
    return anyz


@_jit
def segments16(v, first, N, out):  # pragma: no cover - compiled
    """out (ch, F, 2N) = the 2N samples of int16 v (samples, ch) from first[f] on, times 256 (an
    int16 spool's grid: exact), frame by frame: no transposed copy, window gather and product
    of NumPy's (54 calls of 128 frames at hop 1024, as an fb5 encode makes: 61 -> 13 ms, measured)."""
    ch = v.shape[1]
    for f in range(first.size):
        b = first[f]
        if ch == 2:  # both channels in one sweep along the samples (~2x, measured)
            o0 = out[0, f]
            o1 = out[1, f]
            for i in range(2 * N):
                o0[i] = np.float64(v[b + i, 0]) * 256.0
                o1[i] = np.float64(v[b + i, 1]) * 256.0
            continue
        for c in range(ch):
            o = out[c, f]
            for i in range(2 * N):
                o[i] = np.float64(v[b + i, c]) * 256.0


@_jit
def to_int32(gt, q):  # pragma: no cover - compiled
    """q (k, ch) = the grid samples gt (ch, k) (any layout) as int32, interleaved; returns whether
    every one is an integer in [-2**31, 2**31) (what ``g.astype(int32)`` equal to g means)."""
    ch, k = gt.shape
    ok = True
    for c in range(ch):
        row = gt[c]
        for i in range(k):
            v = row[i]
            if v >= -2147483648.0 and v <= 2147483647.0:
                n = np.int32(v)
                q[i, c] = n
                ok &= np.float64(n) == v
            else:  # out of range or NaN
                q[i, c] = 0
                ok = False
    return ok


@_jit
def to_int16(gt, q):  # pragma: no cover - compiled
    """q (k, ch) = the grid samples gt (ch, k) (any layout) divided by 256, as int16, interleaved;
    returns whether every one is a multiple of 256 whose quotient lies in [-2**15, 2**15) (a
    16-bit source's grid: what ``(g / 256).astype(int16)`` equal to g / 256 means).  Stops at
    the first that is not (q is then incomplete)."""
    ch, k = gt.shape
    for c in range(ch):
        row = gt[c]
        for i in range(k):
            t = row[i] * 0.00390625  # / 256, exact
            if not (t >= -32768.0 and t <= 32767.0):  # out of range or NaN
                return False
            n = np.int16(t)
            if np.float64(n) != t:
                return False
            q[i, c] = n
    return True


@_jit
def _sq_sum(v, base, L):  # pragma: no cover - compiled
    """Sum of squares of v[base:base+L] in NumPy einsum's order over a contiguous run (two lanes
    and four products a step, then pairs zero-filled, then the two lanes)."""
    a0 = 0.0
    a1 = 0.0
    i = base
    end = base + L
    while i + 8 <= end:
        t0 = v[i + 6] * v[i + 6] + a0
        t1 = v[i + 7] * v[i + 7] + a1
        t0 = v[i + 4] * v[i + 4] + t0
        t1 = v[i + 5] * v[i + 5] + t1
        t0 = v[i + 2] * v[i + 2] + t0
        t1 = v[i + 3] * v[i + 3] + t1
        a0 = v[i] * v[i] + t0
        a1 = v[i + 1] * v[i + 1] + t1
        i += 8
    while i < end:
        a0 = v[i] * v[i] + a0
        if i + 1 < end:
            a1 = v[i + 1] * v[i + 1] + a1
        i += 2
    return a0 + a1


@_jit
def energy_slice(blk, prev, m, out):  # pragma: no cover - compiled
    """codec.energy_slice_numpy: out[s] = the sum over sub-block s (m samples of blk (n, ch), any
    layout) of the squared first differences (the first after ``prev`` (1, ch)), all channels,
    in einsum's order over the (sample, channel) run, divided by m."""
    _energy_slice(blk, prev, m, out, 1.0)


@_jit
def energy_slice16(blk, prev, m, out):  # pragma: no cover - compiled
    """:func:`energy_slice` of an int16 spool's quotients blk, prev: each sample read as the grid's
    256·q (exact), so the same values without a float64 copy of the samples."""
    _energy_slice(blk, prev, m, out, 256.0)


@_jit
def _energy_slice(blk, prev, m, out, gain):  # pragma: no cover - compiled
    """:func:`energy_slice` of the samples blk·gain (gain 1, or 256 for int16 quotients: exact)."""
    n, ch = blk.shape
    if ch == 2 and m % 4 == 0:
        _energy_slice2(blk, prev, m, out, gain)
        return
    L = m * ch
    buf = np.empty(L)
    for s in range(n // m):
        p = 0
        for j in range(s * m, (s + 1) * m):
            for c in range(ch):
                buf[p] = blk[j, c] * gain - (blk[j - 1, c] * gain if j > 0 else prev[0, c] * gain)
                p += 1
        out[s] = _sq_sum(buf, 0, L) / m


@_jit
def _energy_slice2(blk, prev, m, out, gain):  # pragma: no cover - compiled
    """:func:`energy_slice` of stereo blk, m a multiple of 4, without the differences' buffer: over
    the (sample, channel) run einsum's even lane is channel 0 and its odd lane channel 1, and a
    step of eight elements is four samples, added last sample first (:func:`_sq_sum`).  Reads
    each sample once (the previous one carried over): ~3x the buffered loop's speed on a
    strided slice, measured."""
    n = blk.shape[0]
    p0 = prev[0, 0] * gain
    p1 = prev[0, 1] * gain
    for s in range(n // m):
        a0 = 0.0
        a1 = 0.0
        for j in range(s * m, (s + 1) * m, 4):
            x0 = blk[j, 0] * gain
            x1 = blk[j + 1, 0] * gain
            x2 = blk[j + 2, 0] * gain
            x3 = blk[j + 3, 0] * gain
            y0 = blk[j, 1] * gain
            y1 = blk[j + 1, 1] * gain
            y2 = blk[j + 2, 1] * gain
            y3 = blk[j + 3, 1] * gain
            d3 = x3 - x2
            e3 = y3 - y2
            d2 = x2 - x1
            e2 = y2 - y1
            d1 = x1 - x0
            e1 = y1 - y0
            d0 = x0 - p0
            e0 = y0 - p1
            t0 = d3 * d3 + a0
            t1 = e3 * e3 + a1
            t0 = d2 * d2 + t0
            t1 = e2 * e2 + t1
            t0 = d1 * d1 + t0
            t1 = e1 * e1 + t1
            a0 = d0 * d0 + t0
            a1 = e0 * e0 + t1
            p0 = x3
            p1 = y3
        out[s] = (a0 + a1) / m
