"""Compiled (numba) loops of the sv2 entropy coder: the same integer arithmetic as the NumPy
lanes in tqa.sv2.rans and tqa.sv2.codec, one lane (frame) at a time.  Optional: without numba
(or with TQA_SV2_JIT=0) the NumPy path runs; tests check both give identical bytes."""

from __future__ import annotations

import os

import numpy as np

try:  # pragma: no cover - depends on the environment
    if os.environ.get("TQA_SV2_JIT", "1") == "0":
        raise ImportError
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover
    AVAILABLE = False

if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True)

    @_jit
    def encode_lanes(dsym, dtab, csym, ctab, cstart, cum, freq):  # pragma: no cover - compiled
        """Per frame f: symbols dsym[f] (tables dtab[f]) then csym[cstart[f]:cstart[f+1]] (ctab);
        returns (words, word offsets (F+1,)) in decoder order."""
        F, nbc = dsym.shape
        total = 0
        cap = 2 * F + 2 * (F * nbc + csym.size)  # at most one word per symbol, plus the states
        out = np.empty(cap, np.uint16)
        offs = np.zeros(F + 1, np.int64)
        tmp = np.empty(nbc + int(np.max(cstart[1:] - cstart[:-1])) + 2 if F else 2, np.uint16)
        for f in range(F):
            x = np.int64(1 << 16)
            k = 0
            c0, c1 = cstart[f], cstart[f + 1]
            for i in range(c1 - 1, c0 - 1, -1):
                t, s = ctab[i], csym[i]
                fr = freq[t, s]
                if x >= (fr << 20):
                    tmp[k] = x & 0xFFFF
                    k += 1
                    x >>= 16
                x = ((x // fr) << 12) + (x % fr) + cum[t, s]
            for i in range(nbc - 1, -1, -1):
                t, s = dtab[f, i], dsym[f, i]
                fr = freq[t, s]
                if x >= (fr << 20):
                    tmp[k] = x & 0xFFFF
                    k += 1
                    x >>= 16
                x = ((x // fr) << 12) + (x % fr) + cum[t, s]
            out[total] = x >> 16
            out[total + 1] = x & 0xFFFF
            total += 2
            for j in range(k - 1, -1, -1):
                out[total] = tmp[j]
                total += 1
            offs[f + 1] = total
        return out[:total], offs

    # error codes of unpack_frames, by phase (code // 10): the phases of the NumPy reference
    # (tqa.sv2.codec._unpack_frames_numpy), which checks each phase on every frame before the next
    E_HEADER, E_TRUNC, E_STEP, E_RUN, E_VARINT = 1, 2, 3, 4, 5
    E_CLASS, E_RANS = 10, 11
    E_LSB, E_SIGN, E_ESC, E_COEF = 20, 30, 40, 50

    @_jit
    def unpack_frames(buf, offs, ch, n, C, band, esc, emax, freq, cum, lut, delta, shift, half, step, limit, ms,
                      X, hdr, ee, zmap, err):  # pragma: no cover - compiled  # fmt: skip
        """Frame f's payload buf[offs[f]:offs[f+1]] to its coefficients X[:, f] (ch, F, n: each
        value written where err[f] == 0), header
        byte hdr[f], step refinements ee[f] and silence map zmap[f]; err[f] = 0 or the code of the
        first problem met (E_*).  ms > 0: stereo frames flagged M/S are turned back to L/R (with
        factor ms = sqrt(0.5): tqa.sv2.codec.apply_ms's operations); else X stays in the coded
        domain (M/S, rotated).  Tables (tqa.sv2.codec._decode_tables): freq (tables, S); cum
        (tables, S + 1), its last column PROB; lut the symbol at every 16th slot.  band must be 16.
        Frames go in pairs: their rANS lanes are stepped together (two independent chains of
        dependent loads keep the core busier than one)."""
        F = offs.size - 1
        nbc = ch * (n // band)
        cls = np.zeros((2, nbc), np.int64)
        bcl = np.zeros((2, nbc), np.int64)
        sym = np.zeros((2, ch * n), np.int64)
        lsb = np.empty(ch * n, np.int64)
        st = np.zeros((2, 4), np.int64)  # per lane: word position, word count, coded symbols, ok
        for f0 in range(0, F, 2):
            nl = min(2, F - f0)
            for l in range(nl):
                f = f0 + l
                err[f] = _header(buf, offs[f], offs[f + 1], f, ch, n, emax, hdr, ee, zmap, st[l])
            _lanes(buf, f0, nl, nbc, C, freq, cum, lut, err, st, cls, bcl, sym)
            for l in range(nl):
                f = f0 + l
                if err[f] != 0:
                    continue
                err[f] = _coefs(buf, st[l, 0] + 2 * st[l, 1], offs[f + 1], f, n, nbc, band, esc, delta, shift, half,
                                step, limit, X, ee, cls[l], sym[l], lsb)  # fmt: skip
                if ms > 0 and err[f] == 0 and hdr[f] & 8 and ch == 2:
                    for k in range(n):
                        a = X[0, f, k]
                        b = X[1, f, k]
                        X[0, f, k] = (a + b) * ms
                        X[1, f, k] = (a - b) * ms

    @_jit
    def _u16(buf, i):  # pragma: no cover
        return np.int64(buf[i]) | (np.int64(buf[i + 1]) << 8)

    @_jit
    def _bit(buf, base, q):  # pragma: no cover - bit q (MSB first) of the bytes from buf[base]
        return (np.int64(buf[base + (q >> 3)]) >> (7 - (q & 7))) & 1

    @_jit
    def _header(buf, lo, hi, f, ch, n, emax, hdr, ee, zmap, st):  # pragma: no cover
        """Header byte, step refinements, silence runs, word count: st = (words' position, count)."""
        if hi <= lo or buf[lo] > 31:
            return E_HEADER
        h = np.int64(buf[lo])
        hdr[f] = h
        pos = lo + 1
        if h & 1:
            if hi - lo < 9:
                return E_TRUNC
            big = False
            for k in range(8):
                ee[f, k] = buf[lo + 1 + k]
                big |= ee[f, k] > emax
            if big:
                return E_STEP
            pos = lo + 9
        if h & 16:
            for c in range(ch):
                if pos >= hi:
                    return E_TRUNC
                k = np.int64(buf[pos])
                pos += 1
                if pos + 4 * k > hi:
                    return E_TRUNC
                for r in range(k):
                    if _u16(buf, pos + 4 * r) + _u16(buf, pos + 4 * r + 2) > n:
                        return E_RUN
                for r in range(k):
                    a0 = _u16(buf, pos + 4 * r)
                    for i in range(a0, a0 + _u16(buf, pos + 4 * r + 2)):
                        zmap[f, c, i] = True
                pos += 4 * k
        nw = np.int64(0)
        sh = 0
        while True:
            if pos >= hi or sh > 28:
                return E_VARINT
            b = np.int64(buf[pos])
            pos += 1
            nw |= (b & 0x7F) << sh
            sh += 7
            if not b & 0x80:
                break
        if pos + 2 * nw > hi or nw < 2:
            return E_TRUNC
        st[0] = pos
        st[1] = nw
        return 0

    @_jit
    def _sym(x, t, freq, cum, lut):  # pragma: no cover - one rANS symbol: (symbol, state before renormalization)
        slot = x & 4095
        s = np.int64(lut[t, slot >> 4])
        while slot >= cum[t, s + 1]:
            s += 1
        return s, freq[t, s] * (x >> 12) + slot - cum[t, s]

    @_jit
    def _lanes(buf, f0, nl, nbc, C, freq, cum, lut, err, st, cls, bcl, sym):  # pragma: no cover
        """The rANS lanes of frames f0 .. f0+nl-1 (nl <= 2) whose headers were read, stepped
        together: nbc class deltas (tables 0/1 by prev != 0), then 16 coefficient symbols per coded
        band (table 1 + class).  cls[l], sym[l]: classes, symbols; st[l, 2]: symbols."""
        x = np.zeros(2, np.int64)
        p = np.full(2, 2, np.int64)
        prev = np.zeros(2, np.int64)
        ok0 = err[f0] == 0
        ok1 = nl == 2 and err[f0 + 1] == 0
        if ok0:
            x[0] = (_u16(buf, st[0, 0]) << 16) | _u16(buf, st[0, 0] + 2)
        if ok1:
            x[1] = (_u16(buf, st[1, 0]) << 16) | _u16(buf, st[1, 0] + 2)
        x0, x1 = x[0], x[1]
        p0, p1 = p[0], p[1]
        w0, w1 = st[0, 0], st[1, 0]
        n0, n1 = st[0, 1], st[1, 1]
        prev0, prev1 = prev[0], prev[1]
        for i in range(nbc):
            if ok0:
                s, x0 = _sym(x0, 0 if prev0 == 0 else 1, freq, cum, lut)
                if x0 < 65536:
                    if p0 >= n0:
                        err[f0] = E_RANS
                        ok0 = False
                    x0 = (x0 << 16) | _u16(buf, w0 + 2 * p0)
                    p0 += 1
                prev0 = prev0 + s - (C - 1)
                if ok0 and (prev0 < 0 or prev0 >= C):
                    err[f0] = E_CLASS
                    ok0 = False
                cls[0, i] = prev0
            if ok1:
                s, x1 = _sym(x1, 0 if prev1 == 0 else 1, freq, cum, lut)
                if x1 < 65536:
                    if p1 >= n1:
                        err[f0 + 1] = E_RANS
                        ok1 = False
                    x1 = (x1 << 16) | _u16(buf, w1 + 2 * p1)
                    p1 += 1
                prev1 = prev1 + s - (C - 1)
                if ok1 and (prev1 < 0 or prev1 >= C):
                    err[f0 + 1] = E_CLASS
                    ok1 = False
                cls[1, i] = prev1
        m0 = 0
        m1 = 0
        if ok0:
            for i in range(nbc):
                if cls[0, i] > 0:
                    bcl[0, m0] = cls[0, i]
                    m0 += 1
        if ok1:
            for i in range(nbc):
                if cls[1, i] > 0:
                    bcl[1, m1] = cls[1, i]
                    m1 += 1
        m0 *= 16
        m1 *= 16
        t0 = 0
        t1 = 0
        for k in range(max(m0, m1)):
            if ok0 and k < m0:
                if k & 15 == 0:
                    t0 = 1 + bcl[0, k >> 4]
                s, x0 = _sym(x0, t0, freq, cum, lut)
                if x0 < 65536:
                    if p0 >= n0:
                        err[f0] = E_RANS
                        ok0 = False
                    x0 = (x0 << 16) | _u16(buf, w0 + 2 * p0)
                    p0 += 1
                sym[0, k] = s
            if ok1 and k < m1:
                if k & 15 == 0:
                    t1 = 1 + bcl[1, k >> 4]
                s, x1 = _sym(x1, t1, freq, cum, lut)
                if x1 < 65536:
                    if p1 >= n1:
                        err[f0 + 1] = E_RANS
                        ok1 = False
                    x1 = (x1 << 16) | _u16(buf, w1 + 2 * p1)
                    p1 += 1
                sym[1, k] = s
        if ok0 and (p0 != n0 or x0 != 65536):
            err[f0] = E_RANS
        if ok1 and (p1 != n1 or x1 != 65536):
            err[f0 + 1] = E_RANS

    @_jit
    def _coefs(buf, rp, hi, f, n, nbc, band, esc, delta, shift, half, step, limit, X, ee, cls, sym, lsb):  # pragma: no cover
        """LSB planes (2 bytes a plane, MSB plane first) from buf[rp], then sign bits and escapes;
        dequantized into X[:, f]."""
        lsb_bytes = 0
        for i in range(nbc):
            lsb_bytes += 2 * shift[cls[i]]
        if lsb_bytes > hi - rp:
            return E_LSB
        k = 0
        nz = 0
        for i in range(nbc):
            c = cls[i]
            if c == 0:
                continue
            for j in range(band):
                lsb[k + j] = 0
            for pl in range(shift[c]):
                b0 = np.int64(buf[rp])
                b1 = np.int64(buf[rp + 1])
                rp += 2
                for j in range(8):
                    lsb[k + j] = (lsb[k + j] << 1) | ((b0 >> (7 - j)) & 1)
                    lsb[k + 8 + j] = (lsb[k + 8 + j] << 1) | ((b1 >> (7 - j)) & 1)
            for j in range(band):
                if sym[k + j] > 0 or lsb[k + j] > 0:
                    nz += 1
            k += band
        tb = rp  # the tail: sign bits (nonzero coefficients, in order), then Exp-Golomb escapes
        end = 8 * (hi - tb)
        if nz > end:
            return E_SIGN
        sp = 0
        ep = nz
        over = False
        sv = np.empty(8)
        sgn = np.array((1.0, -1.0))
        for j in range(8):
            sv[j] = step * half[ee[f, j]]
        off = np.empty((delta.shape[0], 3))
        for c in range(delta.shape[0]):
            for j in range(3):
                off[c, j] = delta[c, j] * (1.0 / 128)
        k = 0
        for i in range(nbc):
            c = cls[i]
            xc = X[i // (n // band), f]
            base = i % (n // band) * band
            if c == 0:
                for j in range(band):
                    xc[base + j] = 0.0
                continue
            s = shift[c]
            for j in range(band):
                m = sym[k]
                if m == esc:
                    q = ep
                    while q < end and q - ep <= 40 and _bit(buf, tb, q) == 0:
                        q += 1
                    z = q - ep
                    if q >= end or z > 40 or q + z + 1 > end:
                        return E_ESC
                    v = np.int64(0)
                    for u in range(z + 1):
                        v = (v << 1) | _bit(buf, tb, q + u)
                    m = esc - 1 + v
                    ep = q + z + 1
                a = (m << s) | lsb[k]
                val = (np.float64(a) - off[c, max(min(a, 3) - 1, 0)]) * sv[j & 7]
                over |= val > limit
                val = val * sgn[_bit(buf, tb, sp)]  # exactly -val or val
                nzf = a != 0
                xc[base + j] = val if nzf else 0.0
                sp += nzf
                k += 1
        return E_COEF if over else 0

    @_jit
    def scaled_int16(g, f, off, out):  # pragma: no cover - compiled
        """out[i, c] = int16(clip(rint(g[c, i] * f[c] + off[c]), -32768, 32767)) of (ch, m) grid rows
        g into (m, ch) out (the array codec's decode of an int16 chunk: the operations of scaling by
        f, then tqa.arraycodec._from_float with the chunk's offsets (zeros where it has none), in
        one pass); 64 samples of every channel at a time, so that the transposed writes stay in
        the cache."""
        ch, m = g.shape
        for i0 in range(0, m, 64):
            i1 = min(m, i0 + 64)
            for c in range(ch):
                fc = f[c]
                oc = off[c]
                for i in range(i0, i1):
                    v = np.rint(g[c, i] * fc + oc)
                    if v < -32768.0:
                        v = -32768.0
                    elif v > 32767.0:
                        v = 32767.0
                    out[i, c] = np.int16(v)

    @_jit
    def synthesize(U, kind, wid, W, m, hops, seg):  # pragma: no cover - compiled
        """Window and overlap-add the DCT-IV outputs U (ch, F, n) of F consecutive frames into
        hops (ch, F+1, n) (any values on entry; rounded to integers on exit), the operations of
        tqa.sv2.transform.inverse in its order, bit for bit: hop h = 0.0 + (frame h's first half)
        + (frame h-1's second half); a short frame's 2n segment = 0.0 + its blocks' unfolded
        halves.  kind[f]: 0 long (window W[wid[f, 0]] of 2n), 1 short: its 8 blocks of m
        coefficients stored block after block in U[c, f] (block b's window W[wid[f, b]], first 2m
        values).  seg: scratch of 2n."""
        ch, F, n = U.shape
        h = n // 2
        q = m // 2
        for c in range(ch):
            for f in range(F):
                u = U[c, f]
                if kind[f] == 0:
                    w = W[wid[f, 0]]
                    for j in range(h):
                        seg[j] = u[h + j] * w[j]
                        seg[h + j] = -u[n - 1 - j] * w[h + j]
                        seg[n + j] = -u[h - 1 - j] * w[n + j]
                        seg[n + h + j] = -u[j] * w[n + h + j]
                else:
                    for j in range(2 * n):
                        seg[j] = 0.0
                    for b in range(8):
                        w = W[wid[f, b]]
                        lo = h - q + b * m
                        o = b * m
                        for j in range(q):
                            seg[lo + j] += u[o + q + j] * w[j]
                            seg[lo + q + j] += -u[o + m - 1 - j] * w[q + j]
                            seg[lo + m + j] += -u[o + q - 1 - j] * w[m + j]
                            seg[lo + m + q + j] += -u[o + j] * w[m + q + j]
                a = hops[c, f]
                bb = hops[c, f + 1]
                if f == 0:
                    for j in range(n):
                        a[j] = np.rint(0.0 + seg[j])
                else:
                    for j in range(n):
                        a[j] = np.rint(a[j] + seg[j])  # (0.0 + frame f-1's half) + frame f's: complete
                for j in range(n):
                    bb[j] = 0.0 + seg[n + j]
            a = hops[c, F]
            for j in range(n):
                a[j] = np.rint(a[j])
