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

    @_jit
    def decode_lanes(words, starts, counts, nbc, C, band, freq, cum, lut, cls_out, sym_out, ncoef):  # pragma: no cover
        """Decode each lane: nbc class deltas (tables 0/1 by prev != 0), then 16 coefficient
        symbols per coded band (table 1 + class).  Returns the index of the first bad lane or -1."""
        F = starts.size
        for f in range(F):
            p = starts[f]
            end = starts[f] + counts[f]
            if counts[f] < 2:
                return f
            x = (np.int64(words[p]) << 16) | np.int64(words[p + 1])
            p += 2
            prev = 0
            for i in range(nbc):
                t = 0 if prev == 0 else 1
                slot = x & 4095
                s = lut[t, slot]
                x = freq[t, s] * (x >> 12) + slot - cum[t, s]
                if x < 65536:
                    if p >= end:
                        return f
                    x = (x << 16) | np.int64(words[p])
                    p += 1
                prev = prev + s - (C - 1)
                if prev < 0 or prev >= C:
                    return f
                cls_out[f, i] = prev
            k = 0
            for i in range(nbc):
                c = cls_out[f, i]
                if c == 0:
                    continue
                t = 1 + c
                for j in range(band):
                    slot = x & 4095
                    s = lut[t, slot]
                    x = freq[t, s] * (x >> 12) + slot - cum[t, s]
                    if x < 65536:
                        if p >= end:
                            return f
                        x = (x << 16) | np.int64(words[p])
                        p += 1
                    sym_out[f, k] = s
                    k += 1
            ncoef[f] = k
            if p != end or x != 65536:
                return f
        return -1
