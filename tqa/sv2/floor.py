"""frame_floor: a guaranteed SQNR per hop of the decoded output (spectral2, params version 3).

The guarantee: for every channel c and every hop h (samples [h·hop, (h+1)·hop) of the stream,
the last hop cut at the stream's end) whose source RMS is at least :func:`quiet_level`, the
decoder's output y (tqa.sv2.decode, grid values; float and 24-bit output keep them, int16 output
adds its own rounding) meets 10·log10(Σ x² / Σ (x - y)²) >= frame_floor dB.  The encoder checks
it by decoding what it wrote, and refines frames until it holds (:func:`apply`).

Exempt hops: source RMS below 10**(floor/20)/√12 16-bit LSBs — where the 16-bit source's own
rounding noise (1/√12 LSB RMS) already misses the floor (floor 40 dB: 28.9 LSB, −61 dBFS;
30 dB: 9.1 LSB); digital silence is always exempt.  A per-hop target that spends bits on
near-silence loses badly on speech with pauses (issue 11); this level only asks of a hop what
its own 16-bit samples can carry.

Format (params version 3, :data:`VERSION`; version 1 and 2 readers refuse it): frame header bit 5
(:data:`HDR_BIT`) = a refinement byte r (1..:data:`RMAX`) follows the header byte; the frame's
decoded coefficients (after M/S and the band rotation, which are linear) are multiplied by
``FACTOR[r]`` = 2**(-r/4): its step is step·2**(-r/4) in quarter octaves (1.5 dB).  Decoders
strip the byte, decode the frame as a version-1 frame and scale it (:func:`unpack`): the
compiled and NumPy decoders give the same values before the scaling, and the scaling is the
same NumPy multiplication on both paths, so they stay bit-exact.
"""

from __future__ import annotations

import math

import numpy as np

VERSION = 3  # params version of streams with frame_floor
HDR_BIT = 32  # frame header bit: a refinement byte follows the header byte
RMAX = 80  # refinements 1..80 quarter octaves (120 dB)
LSB = 256.0  # grid units per 16-bit LSB
# 2**(-r/4) from exact parts: a power of two times one of four constants (the same table everywhere)
_Q = (1.0, 0.8408964152537145, 0.7071067811865476, 0.5946035575013605)
FACTOR = np.array([math.ldexp(_Q[r % 4], -(r // 4)) for r in range(RMAX + 1)])
DB_PER_STEP = 20 * math.log10(2) / 4  # 1.505 dB a refinement
MARGIN = 0.25  # dB aimed above the floor when refining (the tables move a little between rounds)
RELAX = 2  # overshoot give-back passes (see apply)
ROUNDS = 16  # refine-and-check rounds at most (typically 2-5); then the floor is checked once more


def refinements(step: float, floor_step: np.ndarray) -> np.ndarray:
    """Each frame's refinement (F,) at the global step: the fewest quarter octaves that bring it
    to its largest step floor_step (inf: none), 0..RMAX."""
    with np.errstate(divide="ignore"):
        r = np.ceil(4 * np.log2(step / floor_step) - 1e-6)
    return np.clip(r, 0, RMAX).astype(np.int64)


def quiet_level(floor: float) -> float:
    """Source RMS (grid units) below which a hop is exempt from the floor."""
    return LSB * 10 ** (floor / 20) / math.sqrt(12)


# -- format ---------------------------------------------------------------------------------
def mark(payloads: list[bytes], ref: np.ndarray) -> list[bytes]:
    """Payloads with frame f's refinement byte ref[f] inserted (bit 5 set) where ref[f] > 0."""
    return [b if not r else bytes([b[0] | HDR_BIT, int(r)]) + b[1:] for b, r in zip(payloads, ref.tolist())]


def strip(payloads: list[bytes], index: np.ndarray) -> tuple[list[bytes], np.ndarray]:
    """The version-1 payloads and the refinements (F,) of version-3 frames; FrameError if malformed."""
    from .codec import FrameError

    out, ref = [], np.zeros(len(payloads), np.int64)
    for i, b in enumerate(payloads):
        if b and b[0] & HDR_BIT:
            if len(b) < 2 or not 1 <= b[1] <= RMAX:
                raise FrameError(int(index[i]), "bad frame refinement")
            ref[i] = b[1]
            b = bytes([b[0] & ~HDR_BIT]) + b[2:]
        out.append(b)
    return out, ref


def unpack(p, payloads: list[bytes], index: np.ndarray, unpack_frames):
    """:func:`tqa.sv2.codec.unpack_frames` of a version-3 stream: strip, decode (the magnitude
    limit raised by the largest refinement's factor), scale, then check the limit."""
    from .codec import COEF_LIMIT, FrameError

    plain, ref = strip(payloads, index)
    q = p.__dict__.get("_plain")
    if q is None:  # the same stream read as version 1 (its decode tables made once)
        import dataclasses

        q = p.__dict__["_plain"] = dataclasses.replace(p, floor=False, limit=COEF_LIMIT / FACTOR[RMAX])
    X, short, rl, rr, zmap = unpack_frames(q, plain, index)
    if ref.any():
        X *= FACTOR[ref][None, :, None]
    if X.size:
        bad = ~(np.abs(X) <= COEF_LIMIT).all(axis=(0, 2))
        if bad.any():
            raise FrameError(int(index[int(np.argmax(bad))]), "coefficient beyond the encoder's range")
    return X, short, rl, rr, zmap


# -- encoder ---------------------------------------------------------------------------------
def scale_analysis(A, ref: np.ndarray):
    """The analysis of frames with refinements ref (F,): coefficients × 2**(r/4) (energies and
    the pre-echo levels × 2**(r/2)), so that quantizing it at the stream's step is quantizing
    the frame at step·2**(-r/4)."""
    from .codec import Analysis

    g = (1.0 / FACTOR[ref])[:, None, None]
    g2 = g * g
    s = lambda a, k: None if a is None else a * k  # noqa: E731
    return Analysis(A.X * g, s(A.XM, g), A.EB * g2, s(A.EBM, g2), A.short, A.e_lo * g2[:, :, 0],
                    A.e_blk * g2[:, :, 0], A.guard, A.pg)  # fmt: skip


def hop_energies(S, params: bytes, frames, sig: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(signal, error) energies (F, ch) per hop and channel of the decoded stream against the
    source; ``sig``: the signal's, from an earlier round (the source does not change)."""
    from . import DECODE_CHUNK, decode_frames
    from .codec import parse_params

    p = parse_params(params)
    N, F, ch = S.N, S.F, S.ch
    known = sig is not None
    sig, err = (sig if known else np.zeros((F, ch))), np.zeros((F, ch))
    it, buf, base = iter(frames), [], 0  # buf: payloads of frames base, base+1, ...
    for a in range(0, F, DECODE_CHUNK):
        b = min(F, a + DECODE_CHUNK)
        while base + len(buf) < min(F, b + 1):
            buf.append(next(it))
        f0 = max(0, a - 1)
        buf, base = buf[f0 - base :], f0
        y, lo = decode_frames(p, buf[: min(F, b + 1) - f0], f0)
        s0, s1 = a * N, min(S.n, b * N)
        x = S.src.read(s0, s1)
        d = np.zeros(((b - a) * N, ch))
        d[: s1 - s0] = x - y[s0 - lo : s1 - lo]
        err[a:b] = np.einsum("fkc,fkc->fc", d.reshape(b - a, N, ch), d.reshape(b - a, N, ch))
        if not known:
            d[: s1 - s0] = x
            sig[a:b] = np.einsum("fkc,fkc->fc", d.reshape(b - a, N, ch), d.reshape(b - a, N, ch))
    return sig, err


def hop_samples(S) -> np.ndarray:
    """Samples of each hop (F,) (the last one cut at the stream's end)."""
    n = np.full(S.F, S.N, np.int64)
    n[-1] = S.n - (S.F - 1) * S.N if S.n else S.N
    return n


def shortfall(sig: np.ndarray, err: np.ndarray, nh: np.ndarray, floor: float) -> np.ndarray:
    """dB by which each hop misses the floor (F,), the worst channel; 0 where met or exempt."""
    loud = sig >= quiet_level(floor) ** 2 * nh[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(err > 0, 10 * np.log10(sig / err), np.inf)
    miss = np.where(loud, floor - snr, 0.0)
    return np.maximum(miss.max(axis=1), 0.0)


def min_sqnr(sig: np.ndarray, err: np.ndarray, nh: np.ndarray, floor: float) -> float:
    """The lowest SQNR of the hops the floor applies to (inf if none)."""
    loud = sig >= quiet_level(floor) ** 2 * nh[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(err > 0, 10 * np.log10(sig / err), np.inf)
    return float(snr[loud].min()) if loud.any() else float("inf")


def _converge(S, params: bytes, frames):
    """Refine the frames of a coded stream (params, frames) until every hop meets
    S.st.frame_floor: each round decodes what was written, lowers the largest step
    (S.floor_step) of each missing hop's frame by the quarter octaves it lacks (plus MARGIN; its
    neighbours' too where its own refinement did not help: their overlap leaks into it) and
    codes the stream again with new tables.  The global step stays, unless a frame would need
    more than RMAX below it (then it is lowered so that none does).  Returns (params, frames,
    stats, and the last round's signal and error energies per hop and channel)."""
    from .codec import clamp_step, pack_params, parse_params, tables_of_counts

    st = S.st
    step = parse_params(params).step
    nh = hop_samples(S)
    if S.floor_step is None:
        S.floor_step = np.full(S.F, np.inf)
    prev = np.zeros(S.F, bool)  # hops short in the last round
    for rnd in range(ROUNDS + 1):
        S.floor_sig, err = hop_energies(S, params, frames, S.floor_sig)  # the source's part: once per stream
        sig = S.floor_sig
        miss = shortfall(sig, err, nh, st.frame_floor)
        if not miss.any():
            break
        if rnd == ROUNDS:
            frames.close()  # a spooled stream's temporary file goes now, not at garbage collection
            raise RuntimeError(f"sv2: frame_floor {st.frame_floor} dB not met after {ROUNDS} rounds "
                               f"(hop {int(np.argmax(miss))} short by {miss.max():.2f} dB)")  # fmt: skip
        inc = np.where(miss > 0, np.ceil((miss + MARGIN) / DB_PER_STEP), 0)
        # short again after a round: part of its noise is its neighbours' (their overlap leaks
        # into this hop): refine a neighbour whose own hop's noise is above what this hop allows
        # (less 3 dB: about half of it leaks); after ROUNDS/2 rounds both neighbours, by inc
        again = (miss > 0) & prev
        eh = err.sum(axis=1)
        allowed = sig.sum(axis=1) * 10 ** (-st.frame_floor / 10)
        with np.errstate(divide="ignore", invalid="ignore"):
            lk = lambda n: np.where(again & (n > allowed), np.ceil((10 * np.log10(n / allowed) - 3 + MARGIN) / DB_PER_STEP), 0)  # noqa: E731
            from_left, from_right = lk(np.r_[0.0, eh[:-1]]), lk(np.r_[eh[1:], 0.0])  # frames h-1, h+1 for hop h
        if rnd >= ROUNDS // 2:
            from_left, from_right = np.maximum(from_left, np.where(again, inc, 0)), np.maximum(from_right, np.where(again, inc, 0))
        k = inc.copy()  # each missing hop's own frame, and the neighbours that leak into it
        k[:-1] = np.maximum(k[:-1], from_left[1:])
        k[1:] = np.maximum(k[1:], from_right[:-1])
        eff = step * FACTOR[refinements(step, S.floor_step)]  # each frame's step now
        S.floor_step = np.where(k > 0, np.minimum(S.floor_step, eff * 2.0 ** (-k / 4)), S.floor_step)
        step = clamp_step(min(step, float(S.floor_step.min()) * 2.0 ** (RMAX / 4)))
        prev = miss > 0
        frames.close()
        tab = tables_of_counts(S.counts(step, keep=True))
        params, frames = pack_params(st, S.ch, S.n, step, tab), S.code(step, tab)
    ref = refinements(step, S.floor_step)
    stats = {"refined_frames": int(np.count_nonzero(ref)), "min_sqnr": min_sqnr(sig, err, nh, st.frame_floor),
             "rounds": rnd}  # fmt: skip
    return params, frames, stats, sig, err


def apply(S, params: bytes, frames):
    """Refine the frames of a coded stream until every hop meets the floor (:func:`_converge`),
    then give back what the refinements overshot: a refined frame whose own hop and both
    neighbours' clear the floor by more than a quarter octave (plus MARGIN) gets its step back
    by as many quarter octaves, and the floor is made again (RELAX times at most; each hop
    still meets the floor at the end).  Returns (params, frames, stats)."""
    from .codec import pack_params, parse_params, tables_of_counts

    params, frames, stats, sig, err = _converge(S, params, frames)
    nh = hop_samples(S)
    for _ in range(RELAX):
        step = parse_params(params).step
        ref = refinements(step, S.floor_step)
        with np.errstate(divide="ignore", invalid="ignore"):
            snr = np.where(err > 0, 10 * np.log10(sig / err), np.inf)
        loud = sig >= quiet_level(S.st.frame_floor) ** 2 * nh[:, None]
        slack = np.where(loud, snr - S.st.frame_floor, np.inf).min(axis=1)
        near = np.minimum(slack, np.minimum(np.r_[np.inf, slack[:-1]], np.r_[slack[1:], np.inf]))
        with np.errstate(invalid="ignore"):
            up = np.minimum(np.floor((near - MARGIN) / DB_PER_STEP), ref)
        up = np.where(ref > 0, np.maximum(up, 0), 0).astype(np.int64)
        if not up.any():
            break
        kept = S.floor_step.copy()
        S.floor_step = np.where(up > 0, step * FACTOR[ref - up], S.floor_step)
        S.floor_step[(up > 0) & (up == ref)] = np.inf
        tab = tables_of_counts(S.counts(step, keep=True))
        try:
            new = _converge(S, pack_params(S.st, S.ch, S.n, step, tab), S.code(step, tab))
        except RuntimeError:  # the give-back did not settle: keep the stream before it
            S.floor_step = kept
            S.forget()  # its kept quantization was made with the abandoned steps
            break
        frames.close()
        params, frames, stats, sig, err = new
    return params, frames, stats


def _bits(S, params: bytes, frames) -> int:
    st = S.st
    return 8 * (len(params) + frames.nbytes + st.frame_overhead * S.F + st.stream_overhead)


RATE_TRIES = 3  # rate=: the rate search run again with the refinements at most this often


def encode(S, out, rate_encode=None):
    """The floor pass after the stream-wide step search (``out`` = its (params, frames)).

    quality=: the step stays (refinements only lower the error, so the stream's SQNR stays at
    least quality).  rate=: the floor's refinements cost bits, so the rate search runs again
    with them in place (its whole-stream counts quantize the refined frames at their finer
    steps: the other frames pay for them), then the floor pass again, until the stream is
    within 0.5 % of the budget or RATE_TRIES are spent.  The floor always wins: where it cannot
    be met within the rate, the stream is larger than rate= asks (stats["rate_exceeded"]).
    Returns (params, frames, stats)."""
    params, frames, stats = apply(S, *out)
    if rate_encode is not None:
        target = S.st.rate * max(S.n, 1) * S.ch
        size = _bits(S, params, frames)
        for _ in range(RATE_TRIES):  # keep the smallest stream (each meets the floor)
            if size <= 1.005 * target:
                break
            p2, f2, s2 = apply(S, *rate_encode(S, target))
            b2 = _bits(S, p2, f2)
            if b2 >= size:  # coarser elsewhere cost more at the floor (leakage): the floor wins
                f2.close()
                break
            frames.close()
            params, frames, stats, size = p2, f2, s2, b2
        stats.update(bits_per_sample=size / (max(S.n, 1) * S.ch), rate_exceeded=bool(size > 1.01 * target))
    return params, frames, stats
