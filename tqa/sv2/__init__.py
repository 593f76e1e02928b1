"""sv2: the second spectral profile (quality per bit).

Pipeline (encoder):
  grid samples (n, channels), integers on the 2**23 grid
  -> block-switched MDCT, hop N (frame f owns samples f·N .. (f+1)·N; one long block, or 8 short
     blocks on an attack, see tqa.sv2.transform), orthonormal
  -> per frame: L/R or orthonormal M/S (the cheaper by an estimate of the bits)
  -> optional seeded Hadamard rotation inside each band of 16 (tqa.rotation.signs, label 4)
  -> ONE quantizer step for the whole stream (constant slope: reverse water-filling through
     entropy coding), found by bisection for ``rate=`` (bits/sample, everything included) or
     ``quality=`` (SQNR in dB of the whole stream)
  -> uniform scalar quantization q = sign·floor(|x|/step + rho); bands whose indices are all 0
     are "empty" (class 0: no bits but their class symbol)
  -> band class c (3 dB grid of the band RMS in steps; context of the coefficient model) coded as
     a delta from the previous band; coefficients: msb = |q| >> shift(c) through a per-class table
     (escape 15 + Exp-Golomb above), shift(c) raw LSBs, raw sign bits
  -> rANS (12-bit tables, one lane per frame, all frames stepped at once in NumPy) with per-stream
     tables (5-bit log-probability codes in params)
  -> reconstruction at the cell centroids: |x| = (|q| - delta[c, min(|q|,3)]) · step, delta per
     class sent in params (the Lloyd–Max centroid condition, measured by the encoder)

API:
  params, frames = encode(grid, sample_rate=..., rate=... | quality=..., **settings)
  samples = decode(params, frames)                          # whole stream (n, channels) float64 grid
  samples, start = decode_frames(params, payloads, first)   # frames first..first+len-1
  samples = read(params, get_frame, start, stop)            # random access by sample range
  info(params) -> dict
Frame f owns samples [f·hop, (f+1)·hop); decoding those needs frames f-1, f, f+1.
"""

from __future__ import annotations

import math

import numpy as np

from . import codec, transform
from .codec import FrameError, Settings, parse_params

__all__ = ["encode", "decode", "decode_frames", "read", "info", "Settings", "FrameError", "frame_range"]

PARAMS_GUESS = 300  # bytes, for the rate budget before the tables exist


def _analyze(x: np.ndarray, st: Settings) -> codec.Analysis:
    n, ch = x.shape
    N = st.hop
    F = max(1, -(-n // N))
    xp = np.zeros((F * N, ch))
    xp[:n] = x
    short = codec.detect_attacks(xp, N, st.attack_ratio) if st.transients else np.zeros(F, bool)
    X = transform.forward(xp, N, short).transpose(1, 0, 2).copy()  # (F, ch, N)
    return codec.analyze(xp, X, short, st)


def _frame_fixed_bytes(st: Settings) -> float:
    return st.frame_overhead + 1 + 2 + 4 + 0.5  # container, header, varint, rANS state, raw padding


def _bits(A: codec.Analysis, st: Settings, log_step: float) -> float:
    qz = codec.quantize(A, 2.0**log_step, st)
    return codec.estimate_bits(qz) + 64 * int(A.short.sum())


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


SUBSET_FRAMES = 256


def _rate_step(A: codec.Analysis, st: Settings, target_bits: float) -> float:
    """The step whose coded size meets target_bits: bisection on log2(step) over a subset of frames
    (every k-th), then secant steps on the whole stream's entropy estimate."""
    F = A.X.shape[0]
    fixed = 8 * (F * _frame_fixed_bytes(st) + PARAMS_GUESS)
    budget = 0.998 * target_bits - fixed
    rms = math.sqrt(float(np.mean(A.X * A.X))) + 1.0
    lo, hi = math.log2(rms) - 40, math.log2(rms) + 12
    k = max(1, F // SUBSET_FRAMES)
    if k > 1:
        idx = np.arange(k // 2, F, k)
        sub = A.subset(idx)
        scale = F / idx.size
        g = _search(lambda ls: scale * _bits(sub, st, ls), budget, lo, hi, 0.01)
        # slope of the subset's bits in log2(step), for the secant on the whole stream
        slope = scale * (_bits(sub, st, g + 0.05) - _bits(sub, st, g - 0.05)) / 0.1
        for _ in range(4):
            b = _bits(A, st, g)
            if abs(b - budget) < 0.002 * budget or slope >= 0:
                break
            g = g + (budget - b) / slope * 1.001
        return 2.0**g
    return 2.0 ** _search(lambda ls: _bits(A, st, ls), budget, lo, hi)


def _quality_step(A: codec.Analysis, st: Settings) -> float:
    rms = math.sqrt(float(np.mean(A.X * A.X))) + 1.0

    def err_db(ls: float) -> float:
        qz = codec.quantize(A, 2.0**ls, st)
        stepv = codec.step_map(qz.step, qz.e, qz.Y.shape[2]) if qz.e.any() else qz.step
        Xh = codec.reconstruct(qz.q, qz.cls, codec.centroids(qz), stepv)
        return -codec.coeff_sqnr(qz.Y, Xh)

    lo, hi = math.log2(rms) - 40, math.log2(rms) + 12  # lo meets the target, hi does not
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if -err_db(mid) >= st.quality:
            lo = mid
        else:
            hi = mid
        if hi - lo < 0.002:
            break
    return 2.0**lo


def encode(grid, **settings) -> tuple[bytes, list[bytes]]:
    """Encode (n, channels) float64 grid samples (integers on the 2**23 grid; (n,) is mono).

    settings: see tqa.sv2.codec.Settings (rate= or quality=, sample_rate=, hop=, frame_overhead=, ...).
    Returns (params, frames): params (stream header: tables, step), one payload per frame.
    """
    st = Settings(**settings)
    x = np.asarray(grid, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n, ch = x.shape
    A = _analyze(x, st)
    F = A.X.shape[0]
    if st.rate is not None:
        target = st.rate * max(n, 1) * ch
        step = _rate_step(A, st, target)
        slope = None
        for _ in range(8):  # exact size check; move the step until within the budget
            params, frames = _code(A, step, st, n)
            size = 8 * (len(params) + sum(map(len, frames)) + st.frame_overhead * F)
            if size <= target:
                break
            if slope is None:
                slope = (_bits(A, st, math.log2(step) + 0.05) - _bits(A, st, math.log2(step) - 0.05)) / 0.1
            if slope > -1.0:  # nothing left to drop (silence, or a stream too short for its side info)
                break
            step *= 2.0 ** ((size - target) / max(-slope, 1.0) * 1.05 + 0.0005)
    else:
        step = _quality_step(A, st)
        params, frames = _code(A, step, st, n)
    return params, frames


def _code(A, step, st, n):
    qz = codec.quantize(A, step, st)
    tab = codec.make_tables(qz)
    params = codec.pack_params(st, A.X.shape[1], n, step, tab)
    return params, codec.pack_frames(qz, tab, A.short)


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
        Xo, so, rl, rr = codec.unpack_frames(p, [payloads[i] for i in ok], first + oka)
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
    lo, hi = max(0, s0), min(p.n_samples, s0 + y.shape[0])
    return np.rint(y[lo - s0 : hi - s0]), lo


def decode(params: bytes, frames: list) -> np.ndarray:
    """The whole stream: (n_samples, channels) float64 grid values."""
    p = parse_params(params)
    y, lo = decode_frames(p, frames, 0)
    assert lo == 0 and y.shape[0] == p.n_samples
    return y


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
