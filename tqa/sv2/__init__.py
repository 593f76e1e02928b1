"""sv2: the second spectral profile (quality per bit).

Pipeline (encoder):
  grid samples (n, channels), integers on the 2**23 grid
  -> block-switched MDCT, hop N (frame f owns samples f·N .. (f+1)·N; one long block, or 8 short
     blocks on an attack, see tqa.sv2.transform), orthonormal; hard edges at the stream's ends
  -> per frame: L/R or orthonormal M/S (the cheaper by a bit estimate at the step)
  -> optional seeded Hadamard rotation inside each band of 16 (tqa.rotation.signs, label 4; off by
     default: with entropy coding it costs ~0.6 dB, measured)
  -> ONE quantizer step for the whole stream (constant slope: reverse water-filling through
     entropy coding), found on a subset of frames by secant/bisection and corrected on the whole
     stream for ``rate=`` (bits/sample, everything included) or by bisection for ``quality=``
     (SQNR in dB of the whole stream)
  -> pre-echo guard: short blocks from 10 ms before an attack to the one after it use a finer step
     (2**(-e/2), e per block in the frame) so that their noise stays below the quietest part of
     their window (never below 4 16-bit LSBs RMS); digital silence (32-sample segments of exact
     zeros) is flagged and decodes as exact zeros
  -> uniform scalar quantization q = sign·floor(|x|/step + rho); bands whose indices are all 0
     are "empty" (class 0: no bits but their class symbol)
  -> band class c (3 dB grid of the band RMS in steps; context of the coefficient model) coded as
     a delta from the previous band; coefficients: msb = |q| >> shift(c) through a per-class table
     (escape 15 + Exp-Golomb above), shift(c) raw LSBs (byte-aligned bit planes), raw sign bits
  -> rANS (12-bit tables, one lane per frame: all frames stepped at once in NumPy, or per frame in
     numba when installed — byte-identical) with per-stream tables (5-bit log-probability codes
     in params)
  -> reconstruction at the cell centroids: |x| = (|q| - delta[c, min(|q|,3)]) · step, delta per
     class sent in params (the Lloyd–Max centroid condition, measured by the encoder)

Frame payload: header byte (bit 0 short frame, 1/2 left/right overlap short, 3 M/S, 4 silence map),
[8 step refinements if short], [silence map: channels × N/32 bits if bit 4], varint word count,
rANS words (u16 LE), LSB planes, sign and escape bits.  Frames depend only on params, never on
each other: a lost frame loses samples [f·N - N/2, (f+1)·N + N/2) at most.

API:
  params, frames = encode(grid, sample_rate=..., rate=... | quality=..., **settings)
  samples = decode(params, frames)                          # whole stream (n, channels) float64 grid
  samples, start = decode_frames(params, payloads, first)   # frames first..first+len-1 (None = lost)
  samples = read(params, get_frame, start, stop)            # random access by sample range
  first, last = frame_range(params, start, stop)            # frames that read() fetches
  info(params) -> dict;  FrameError (ValueError) with .frame
Frame f owns samples [f·hop, (f+1)·hop); decoding those needs frames f-1, f, f+1.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from . import codec, transform
from .codec import FrameError, Settings, parse_params

__all__ = ["encode", "decode", "decode_frames", "read", "info", "Settings", "FrameError", "frame_range"]

PARAMS_GUESS = 300  # bytes, for the rate budget before the tables exist


CHUNK = 256  # frames analysed at a time
DECODE_CHUNK = 512  # frames decoded at a time
CACHE_BYTES = 400 << 20  # keep the analyses of a stream up to this size, else recompute per pass
SUBSET_FRAMES = 256  # frames the step search runs on (every k-th frame of a longer stream)


class _Stream:
    """The encoder's view of a stream: padded hops, frame kinds, overlaps; analyses by chunk."""

    def __init__(self, xp: np.ndarray, n: int, st: Settings, e128: np.ndarray | None = None) -> None:
        """xp: the signal zero-padded to at least F·hop samples; e128: its sub-block energies at
        128 samples if already known (shared by the hop candidates)."""
        ch = xp.shape[1]
        N = st.hop
        self.st, self.n, self.ch, self.N = st, n, ch, N
        self.F = F = max(1, -(-n // N))
        xp = xp[: F * N]
        if st.transients:
            m = N // transform.SHORT
            if e128 is not None and m % 128 == 0:
                e = e128[: F * N // 128].reshape(-1, m // 128).mean(axis=1)
            else:
                e = codec.subblock_energy(xp, m)
            self.short, self.guard = codec.detect_attacks(e, N, st.attack_ratio, st.sample_rate)
        else:
            self.short, self.guard = np.zeros(F, bool), np.zeros((F, transform.SHORT), bool)
        self.r = transform.overlaps(self.short, N)
        self.hops = transform.padded_hops(xp, N)
        self.zmap = codec.zero_map(xp, N) if st.silence else None
        self.chunks = [np.arange(lo, min(lo + CHUNK, F)) for lo in range(0, F, CHUNK)]
        per_frame = ch * N * 8 * (4 if ch == 2 else 2)  # X, XM, v, Y...
        self._cache = {} if F * per_frame <= CACHE_BYTES else None

    def analysis(self, idx: np.ndarray) -> codec.Analysis:
        return codec.analyze(transform.segments(self.hops, idx), self.short[idx], self.r[idx], self.r[idx + 1], self.st,
                             self.guard[idx])  # fmt: skip

    def chunk(self, i: int) -> codec.Analysis:
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        A = self.analysis(self.chunks[i])
        if self._cache is not None:
            self._cache[i] = A
        return A

    def counts(self, step: float, every: int = 1) -> dict:
        """Statistics of the whole stream (every=1) or of every k-th frame."""
        k = None
        if every == 1:
            for i in range(len(self.chunks)):
                k = codec.add_counts(k, codec.counts(codec.quantize(self.chunk(i), step, self.st)))
            return k
        idx = np.arange(every // 2, self.F, every)
        for lo in range(0, idx.size, CHUNK):
            A = self.analysis(idx[lo : lo + CHUNK])
            k = codec.add_counts(k, codec.counts(codec.quantize(A, step, self.st)))
        return k

    def bits(self, k: dict) -> float:
        return codec.bits_of_counts(k) + 64 * int(self.short.sum())

    def code(self, step: float, tab: codec.Tables) -> list[bytes]:
        frames: list[bytes] = []
        for i, idx in enumerate(self.chunks):
            qz = codec.quantize(self.chunk(i), step, self.st)
            zm = None if self.zmap is None else self.zmap[idx]
            frames += codec.pack_frames(qz, tab, self.short[idx], self.r[idx[0] : idx[-1] + 2], zm)
        return frames


def _frame_fixed_bytes(st: Settings) -> float:
    return st.frame_overhead + 1 + 2 + 4 + 0.5  # container, header, varint, rANS state, raw padding


def _search(f, target: float, lo: float, hi: float, tol: float = 0.002) -> float:
    """Largest log2 step in [lo, hi] with f(log2 step) <= target, f decreasing (bisection)."""
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < tol:
            break
    return hi


def _subset(S: _Stream) -> tuple[codec.Analysis, float]:
    k = max(1, S.F // SUBSET_FRAMES)
    idx = np.arange(k // 2, S.F, k) if k > 1 else np.arange(S.F)
    return S.analysis(idx), S.F / idx.size


def _sub_bits(A: codec.Analysis, st: Settings, ls: float) -> float:
    return codec.estimate_bits(codec.quantize(A, 2.0**ls, st)) + 64 * int(A.short.sum())


def _secant(f, target: float, A: codec.Analysis, st: Settings) -> tuple[float, float]:
    """log2 step where f (bits, decreasing in log2 step) meets target, and the slope there:
    secant steps inside a bracket that bisection keeps (f is monotone, nearly linear)."""
    rms = math.sqrt(float(np.mean(A.X * A.X))) + 1.0
    lo, hi = math.log2(rms) - 40, math.log2(rms) + 12  # f(lo) > target >= f(hi)
    g = math.log2(rms) - max(0.5, st.rate or 3.0)
    fg = f(g)
    slope = -0.5 * A.X.size * (fg / max(A.X.size, 1) + 1)
    for _ in range(30):
        if fg > target:
            lo = g
        else:
            hi = g
        if abs(fg - target) <= 0.001 * target or hi - lo < 0.002:
            break
        nxt = g + (target - fg) / slope if slope < 0 else 0.5 * (lo + hi)
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        fn = f(nxt)
        if nxt != g and fn != fg:
            slope = (fn - fg) / (nxt - g)
        g, fg = nxt, fn
    if slope >= 0:
        slope = (f(g + 0.05) - f(g - 0.05)) / 0.1
    return g, slope


def _rate_encode(S: _Stream, target: float) -> tuple[bytes, list[bytes]]:
    st = S.st
    fixed = 8 * (S.F * _frame_fixed_bytes(st) + PARAMS_GUESS + st.stream_overhead)
    budget = 0.998 * target - fixed
    A, scale = _subset(S)
    g, slope = _secant(lambda ls: scale * _sub_bits(A, st, ls), budget, A, st)
    del A
    if slope < -1.0 and scale > 1:  # one secant step on an estimate from every 4th chunk (or all)
        every = 4 if S.F >= 4 * SUBSET_FRAMES else 1
        part = np.arange(every // 2, S.F, every).size / S.F if every > 1 else 1.0
        kp = S.counts(2.0**g, every)
        b = codec.bits_of_counts(kp) / part + 64 * int(S.short.sum())
        g += (budget - b) / slope
    g = math.log2(codec.clamp_step(2.0**g))
    k = S.counts(2.0**g)
    best = None
    for it in range(8):  # exact size; move the step until within the budget (and not far below it)
        tab = codec.tables_of_counts(k)
        params = codec.pack_params(st, S.ch, S.n, 2.0**g, tab)
        frames = S.code(2.0**g, tab)
        size = 8 * (len(params) + sum(map(len, frames)) + st.frame_overhead * S.F + st.stream_overhead)
        if slope > -1.0:  # silence, or a stream too short for its side info
            return params, frames
        if size <= target:
            best = (params, frames)
            if size >= 0.99 * target or it >= 3:
                break
            g -= (target - size) / -slope * 0.9  # well below: spend what is left
        else:
            if best is not None and it >= 3:
                break
            g += (size - target) / -slope * 1.05 + 0.0005
        g = math.log2(codec.clamp_step(2.0**g))
        k = S.counts(2.0**g)
    return best if best is not None else (params, frames)


def _quality_encode(S: _Stream) -> tuple[bytes, list[bytes]]:
    """The largest step whose whole-stream SQNR meets quality (bisection; distortion measured in
    the orthonormal transform domain, with this step's own centroids)."""
    st = S.st

    def sqnr(ls: float) -> float:
        step = 2.0**ls
        delta = codec.tables_of_counts(S.counts(step)).delta
        e = sig = 0.0
        for i in range(len(S.chunks)):
            qz = codec.quantize(S.chunk(i), step, st)
            stepv = codec.step_map(step, qz.e, qz.Y.shape[2]) if qz.e.any() else step
            Xh = codec.reconstruct(qz.q, qz.cls, delta, stepv)
            e += float(np.sum((qz.Y - Xh) ** 2))
            sig += float(np.sum(qz.Y * qz.Y))
        return float("inf") if e == 0 else 10 * math.log10(sig / e) if sig > 0 else float("inf")

    A, _ = _subset(S)
    rms = math.sqrt(float(np.mean(A.X * A.X))) + 1.0
    lo, hi = math.log2(rms) - 40, math.log2(rms) + 12  # lo meets the target, hi does not
    slo, shi = lo, hi
    for _ in range(60):  # first on the subset, to bracket the whole stream's step
        mid = 0.5 * (slo + shi)
        qz = codec.quantize(A, 2.0**mid, st)
        stepv = codec.step_map(qz.step, qz.e, qz.Y.shape[2]) if qz.e.any() else qz.step
        Xh = codec.reconstruct(qz.q, qz.cls, codec.centroids(qz), stepv)
        if codec.coeff_sqnr(qz.Y, Xh) >= st.quality:
            slo = mid
        else:
            shi = mid
        if shi - slo < 0.01:
            break
    del A
    for w in (0.5, 2.0, 8.0):
        a, b = slo - w, shi + w
        if sqnr(a) >= st.quality and sqnr(b) < st.quality:
            lo, hi = a, b
            break
    tol = 0.002 if S._cache is not None else 0.01
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if sqnr(mid) >= st.quality:
            lo = mid
        else:
            hi = mid
        if hi - lo < tol:
            break
    step = codec.clamp_step(2.0**lo)
    tab = codec.tables_of_counts(S.counts(step))
    return codec.pack_params(st, S.ch, S.n, step, tab), S.code(step, tab)


def _subset_distortion(A: codec.Analysis, st: Settings, step: float) -> float:
    qz = codec.quantize(A, step, st)
    delta = codec.tables_of_counts(codec.counts(qz)).delta
    stepv = codec.step_map(step, qz.e, qz.Y.shape[2]) if qz.e.any() else step
    return float(np.sum((qz.Y - codec.reconstruct(qz.q, qz.cls, delta, stepv)) ** 2))


def _pick_hop(xp: np.ndarray, n: int, st: Settings, e128) -> "_Stream":
    """hop 1024 or 2048, whichever has the lower distortion at the rate on the same samples (a
    subset of 2048-sample stretches; both transforms see the same stretches)."""
    ch = xp.shape[1]
    S2 = _Stream(xp, n, dataclasses.replace(st, hop=2048), e128)
    k = max(1, S2.F // 96)
    idx2 = np.arange(k // 2, S2.F, k)
    S1 = _Stream(xp, n, dataclasses.replace(st, hop=1024), e128)
    idx1 = np.sort(np.concatenate((2 * idx2, 2 * idx2 + 1)))
    idx1 = idx1[idx1 < S1.F]
    best, score = S1, None
    for hop, S, idx in ((1024, S1, idx1), (2048, S2, idx2)):
        A = S.analysis(idx)
        sst = S.st
        budget = st.rate * idx2.size * 2048 * ch - 8 * idx.size * _frame_fixed_bytes(sst)
        g, _ = _secant(lambda ls: _sub_bits(A, sst, ls), budget, A, sst)
        d = _subset_distortion(A, sst, 2.0**g)
        if score is None or d < score:
            best, score = S, d
    return best


def encode(grid, **settings) -> tuple[bytes, list[bytes]]:
    """Encode (n, channels) float64 grid samples (integers on the 2**23 grid; (n,) is mono).

    settings: see tqa.sv2.codec.Settings (rate= or quality=, sample_rate=, hop=, frame_overhead=, ...).
    Returns (params, frames): params (stream header: tables, step), one payload per frame.
    """
    st = Settings(**settings)
    x = np.asarray(grid, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n = x.shape[0]
    xp = np.zeros((-(-max(n, 1) // 2048) * 2048, x.shape[1]))
    xp[:n] = x
    e128 = codec.subblock_energy(xp, 128) if st.transients else None
    if st.hop == "auto" and st.rate is not None:
        S = _pick_hop(xp, n, st, e128)
    else:
        S = _Stream(xp, n, dataclasses.replace(st, hop=1024) if st.hop == "auto" else st, e128)
    if S.st.rate is not None:
        return _rate_encode(S, st.rate * max(S.n, 1) * S.ch)
    return _quality_encode(S)


def info(params: bytes) -> dict:
    p = parse_params(params)
    return {"channels": p.channels, "hop": p.hop, "sample_rate": p.sample_rate, "n_samples": p.n_samples,
            "n_frames": p.n_frames, "step": p.step, "rotate": p.rotate}  # fmt: skip


def decode_frames(params: bytes | codec.Params, payloads: list, first: int = 0) -> tuple[np.ndarray, int]:
    """Overlap-add frames first..first+len(payloads)-1 alone.

    Returns (samples (m, channels), start): samples start .. start+m of the signal (clipped to the
    stream) to which these frames contribute; only [first·hop + hop/2, (last+1)·hop - hop/2) is
    complete (plus the stream's ends: frames 0 and F-1 have hard edges).  A payload None is a lost
    frame: its coefficients are taken as zero.
    """
    p = params if isinstance(params, codec.Params) else parse_params(params)
    N = p.hop
    ok = [i for i, b in enumerate(payloads) if b is not None]
    F = len(payloads)
    Xc = np.zeros((p.channels, F, N))
    short = np.zeros(F, bool)
    r = np.full(F + 1, N // 2, np.int64)
    if ok:
        oka = np.array(ok)
        Xo, so, rl, rr, zm = codec.unpack_frames(p, [payloads[i] for i in ok], first + oka)
        # Neighbours share the overlap at their boundary (an encoder writes it into both frames'
        # headers); frames from elsewhere (swapped, duplicated under valid CRCs) may not agree.
        adj = np.flatnonzero(np.diff(oka) == 1)
        bad = adj[rr[adj] != rl[adj + 1]]
        if bad.size:
            raise FrameError(first + int(oka[bad[0] + 1]), "overlap disagrees with the previous frame's")
        Xc[:, oka] = Xo
        short[oka] = so
        r[oka + 1] = rr
        r[oka] = rl
    if first == 0:
        r[0] = 0
    if first + F >= p.n_frames:
        r[F] = 0
    hops = transform.inverse(Xc, short, r)
    y, s0 = transform.to_samples(hops, first, N)
    if ok and zm.any():  # digital silence in the source stays exactly silent
        for j, i in enumerate(ok):
            if zm[j].any():
                a = (first + i) * N - s0
                y[a : a + N][zm[j].T] = 0.0
    lo, hi = max(0, s0), min(p.n_samples, s0 + y.shape[0])
    return np.rint(y[lo - s0 : hi - s0]), lo


def decode(params: bytes, frames: list) -> np.ndarray:
    """The whole stream: (n_samples, channels) float64 grid values."""
    p = parse_params(params)
    if len(frames) != p.n_frames:
        raise ValueError(f"sv2 stream has {p.n_frames} frames, got {len(frames)}")
    out = np.empty((p.n_samples, p.channels))
    N = p.hop
    for a in range(0, p.n_frames, DECODE_CHUNK):  # bounded memory: a chunk and its two neighbours
        b = min(p.n_frames, a + DECODE_CHUNK)
        f0, f1 = max(0, a - 1), min(p.n_frames, b + 1)
        y, lo = decode_frames(p, frames[f0:f1], f0)
        s0, s1 = a * N, min(p.n_samples, b * N)
        out[s0:s1] = y[s0 - lo : s1 - lo]
    return out


def frame_range(params: bytes | codec.Params, start: int, stop: int) -> tuple[int, int]:
    """Frames first..last (inclusive) needed for samples start..stop."""
    p = params if isinstance(params, codec.Params) else parse_params(params)
    return max(0, start // p.hop - 1), min(p.n_frames - 1, (stop - 1) // p.hop + 1)


def read(params: bytes, get_frame, start: int, stop: int) -> np.ndarray:
    """Samples start..stop, fetching only the frames they need through get_frame(i) -> bytes | None."""
    p = parse_params(params)
    a, b = frame_range(p, start, stop)
    y, lo = decode_frames(p, [get_frame(i) for i in range(a, b + 1)], a)
    return y[start - lo : stop - lo]
