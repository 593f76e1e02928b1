"""Block-switched MDCT (a lapped orthogonal transform with variable overlaps).

Frame f owns samples f·N .. (f+1)·N of the signal (N = hop).  It is either one long block
(N coefficients) or, on an attack, ``SHORT`` short blocks of N/SHORT coefficients, stored
interleaved (coefficient k of short block b at k·SHORT + b) so that a band of 16 coefficients
covers the same frequencies in both kinds of frame.

Each block has its own region [A, A+M) and overlaps r (half-widths) at its two edges: a sine
slope over [A-r, A+r], flat 1 inside, zero beyond.  At a boundary between two long frames
r = N/2 (the plain sine-window MDCT of tqa.mdct); where a short block touches it r = N/(2·SHORT);
at the start and the end of the stream r = 0 (a hard edge: no padding, no lost samples).  The
windows satisfy Princen–Bradley in every overlap, so the transform is orthonormal (Parseval:
coefficient-domain error = time-domain error) and reconstructs exactly up to rounding.

Samples of frame f's hop need frames f-1, f and f+1 (the overlaps reach N/2 into the neighbours).
"""

from __future__ import annotations

import functools

import numpy as np

from .. import mdct

SHORT = 8


@functools.lru_cache(maxsize=64)
def block_window(m: int, rl: int, rr: int) -> np.ndarray:
    """The 2m-sample window of a block with own region [m/2, 3m/2) and edge overlaps rl, rr."""
    w = np.zeros(2 * m)
    h = m // 2
    if rl:
        w[h - rl : h + rl] = mdct.window(2 * rl)[: 2 * rl]
    w[h + rl : 3 * h - rr] = 1.0
    if rr:
        w[3 * h - rr : 3 * h + rr] = mdct.window(2 * rr)[2 * rr :]
    w.flags.writeable = False
    return w


def _fold(seg: np.ndarray, w: np.ndarray) -> np.ndarray:
    """DCT-IV of the windowed, folded 2m segments (..., 2m): (..., m) coefficients."""
    m = seg.shape[-1] // 2
    h = m // 2
    s = seg * w
    a, b, c, d = s[..., :h], s[..., h:m], s[..., m : m + h], s[..., m + h :]
    folded = np.concatenate((-c[..., ::-1] - d, a - b[..., ::-1]), axis=-1)
    return mdct._dct4(folded)


def _dct4_inplace(a: np.ndarray) -> np.ndarray:
    """:func:`tqa.mdct._dct4` of a C-contiguous float64 array, written over it (returned): the
    same transform (scipy's pocketfft, orthonormal DCT-IV on the last axis, through
    tqa.sv2.codec._dct4: no scipy.fft import), no copy."""
    from . import codec  # (codec imports this module)

    out = codec._dct4(a)
    if out is not a:  # codec._dct4's fallback (no pocketfft extension found): keep the contract
        a[...] = out
    return a


def _unfold(coef: np.ndarray, w: np.ndarray) -> np.ndarray:
    u = _dct4_inplace(np.array(coef, np.float64, order="C"))  # a copy: mdct._dct4's values
    m = coef.shape[-1]
    h = m // 2
    u1, u2 = u[..., :h], u[..., h:]
    return np.concatenate((u2, -u2[..., ::-1], -u1[..., ::-1], -u1), axis=-1) * w


def overlaps(short: np.ndarray, n: int, first_edge: bool = True, last_edge: bool = True) -> np.ndarray:
    """Half-overlap at each frame boundary 0..F (F+1 values) from the frame kinds (F,) bool."""
    f = short.size
    r = np.full(f + 1, n // 2, np.int64)
    s = np.zeros(f + 2, bool)
    s[1:-1] = short
    r[s[:-1] | s[1:]] = n // (2 * SHORT)
    if first_edge:
        r[0] = 0
    if last_edge:
        r[-1] = 0
    return r


def padded_hops(x: np.ndarray, n: int) -> np.ndarray:
    """(F·n, channels) signal to its hops (channels, F+1, n) shifted by n/2 (zeros at both ends):
    frame f's 2n segment is hops f and f+1 = signal [f n - n/2, f n + 3n/2)."""
    ch = x.shape[1]
    f = x.shape[0] // n
    pad = np.zeros((ch, (f + 1) * n))
    pad[:, n // 2 : n // 2 + f * n] = x.T
    return pad.reshape(ch, f + 1, n)


def segments(hops: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The 2n-sample segments (channels, len(idx), 2n) of frames idx."""
    return np.concatenate((hops[:, idx], hops[:, idx + 1]), axis=-1)


def short_block_offset(n: int, b: int) -> int:
    """Where short block b's 2m window starts inside its frame's 2n segment."""
    m = n // SHORT
    return n // 2 - m // 2 + b * m


def forward_segments(seg: np.ndarray, short: np.ndarray, rl: np.ndarray, rr: np.ndarray) -> np.ndarray:
    """Coefficients (channels, k, n) of frames given by their segments (channels, k, 2n), kinds and
    left/right overlaps (k,) each."""
    ch, f, n2 = seg.shape
    n = n2 // 2
    out = np.empty((ch, f, n))
    long_ = ~short
    for a_, b_ in {(int(a), int(b)) for a, b in zip(rl[long_], rr[long_])}:
        sel = np.flatnonzero(long_ & (rl == a_) & (rr == b_))
        out[:, sel] = _fold(seg[:, sel], block_window(n, a_, b_))
    if short.any():
        m = n // SHORT
        sel = np.flatnonzero(short)
        rs = m // 2
        for b in range(SHORT):
            lo = short_block_offset(n, b)
            sub = seg[:, sel, lo : lo + 2 * m]
            bl = rl[sel] if b == 0 else np.full(sel.size, rs)
            br = rr[sel] if b == SHORT - 1 else np.full(sel.size, rs)
            for a_, b_ in {(int(u), int(v)) for u, v in zip(bl, br)}:
                k = np.flatnonzero((bl == a_) & (br == b_))
                out[:, sel[k], b::SHORT] = _fold(sub[:, k], block_window(m, a_, b_))
    return out


def forward(x: np.ndarray, n: int, short: np.ndarray) -> np.ndarray:
    """(samples, channels) with samples = F·n to (channels, F, n) coefficients."""
    hops = padded_hops(x, n)
    r = overlaps(short, n)
    idx = np.arange(short.size)
    return forward_segments(segments(hops, idx), short, r[:-1], r[1:])


def inverse(coef: np.ndarray, short: np.ndarray, r: np.ndarray) -> np.ndarray:
    """(channels, F, n) coefficients of consecutive frames, their kinds (F,) and boundary
    overlaps (F+1,) to the overlap-added hops (channels, F+1, n): hop i covers signal samples
    (first+i)·n - n/2 .. (first+i)·n + n/2 (padded coordinates) — see :func:`to_samples`."""
    ch, f, n = coef.shape
    out = np.zeros((ch, f + 1, n))
    seg = np.zeros((ch, f, 2 * n))
    long_ = ~short
    for rl, rr in {(int(a), int(b)) for a, b in zip(r[:-1][long_], r[1:][long_])}:
        sel = np.flatnonzero(long_ & (r[:-1] == rl) & (r[1:] == rr))
        seg[:, sel] = _unfold(coef[:, sel], block_window(n, rl, rr))
    if short.any():
        m = n // SHORT
        q = m // 2
        sel = np.flatnonzero(short)
        rs = m // 2
        for b in range(SHORT):
            lo = n // 2 - q + b * m
            rl = np.where(b == 0, r[sel], rs)
            rr = np.where(b == SHORT - 1, r[sel + 1], rs)
            for a_, b_ in {(int(u), int(v)) for u, v in zip(rl, rr)}:
                k = np.flatnonzero((rl == a_) & (rr == b_))
                seg[:, sel[k], lo : lo + 2 * m] += _unfold(coef[:, sel[k], b::SHORT], block_window(m, a_, b_))
    out[:, :-1] += seg[:, :, :n]
    out[:, 1:] += seg[:, :, n:]
    return out


@functools.lru_cache(maxsize=8)
def _window_table(n: int) -> np.ndarray:
    """Windows of :func:`synthesize`, 2n wide: rows 3a + b the long window with overlaps
    (0, n/16, n/2)[a], [b]; rows 9 + 2a + b the short block's (first 2m values) with (0, m/2)[a], [b]."""
    m = n // SHORT
    rs = (0, n // 16, n // 2)
    W = np.zeros((13, 2 * n))
    for a in range(3):
        for b in range(3):
            W[3 * a + b] = block_window(n, rs[a], rs[b])
    for a in range(2):
        for b in range(2):
            W[9 + 2 * a + b, : 2 * m] = block_window(m, a * m // 2, b * m // 2)
    W.flags.writeable = False
    return W


def synthesize(coef: np.ndarray, short: np.ndarray, r: np.ndarray, jit) -> np.ndarray | None:
    """:func:`inverse` rounded to integers (np.rint), through the compiled overlap-add
    (tqa.sv2._jit.synthesize): the same values bit for bit.  ``coef`` (channels, F, n),
    C-contiguous, is overwritten (its DCT-IV).  None where an overlap is not one an encoder
    writes (0, n/16 or n/2; n/16 or 0 around short frames): :func:`inverse` handles those."""
    if coef.dtype != np.float64 or not coef.flags.c_contiguous:  # the types the compiled loops take
        coef = np.ascontiguousarray(coef, np.float64)
    ch, f, n = coef.shape
    m = n // SHORT
    code = np.full(r.shape, -1, np.int64)  # np.select's values (0, 1, 2 by overlap, else -1) without its ~30 us a call
    code[r == n // 2] = 2
    code[r == n // 16] = 1
    code[r == 0] = 0
    if code.min(initial=0) < 0 or np.any(short & ((code[:-1] == 2) | (code[1:] == 2))):
        return None
    wid = np.empty((f, SHORT), np.int64)
    wid[:] = (3 * code[:-1] + code[1:])[:, None]
    if short.any():
        sel = np.flatnonzero(short)
        wid[sel] = 9 + 2 * 1 + 1  # inner blocks: m/2 both sides
        wid[sel, 0] = 9 + 2 * code[sel] + 1
        wid[sel, SHORT - 1] = 9 + 2 + code[sel + 1]
        long_ = np.flatnonzero(~short)
        for c in range(ch if long_.size else 0):  # coef[c, long_] is C-ordered, coef[:, long_] is not (it
            coef[c, long_] = _dct4_inplace(coef[c, long_])  # took scipy.fft's path: its import ~0.2 s)
        blocks = coef[:, sel].reshape(ch, sel.size, m, SHORT).transpose(0, 1, 3, 2)  # block b = coefficients b::SHORT
        coef[:, sel] = _dct4_inplace(np.ascontiguousarray(blocks)).reshape(ch, sel.size, n)
    else:
        _dct4_inplace(coef)
    hops = np.empty((ch, f + 1, n))
    jit.synthesize(coef, short.astype(np.int64), wid, _window_table(n), m, hops, np.empty(2 * n))
    return hops


def to_samples(hops: np.ndarray, first: int, n: int) -> tuple[np.ndarray, int]:
    """Overlap-added hops (from frames first..) to (samples, channels) and the first sample's index.

    Hop i spans padded [(first+i)·n, (first+i+1)·n) = signal [(first+i)·n - n/2, ...).
    """
    ch, h, _ = hops.shape
    return hops.reshape(ch, h * n).T, (first * n) - n // 2
