"""Vectorized rANS with one lane per frame (numpy, exactly invertible, integer only).

State x in [2**16, 2**32), 16-bit words, probabilities in 12 bits (M = 4096).  Every lane
(one per frame) codes its own symbol sequence; the encoder and decoder step all lanes at
once, symbol position by symbol position, so the Python loop runs over the longest lane,
not over the symbols.

Lane stream (what the decoder reads, in order): the final encoder state as two words
(high, low), then one word for each decoded symbol after which the state fell below 2**16.
"""

from __future__ import annotations

import numpy as np

PROB_BITS = 12
PROB = 1 << PROB_BITS
L = 1 << 16

# W[e] = floor(2**(24 - e/2)), integers only: the weight of a symbol whose log code is e
_W = np.array([int(__import__("math").isqrt(1 << (48 - e))) for e in range(31)] + [0], np.int64)
ABSENT = 31


def freqs_from_codes(codes: np.ndarray) -> np.ndarray:
    """Integer frequencies (summing to PROB) of tables given by 5-bit log codes (..., S); 31 = absent.

    Each present symbol gets at least 1; the rest is shared in proportion to W[e]; the remainder
    of the integer division goes to the first largest.  Integer arithmetic only.
    """
    codes = np.asarray(codes, np.int64)
    w = _W[codes]
    present = codes != ABSENT
    n = present.sum(-1, keepdims=True)
    tot = np.maximum(w.sum(-1, keepdims=True), 1)
    f = np.where(present, 1 + (w * (PROB - n)) // tot, 0)
    rest = PROB - f.sum(-1)
    idx = np.argmax(w, axis=-1)
    if f.ndim == 2:  # the decoder's tables (one per stream): plain indexing, ~1/3 of the call (take/put_along_axis)
        f[np.arange(f.shape[0]), idx] += rest
        return f
    np.put_along_axis(f, idx[..., None], np.take_along_axis(f, idx[..., None], -1) + rest[..., None], -1)
    return f


def codes_from_counts(counts: np.ndarray) -> np.ndarray:
    """5-bit log codes (round(-2 log2 p), 0..30; 31 for an unused symbol) of count tables (..., S)."""
    counts = np.asarray(counts, np.float64)
    tot = np.maximum(counts.sum(-1, keepdims=True), 1)
    with np.errstate(divide="ignore"):
        e = np.clip(np.rint(-2 * np.log2(counts / tot)), 0, 30)
    return np.where(counts > 0, e, ABSENT).astype(np.int64)


def cum_of(f: np.ndarray) -> np.ndarray:
    return np.concatenate((np.zeros(f.shape[:-1] + (1,), np.int64), np.cumsum(f, -1)[..., :-1]), -1)


def lut_of(f: np.ndarray) -> np.ndarray:
    """slot -> symbol lookup (tables, PROB) of frequency tables (tables, S)."""
    t, s = f.shape
    out = np.empty((t, PROB), np.int64)
    for i in range(t):
        out[i] = np.repeat(np.arange(s), f[i])
    return out


def encode(start: np.ndarray, freq: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """Code lanes: start/freq (lanes, T) of each symbol (padding beyond lengths ignored).

    Returns, per lane, its uint16 word stream in decoder order.
    """
    lanes, T = start.shape
    x = np.full(lanes, L, np.int64)
    words = np.zeros((T, lanes), np.int64)
    emit = np.zeros((T, lanes), bool)
    for t in range(T - 1, -1, -1):
        act = lengths > t
        f = np.where(act, freq[:, t], 1)
        e = act & (x >= (f << 20))
        words[t] = x & 0xFFFF
        emit[t] = e
        x = np.where(e, x >> 16, x)
        xn = ((x // f) << PROB_BITS) + (x % f) + start[:, t]
        x = np.where(act, xn, x)
    out = []
    wt, et = words.T, emit.T
    for i in range(lanes):
        out.append(np.concatenate(([x[i] >> 16, x[i] & 0xFFFF], wt[i][et[i]])).astype(np.uint16))
    return out


class Decoder:
    """Steps all lanes at once: ``step(tables, active)`` decodes one symbol per active lane."""

    def __init__(self, words: np.ndarray, starts: np.ndarray, counts: np.ndarray, freq, cum, lut) -> None:
        self.w = words.astype(np.int64)
        self.s = starts.astype(np.int64)
        self.n = counts.astype(np.int64)
        if np.any(self.n < 2):
            raise ValueError("rANS lane too short")
        self.x = (self.w[self.s] << 16) | self.w[self.s + 1]
        self.p = np.full(self.s.size, 2, np.int64)
        self.freq, self.cum, self.lut = freq, cum, lut
        self.overrun = np.zeros(self.s.size, bool)

    def step(self, tab: np.ndarray, active: np.ndarray) -> np.ndarray:
        x = self.x
        slot = x & (PROB - 1)
        sym = self.lut[tab, slot]
        xn = self.freq[tab, sym] * (x >> PROB_BITS) + slot - self.cum[tab, sym]
        need = active & (xn < L)
        ok = self.p < self.n
        self.overrun |= need & ~ok
        idx = np.minimum(self.s + self.p, self.w.size - 1)
        xn = np.where(need, (xn << 16) | self.w[idx], xn)
        self.p += need
        self.x = np.where(active, xn, x)
        return sym
