"""The sv2 spectral codec: block-switched MDCT, one global quantizer step, entropy-coded
uniform quantization with centroid reconstruction.  See tqa/sv2/__init__.py for the format."""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import struct
import sys
from dataclasses import dataclass

import numpy as np

from .. import mdct
from ..profiles.settings import HOPS, TUNES, check_frame_floor
from ..rotation import signs as _signs
from . import floor as _floor
from . import perceptual as _perc
from . import rans, transform

BAND = 16
C = 32  # band classes: 0 = empty band, 1..31 = 3 dB steps of the band RMS in steps
K0 = 6  # class c <-> RMS/step ~ 2**((c - K0)/2)
ESC = 15  # coefficient symbol alphabet 0..14, 15 = escape (value - 15 follows, Exp-Golomb)
DS = 2 * C - 1  # class-delta alphabet
# the compiled packer names a symbol's table row (table t, symbol k) as t * DS + k in a uint16
assert (C + 1) * DS < 1 << 16, "the packer's uint16 table rows"
SV2_LABEL = 4  # rotation sign label
ZRUN = 64  # digital silence: runs of at least 64 exact zeros in a frame's own hop are sent (16 at most per channel)
ZMAX = 16
MAGIC = b"TQS2"
VERSION = 1
# Magnitude limits (issue 14: a decoded value stays in the range a conforming encoder writes;
# a crafted stream beyond them is a FormatError, not samples at 1e295 x full scale).
# Grid samples are |x| <= 16 * 2**23 = 2**27.  Every coefficient (MDCT, M/S, band rotation: all
# orthonormal) is the inner product of at most 2 channels x 2 x 2048 windowed samples with a unit
# vector, so |X| <= 2**27 * sqrt(8192) = 2**33.5; with rounding offset rho <= 0.5 a reconstruction
# is at most |X| + step/2 <= 2|X| (q >= 1 needs |X| >= step/2).  The step search brackets
# log2(rms + 1) - 40 .. log2(rms + 1) + 12 with rms <= 2**27 (<= 2**39.01); pack_params clamps
# the step into STEP_RANGE, whose lower end only keeps it a normal float (magnitudes are bounded
# by COEF_LIMIT whatever the step).
COEF_LIMIT = 2.0**35
STEP_RANGE = (2.0**-64, 2.0**40)
_SHIFT = np.array([0] + [max(0, (c - K0) // 2 - 2) for c in range(1, C)], np.int64)  # raw LSBs per class


@dataclass(frozen=True)
class Settings:
    rate: float | None = None  # bits per sample, all included (params, payloads, frame_overhead)
    quality: float | None = None  # target SQNR in dB of the whole stream
    hop: int | str = "auto"  # 256, 512, 1024, 2048, or "auto" (rate=: 1024 or 2048, the lower distortion; quality=: 1024)
    transients: bool = True  # short blocks on attacks
    attack_ratio: float = 10.0  # sub-block energy over the mean of the 8 before it
    rotate: bool = False  # seeded Hadamard rotation inside each band
    seed: int = 0
    stereo: str = "auto"  # "auto" (per frame L/R or M/S by estimated cost), "lr", "ms"
    preecho: bool = True  # refine the step of short blocks whose window holds a quiet part
    silence: bool = True  # send maps of digital silence (32-sample segments) so it decodes as silence
    preecho_floor: float = 4.0  # the guard treats quieter parts as this loud (16-bit LSBs RMS)
    rho: float = 0.5  # rounding offset of the quantizer (0.5 = plain rounding; < 0.5 = deadzone)
    frame_overhead: int = 0  # container bytes per frame, counted in rate
    stream_overhead: int = 0  # container bytes per stream besides params (header, index), counted in rate
    sample_rate: int = 44100
    # tune="perceptual" (tqa.sv2.perceptual; params version 2): band weights and noise filling
    tune: str = "sqnr"  # "sqnr" (MSE-optimal, the default) or "perceptual"
    mask: float = 0.0  # perceptual: noise power per band ∝ (long-term band energy)**mask
    nf_group: int = 4  # perceptual: bands per noise-fill level
    nf_zero: int = 0  # perceptual: zeros inside coded bands decode as ±nf_zero/64 steps (0 = off)
    nf_gain: float = 1.0  # perceptual: energy of the noise fill relative to the empty bands'
    tmask: float = 0.6  # perceptual: noise power per frame ∝ (frame energy)**tmask
    lmask: float = 0.3  # perceptual: noise power per frame and group of bands ∝ (its energy)**lmask (long frames)
    tonal: float = 0.4  # perceptual: noise power per frame also ∝ (its spectral flatness, capped at -20 dB)**tonal
    lnoise: float | None = 0.1  # perceptual: lmask in frames of a flat coarse spectrum (None: lmask in all)
    lflat: float = -16.0  # perceptual: group flatness (dB, over 0..22.05 kHz) from which a frame uses lnoise
    release: float = 100.0  # perceptual: short blocks also on a hard stop, a sub-block this many times louder than the 8 after it (0 = off)
    weights: tuple | None = None  # perceptual: band weight codes (set by the encoder from the stream)
    frame_floor: float | None = None  # dB every loud hop meets on the decoded output (tqa.sv2.floor; params version 3)

    def __post_init__(self) -> None:
        if (self.rate is None) == (self.quality is None):
            raise ValueError("give exactly one of rate= (bits per sample) or quality= (dB)")
        if self.tune not in TUNES:
            raise ValueError(f"tune must be one of {', '.join(TUNES)}, got {self.tune!r}")
        if self.tune == "perceptual" and self.quality is not None:
            raise ValueError("tune='perceptual' takes rate= (quality= is an SQNR target: tune='sqnr')")
        if self.nf_group not in (1, 2, 4, 8) or not 0 <= self.nf_zero <= 63:
            raise ValueError("nf_group must be 1, 2, 4 or 8 and nf_zero 0..63")
        if self.hop not in (*HOPS, "auto"):
            raise ValueError(f"hop must be 256, 512, 1024 or 2048, got {self.hop!r}")
        if self.stereo not in ("auto", "lr", "ms"):
            raise ValueError("stereo must be auto, lr or ms")
        if self.frame_floor is not None:
            object.__setattr__(self, "frame_floor", check_frame_floor(self.frame_floor, self.tune))


def _compiled():
    """The numba loops (:mod:`tqa.sv2._jit`) where numba is installed, else None.  Imported on
    first use: numba costs ~0.3 s to import, which no process that does not code spectral2
    should pay."""
    from . import _jit  # optional dependency (tqa[fast])

    return _jit if _jit.AVAILABLE else None


_ENC: list = []  # [module or None]: the encoder's compiled loops, once checked


def _compiled_enc():
    """The encoder's compiled loops where numba is installed and not switched off (the
    decoder's switch: tqa.sv2._jit.AVAILABLE, TQA_SV2_JIT=0), and their einsum order is NumPy's
    here (checked once), else None: built ahead of time (:mod:`tqa.sv2._aot`: no numba import
    in this process) where possible, else the JIT versions (:mod:`tqa.sv2._jitenc`)."""
    j = sys.modules.get(__package__ + "._jit")
    if j is not None:
        if not j.AVAILABLE:
            return None
    elif os.environ.get("TQA_SV2_JIT", "1") == "0" or not _have_numba():
        return None
    if not _ENC:
        from . import _aot

        mod = _aot.load()
        if mod is None or not _einsum_order_ok(mod):
            from . import _jitenc

            mod = _jitenc if _einsum_order_ok(_jitenc) else None
        _ENC.append(mod)
    return _ENC[0]


@functools.lru_cache(maxsize=1)
def _have_numba() -> bool:
    return importlib.util.find_spec("numba") is not None


def _probe(shape: tuple, seed: int) -> np.ndarray:
    """Deterministic values in [0, 1) for the checks below (a 64-bit LCG's top bits: no
    numpy.random import at start-up, ~10-20 ms of a one-shot process)."""
    with np.errstate(over="ignore"):  # modulo 2**64, as meant
        i = np.arange(1, math.prod(shape) + 1, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        z = i * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
        z ^= z >> np.uint64(29)
        z *= np.uint64(0xBF58476D1CE4E5B9)
    return ((z >> np.uint64(11)).astype(np.float64) * 2.0**-53).reshape(shape)


def _einsum_order_ok(k) -> bool:
    """Whether the compiled band energies are NumPy's einsum to the last bit here (they are
    wherever NumPy's baseline einsum loop is the two-lane one, as on x86-64: see
    :mod:`tqa.sv2._jitenc`; elsewhere the NumPy encoder runs)."""
    x = (_probe((3, 2, 256), 1) - 0.5) * np.exp(60 * _probe((3, 2, 1), 2) - 30)
    ref = np.einsum("fcbk,fcbk->fcb", x.reshape(3, 2, -1, BAND), x.reshape(3, 2, -1, BAND))
    out = np.empty((6, 256 // BAND))
    k.band_energies(x.reshape(6, 256), out)
    return bool(np.array_equal(out.reshape(ref.shape), ref))


# -- analysis ------------------------------------------------------------------------------
def subblock_energy(x: np.ndarray, m: int) -> np.ndarray:
    """Mean square per sample of the first difference (a high-pass), summed over channels, in
    sub-blocks of m samples (x.shape[0] a multiple of m); worked out in slices of m·4096."""
    out = np.empty(x.shape[0] // m)
    step = m * 4096
    prev = x[:1]
    for lo in range(0, x.shape[0], step):
        blk = x[lo : lo + step]
        out[lo // m : lo // m + blk.shape[0] // m] = energy_slice(blk, prev, m)
        prev = blk[-1:]
    return out


def energy_slice(blk: np.ndarray, prev: np.ndarray, m: int) -> np.ndarray:
    """:func:`subblock_energy` of one slice (a multiple of m samples) after the sample ``prev`` (1, ch):
    compiled where the encoder's loops are and sum in einsum's order here (checked once), else
    :func:`energy_slice_numpy` (the same values; ~4x its speed, measured)."""
    k = _compiled_energy()
    out = np.empty(blk.shape[0] // m)
    if k is not None and blk.dtype == prev.dtype == np.int16:  # an int16 spool's quotients as they are
        k.energy_slice16(blk, prev, m, out)
        return out
    if k is None or blk.dtype != np.float64 or prev.dtype != np.float64:
        return energy_slice_numpy(grid_of(blk), grid_of(prev), m)
    k.energy_slice(blk, prev, m, out)
    return out


_ENERGY_OK: dict = {}  # compiled loops -> whether their energy_slice is NumPy's here (checked once)


def _compiled_energy():
    k = _compiled_enc()
    if k is not None and k not in _ENERGY_OK:
        _ENERGY_OK[k] = _energy_order_ok(k)
    return k if k is not None and _ENERGY_OK[k] else None


def _energy_order_ok(k) -> bool:
    """Whether the compiled sub-block energies are :func:`energy_slice_numpy`'s to the last bit here
    (einsum's summation order over the (sample, channel) run, as :func:`_einsum_order_ok`)."""
    for ch, m in ((1, 32), (2, 128), (3, 64)):
        x = np.rint((_probe((3 * m, ch), m) - 0.5) * np.exp(20 * _probe((3 * m, 1), m + 1)))
        prev = np.rint((_probe((1, ch), m + 2) - 0.5) * 1e6)
        out = np.empty(3)
        k.energy_slice(x, prev, m, out)
        if not np.array_equal(out, energy_slice_numpy(x, prev, m)):
            return False
    return True


def energy_slice_numpy(blk: np.ndarray, prev: np.ndarray, m: int) -> np.ndarray:
    """:func:`energy_slice`'s NumPy reference."""
    hp = np.empty((blk.shape[0], blk.shape[1]))  # np.diff(blk, axis=0, prepend=prev): the same subtractions
    if blk.shape[0]:  # straight from blk's own layout, without the joined copy
        np.subtract(blk[:1], prev, out=hp[:1])
        np.subtract(blk[1:], blk[:-1], out=hp[1:])
    hp = hp.reshape(-1, m, blk.shape[1])
    return np.einsum("ijk,ijk->i", hp, hp) / m


def detect_attacks(e: np.ndarray, n: int, ratio: float, sample_rate: int = 44100) -> tuple[np.ndarray, np.ndarray]:
    """Frames (F,) holding an attack — a sub-block (n/8) of the high-passed signal whose energy
    ``e`` (F·8,) (:func:`subblock_energy`) exceeds ``ratio`` times the mean of the 8 sub-blocks
    before it (and a small absolute floor) — and the short blocks (F, 8) the pre-echo guard
    watches: those from 10 ms before an attack to the one after it."""
    S = transform.SHORT
    f = e.size // S
    m = n // S
    cs = np.concatenate(([0.0], np.cumsum(e)))
    i = np.arange(e.size)
    lo = np.maximum(i - S, 0)
    ref = (cs[i] - cs[lo]) / np.maximum(i - lo, 1)
    floor = (256.0 * 4) ** 2  # ~4 LSBs of 16-bit audio, high-passed
    att = (e > ratio * ref) & (e > floor) & (i > 0)
    short = att.reshape(f, S).any(axis=1)
    # an attack in the first sub-block also lies in the previous frame's closing overlap
    short[:-1] |= att.reshape(f, S)[1:, 0]
    before = int(np.ceil(0.010 * sample_rate / m))
    guard = np.zeros(e.size + before + 2, bool)
    for d in range(-1, before + 1):  # sub-block i guarded if an attack is at i+d
        lo_, hi_ = max(0, -d), min(e.size, e.size - d)
        if hi_ > lo_:  # d beyond a short stream's sub-blocks: nothing to guard
            guard[lo_:hi_] |= att[lo_ + d : hi_ + d]
    return short, guard[: e.size].reshape(f, S) & short[:, None]


def detect_releases(e: np.ndarray, ratio: float, end: int) -> np.ndarray:
    """Frames (F,) holding a hard stop — a sub-block whose high-passed energy ``e`` (F·8,)
    exceeds ``ratio`` times the mean of the 8 sub-blocks after it (the attack test run backwards
    in time, with its floor), those 8 inside the signal's first ``end`` whole sub-blocks (the
    stream's end is a hard edge: nothing to spread into; the padding after it is no stop) and
    none of them digital silence (energy 0: the silence maps already decode that as silence;
    speech_espeak's 18 stops at ratio 100 all end in it, and short blocks there cost it 1.35x
    Zimtohrli at -b4).  A long block over a stop spreads its noise into the quiet after it
    (post-echo): loops_sonicpi at 21.1 s, a 10-ms burst cut to RMS 1, had 20-30 LSB RMS of error
    for 20 ms after the cut (WavPack 1-2)."""
    S = transform.SHORT
    f = e.size // S
    cs = np.concatenate(([0.0], np.cumsum(e)))
    i = np.arange(e.size)
    hi = np.minimum(i + 1 + S, e.size)
    ref = (cs[hi] - cs[i + 1]) / np.maximum(hi - i - 1, 1)
    zs = np.concatenate(([0], np.cumsum(e == 0)))
    rel = (e > ratio * ref) & (e > (256.0 * 4) ** 2) & (i + 1 + S <= end) & (zs[hi] == zs[i + 1])
    out = rel.reshape(f, S).any(axis=1)
    # a stop in the last sub-block also lies in the next frame's opening overlap
    out[1:] |= rel.reshape(f, S)[:-1, -1]
    return out


def _rotate(X: np.ndarray, seed: int, inverse: bool = False) -> np.ndarray:
    """Orthonormal H_16·D/4 on each band of 16 (or its inverse)."""
    from scipy.linalg import hadamard

    s = _signs(BAND, seed, SV2_LABEL)
    H = hadamard(BAND).astype(np.float64) / 4.0
    b = X.reshape(*X.shape[:-1], -1, BAND)
    out = (b @ H) * s if inverse else (b * s) @ H.T
    return out.reshape(X.shape)


@dataclass
class Analysis:
    """What the encoder computes once: coefficients in both stereo forms, band energies, and the
    dynamics inside each short block's window (for the pre-echo guard)."""

    X: np.ndarray  # (F, ch, N) coded domain (rotated if rotate), L/R
    XM: np.ndarray | None  # the same in M/S (stereo only)
    EB: np.ndarray  # (F, ch, nb) band energies, L/R
    EBM: np.ndarray | None
    short: np.ndarray  # (F,)
    e_lo: np.ndarray  # (F, SHORT) min over 16 window segments of signal mean square / window mean square
    e_blk: np.ndarray  # (F, SHORT) mean square per sample over the window
    guard: np.ndarray  # (F, SHORT) blocks the pre-echo guard applies to
    pg: np.ndarray | None = None  # perceptual: frame gain codes (F,) (tqa.sv2.perceptual)

    def subset(self, idx) -> "Analysis":
        """Frames idx (an index array: copies; a slice: views)."""
        g = lambda a: None if a is None else a[idx]  # noqa: E731
        return Analysis(self.X[idx], g(self.XM), self.EB[idx], g(self.EBM), self.short[idx], self.e_lo[idx], self.e_blk[idx], self.guard[idx],
                        g(self.pg))  # fmt: skip

    @staticmethod
    def join(parts: list["Analysis"]) -> "Analysis":
        """The analyses of consecutive runs of frames as one."""
        if len(parts) == 1:
            return parts[0]
        cat = lambda name: None if getattr(parts[0], name) is None else np.concatenate([getattr(a, name) for a in parts])  # noqa: E731
        return Analysis(*(cat(f) for f in ("X", "XM", "EB", "EBM", "short", "e_lo", "e_blk", "guard", "pg")))


def block_window_sq(m: int) -> np.ndarray:
    return transform.block_window(m, m // 2, m // 2) ** 2


def analyze(seg: np.ndarray | None, short: np.ndarray, rl: np.ndarray, rr: np.ndarray, st: Settings,
            guard: np.ndarray | None = None, block: np.ndarray | None = None) -> Analysis:  # fmt: skip
    """Analysis of frames given by their 2N segments (ch, F, 2N) (tqa.sv2.transform.segments),
    kinds and overlaps; or, for consecutive frames, by their samples ``block`` ((F+1)·N, ch)
    from N/2 before the first frame's hop (seg None: the same values)."""
    jit = _compiled_enc()
    if block is not None and jit is None:
        seg = _block_segments(grid_of(block), np.arange(short.size), short.size)
    if jit is not None:
        X = _forward_compiled(jit, seg, short, rl, rr, block)
    else:
        X = transform.forward_segments(seg, short, rl, rr).transpose(1, 0, 2).copy()  # (F, ch, N)
    F, ch, N = X.shape
    pg = None
    if st.weights is not None:  # perceptual: quantize in the weighted domain (tqa.sv2.perceptual)
        pg = _perc.frame_gains(X, short, st.tmask, st.lmask, st.tonal, st.lnoise, st.lflat, st.sample_rate)
        X /= _perc.coef_weights(st.weights, N) * _perc.gain_of(pg)
    XM = None
    if seg is None:  # the pre-echo guard's levels need the segments of the short frames only
        sel = np.flatnonzero(short) if st.preecho else np.zeros(0, np.int64)
        e_lo, e_blk = np.zeros((F, transform.SHORT)), np.zeros((F, transform.SHORT))
        if sel.size:
            e_lo[sel], e_blk[sel] = preecho_levels(grid_of(_block_segments(block, sel, F)), np.ones(sel.size, bool), st)
    else:
        e_lo, e_blk = preecho_levels(seg, short, st)
    if pg is not None:  # the guard sees the frame's weighted steps
        e_lo = e_lo / _perc.gain_rms(pg)[:, None] ** 2
    if guard is None:
        guard = np.repeat(short[:, None], transform.SHORT, axis=1)
    if jit is not None and not st.rotate:  # the same values, in one pass
        EB = np.empty((F, ch, N // BAND))
        if ch == 2 and st.stereo != "lr":
            XM, EBM = np.empty_like(X), np.empty_like(EB)
            jit.ms_energies(X, XM, EB, EBM, float(np.sqrt(0.5)))
        else:
            EBM = None
            jit.band_energies(X.reshape(F * ch, N), EB.reshape(F * ch, -1))
        return Analysis(X, XM, EB, EBM, short, e_lo, e_blk, guard, pg)
    if ch == 2 and st.stereo != "lr":
        XM = np.empty_like(X)
        XM[:, 0] = (X[:, 0] + X[:, 1]) * np.sqrt(0.5)
        XM[:, 1] = (X[:, 0] - X[:, 1]) * np.sqrt(0.5)
    if st.rotate:
        X = _rotate(X, st.seed)
        XM = None if XM is None else _rotate(XM, st.seed)
    eb = lambda a: None if a is None else np.einsum("fcbk,fcbk->fcb", a.reshape(F, ch, -1, BAND), a.reshape(F, ch, -1, BAND))  # noqa: E731
    return Analysis(X, XM, eb(X), eb(XM), short, e_lo, e_blk, guard, pg)


@functools.lru_cache(maxsize=8)
def _windows(N: int, gain: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The windows :func:`tqa.sv2.transform.forward_segments` uses at hop N: long ones (3, 3, 2N)
    by overlap code (0: none, 1: N/16, 2: N/2) at each edge, short ones (2, 2, N/4); times
    ``gain`` (a power of two: exact)."""
    m = N // transform.SHORT
    rs = (0, N // 16, N // 2)
    WL = np.stack([np.stack([transform.block_window(N, a, b) for b in rs]) for a in rs])
    WS = np.stack([np.stack([transform.block_window(m, a, b) for b in rs[:2]]) for a in rs[:2]])
    return WL * gain, WS * gain


def grid_of(x: np.ndarray, copy: bool = False) -> np.ndarray:
    """Grid samples as float64: int16 16-bit samples (an int16 spool's quotients) times 256 (exact),
    float64 ones as they are (a copy if ``copy``)."""
    if x.dtype == np.int16:
        return np.multiply(x, 256.0)
    return x.copy() if copy else x


def _block_segments(block: np.ndarray, sel: np.ndarray, F: int) -> np.ndarray:
    """The 2N segments (ch, len(sel), 2N) of frames sel of F consecutive frames' samples
    ((F+1)·N, ch)."""
    n, ch = block.shape
    hops = block.T.reshape(ch, F + 1, n // (F + 1))
    return np.concatenate((hops[:, sel], hops[:, sel + 1]), axis=-1)


def _forward_compiled(jit, seg: np.ndarray | None, short: np.ndarray, rl: np.ndarray, rr: np.ndarray,
                      block: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """transform.forward_segments(...).transpose(1, 0, 2), the same values: windowing and
    folding in one compiled pass straight into the (F, ch, N) layout (from the segments, or
    the samples of consecutive frames), then the same DCT-IV (row by row: the values do not
    depend on the batch)."""
    if seg is not None:
        ch, F, N2 = seg.shape
        N = N2 // 2
    else:
        F = short.size
        ch = block.shape[1]
        N = block.shape[0] // (F + 1)
    code = lambda r: np.where(r == 0, 0, np.where(r == N // 16, 1, 2)).astype(np.int64)  # noqa: E731
    lc, rc = code(np.asarray(rl)), code(np.asarray(rr))
    short = np.asarray(short, bool)
    if np.any(rl[short] == N // 2) or np.any(rr[short] == N // 2) or np.any(~np.isin(rl, (0, N // 16, N // 2))) \
            or np.any(~np.isin(rr, (0, N // 16, N // 2))):  # fmt: skip
        raise ValueError("sv2: overlaps outside the transform's kinds")
    WL, WS = _windows(N)
    ns = int(short.sum())
    sidx = np.cumsum(short) - 1
    X = np.empty((F, ch, N))
    XS = np.empty((ns, ch, transform.SHORT, N // transform.SHORT))
    if ns:
        X[short] = 0.0
    if seg is not None:
        jit.fold_frames(np.ascontiguousarray(seg), short, lc, rc, WL, WS, sidx, X, XS)
    elif block.dtype == np.int16:  # an int16 spool's quotients: the grid's products, no float64 copy of the samples
        WL, WS = _windows(N, 256.0)
        jit.fold_block16(np.ascontiguousarray(block), short, lc, rc, WL, WS, sidx, X, XS)
    else:
        jit.fold_block(np.ascontiguousarray(block, np.float64), short, lc, rc, WL, WS, sidx, X, XS)
    X = _dct4(X)
    if ns:
        X[short] = _dct4(XS).transpose(0, 1, 3, 2).reshape(ns, ch, N)
    return X


_PFFT: list = []  # [scipy's pypocketfft extension, or None]


def _dct4(x: np.ndarray) -> np.ndarray:
    """tqa.mdct._dct4 (scipy.fft.dct(x, type=4, norm="ortho", axis=-1)) of a C-contiguous
    float64 array, in place: the same C function with the arguments scipy.fft passes it
    (norm code 1 = ortho, one worker: each row's values do not depend on the threads), loaded
    without importing scipy.fft, whose import (scipy.special among others) costs a one-shot
    process ~0.2-0.5 s."""
    if not _PFFT:
        _PFFT.append(_pocketfft())
    p = _PFFT[0]
    if p is None or x.dtype != np.float64 or not x.flags.c_contiguous or not x.size:
        return mdct._dct4(x)
    return p.dct(x, 4, (-1,), 1, x, 1, None)


def _pocketfft():
    name = "scipy.fft._pocketfft.pypocketfft"
    if name in sys.modules:
        return sys.modules[name]
    try:
        import importlib.machinery
        import pathlib

        spec = importlib.util.find_spec("scipy")
        folder = pathlib.Path(spec.origin).parent / "fft" / "_pocketfft"
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = folder / ("pypocketfft" + suffix)
            if path.exists():
                es = importlib.util.spec_from_file_location(name, str(path))
                mod = importlib.util.module_from_spec(es)
                es.loader.exec_module(mod)
                sys.modules[name] = mod  # where scipy.fft's own import finds it
                return mod if hasattr(mod, "dct") else None
    except Exception:  # noqa: BLE001 - any trouble: scipy.fft's own path
        return None
    return None


def _mean_square(x: np.ndarray) -> np.ndarray:
    """np.sum(x**2, axis=0) / len(x), the same values (a sum over the first axis adds in order),
    a channel at a time: no squared copy of all channels."""
    p2 = np.square(x[0])
    for c in range(1, x.shape[0]):
        p2 += np.square(x[c])
    p2 /= x.shape[0]
    return p2


def preecho_levels(seg: np.ndarray, short: np.ndarray, st: Settings) -> tuple[np.ndarray, np.ndarray]:
    """The dynamics inside each short block's window of frames given by their 2N segments
    (ch, F, 2N): (e_lo, e_blk) (F, SHORT) of :class:`Analysis` (zero for long frames); frame by
    frame, so any run of frames gives each frame the same values."""
    ch, F, N2 = seg.shape
    N = N2 // 2
    S = transform.SHORT
    e_lo = np.zeros((F, S))
    e_blk = np.zeros((F, S))
    if short.any() and st.preecho:
        m = N // S
        sel = np.flatnonzero(short)
        g = m // 8  # 16 segments of each short block's 2m window
        x = seg if sel.size == F else seg[:, sel]  # all short (the callers' usual case): no gathered copy
        p2 = _mean_square(x)  # (k, 2N) mean square over channels
        starts = np.array([transform.short_block_offset(N, b) for b in range(S)])
        pos = starts[:, None] + np.arange(16)[None, :] * g  # (S, 16)
        # (the gather's result has the frames innermost in memory; that layout fixes the mean's
        # summation order, so its bits: a sliding-window gather, C-ordered, differs in the last bit)
        qe = p2[:, pos.reshape(-1)[:, None] + np.arange(g)[None, :]].mean(-1).reshape(sel.size, S, 16)
        # the block's noise in segment j is scaled by the synthesis window there: compare the
        # signal with the window's mean square in each segment
        w2 = np.mean(block_window_sq(m).reshape(16, g), axis=1)
        floor = (256.0 * st.preecho_floor) ** 2  # grid units: preecho_floor 16-bit LSBs RMS
        e_lo[sel] = np.maximum(np.min(np.maximum(qe, floor) / w2, axis=-1), floor)
        e_blk[sel] = qe.mean(-1)
        if st.weights is not None:  # the noise of the weighted steps, in the weighted domain
            e_lo[sel] /= _perc.weight_rms(st.weights) ** 2
    return e_lo, e_blk


class Quantized:
    """step; q (F, ch, N) int64 quantization indices; cls (F, ch, nb) band classes; ms (F,) bool;
    e (F, SHORT) step reduction of each short block, half-octaves (0..EMAX); v |X|/step of the
    coded representation; Y the coded representation (made when first asked for, from
    ``src`` = (X, XM), where a compiled quantizer left it out); perceptual streams
    (tqa.sv2.perceptual): nl (F, ch, groups) noise classes (-1 = no empty band), pg the frame
    gain codes."""

    __slots__ = ("step", "q", "cls", "ms", "e", "v", "_Y", "nl", "pg", "_src")

    def __init__(self, step, q, cls, ms, e, v, Y, nl=None, pg=None, src=None) -> None:
        self.step, self.q, self.cls, self.ms, self.e, self.v, self._Y, self._src = step, q, cls, ms, e, v, Y, src
        self.nl, self.pg = nl, pg

    @property
    def Y(self) -> np.ndarray:
        if self._Y is None and self._src is not None:
            X, XM = self._src
            self._Y = X if not self.ms.any() else np.where(self.ms[:, None, None], XM, X)
        return self._Y

    def __repr__(self) -> str:
        return f"Quantized(step={self.step!r}, q.shape={self.q.shape}, ms={self.ms!r}, e={self.e!r})"


def _rate_proxy(E: np.ndarray, step: float) -> np.ndarray:
    """Bits of a band of energy E at this step (Gaussian, reverse water-filling), summed per frame."""
    return np.sum(np.log2(1.0 + E / (BAND * step * step)), axis=(1, 2))


def stereo_pick(A: Analysis, step: float, mode: str) -> np.ndarray:
    F = A.X.shape[0]
    if A.XM is None:
        return np.zeros(F, bool)
    if mode == "ms":
        return np.ones(F, bool)
    return _rate_proxy(A.EBM, step) < _rate_proxy(A.EB, step)


PREECHO_GAMMA = 0.5
EMAX = 40
_HALF = np.array([2.0 ** -(e // 2) * (0.7071067811865476 if e % 2 else 1.0) for e in range(EMAX + 1)])  # 2**(-e/2)


def preecho_shift(A: Analysis, step: float) -> np.ndarray:
    """Per short block, how many half-octaves to refine its step so that its quantization noise
    (step²/12 per sample) stays below the quietest quarter of its window."""
    return shift_of(A.e_lo, A.guard, A.short, step)


def shift_of(e_lo: np.ndarray, guard: np.ndarray, short: np.ndarray, step: float) -> np.ndarray:
    """:func:`preecho_shift` from the analysis's e_lo, guard and short alone."""
    noise = step * step / 12.0
    need = np.ceil(np.log2(np.maximum(noise / (PREECHO_GAMMA * np.maximum(e_lo, 1e-9)), 1.0)))
    e = np.where(guard, np.clip(need, 0, EMAX), 0)
    return np.where(short[:, None], e, 0).astype(np.int64)


def step_map(step: float, e: np.ndarray, N: int) -> np.ndarray:
    """Per coefficient step (F, 1, N): short block k (coefficients k, k+8, ...) uses step·2**(-e_k/2)."""
    F = e.shape[0]
    return (step * _HALF[np.tile(e, (1, N // transform.SHORT))]).reshape(F, 1, N)


def quantize(A: Analysis, step: float, st: Settings, divide: bool | None = None) -> Quantized:
    """``divide``: whether |X| is divided by the per-block steps (some frame has a refined one)
    or multiplied by 1/step; default: whether a frame of A has.  Frames quantized in pieces
    pass the flag of the run they belong to, to get its values to the last bit."""
    ms = stereo_pick(A, step, st.stereo)
    jit = _compiled_enc()
    if jit is not None:
        return _quantize_compiled(jit, A, step, st, divide, ms)
    Y = A.X if not ms.any() else np.where(ms[:, None, None], A.XM, A.X)
    e = preecho_shift(A, step) if st.preecho else np.zeros((Y.shape[0], transform.SHORT), np.int64)
    if st.tune == "perceptual" or (e.any() if divide is None else divide):  # perceptual: always
        v = np.abs(Y) / step_map(step, e, Y.shape[2])
    else:
        v = np.abs(Y) * (1.0 / step)
    q = np.floor(v + st.rho).astype(np.int64)
    q = np.where(Y < 0, -q, q)
    F, ch, N = q.shape
    vb = v.reshape(F, ch, -1, BAND)
    mx = vb.max(axis=-1)
    nz = mx >= 1.0 - st.rho
    ms2 = np.einsum("fcbk,fcbk->fcb", vb, vb) / BAND
    with np.errstate(divide="ignore"):
        c = np.clip(np.rint(np.log2(np.maximum(ms2, 1e-60))) + K0, 1, C - 1).astype(np.int64)
    cls = np.where(nz, c, 0)
    nl = _perc.noise_levels(vb, nz, st.nf_group, st.nf_gain) if st.tune == "perceptual" else None
    return Quantized(step, q, cls, ms, e, v, Y, nl, A.pg)


def _quantize_compiled(jit, A: Analysis, step: float, st: Settings, divide: bool | None, ms: np.ndarray) -> Quantized:
    """:func:`quantize` in one compiled pass (v, q, and per band the einsum of v² and max v);
    the band classes from those with the same NumPy operations."""
    X = np.ascontiguousarray(A.X)
    XM = X if A.XM is None else np.ascontiguousarray(A.XM)
    F, ch, N = X.shape
    e = preecho_shift(A, step) if st.preecho else np.zeros((F, transform.SHORT), np.int64)
    div = bool(st.tune == "perceptual" or (e.any() if divide is None else divide))  # perceptual: always
    q = np.empty((F, ch, N), np.int64)
    v = np.empty((F, ch, N))
    esq = np.empty((F, ch, N // BAND))
    mx = np.empty((F, ch, N // BAND))
    jit.quantize(X, XM, np.ascontiguousarray(ms, bool), np.ascontiguousarray(e, np.int64), _HALF, float(step),
                 1.0 / step, div, float(st.rho), q, v, esq, mx)  # fmt: skip
    nz = mx >= 1.0 - st.rho
    ms2 = esq / BAND
    with np.errstate(divide="ignore"):
        c = np.clip(np.rint(np.log2(np.maximum(ms2, 1e-60))) + K0, 1, C - 1).astype(np.int64)
    cls = np.where(nz, c, 0)
    nl = _perc.noise_levels(v.reshape(F, ch, -1, BAND), nz, st.nf_group, st.nf_gain) if st.tune == "perceptual" else None
    return Quantized(step, q, cls, ms, e, v, None, nl, A.pg, src=(A.X, A.XM))


# -- statistics and tables ---------------------------------------------------------------------
def symbols(qz: Quantized):
    """Per coded coefficient (frame-major order): class, |q|, msb symbol, escape value; and the
    class-delta symbols and their contexts (F, ch·nb)."""
    F, ch, N = qz.q.shape
    cls = qz.cls.reshape(F, -1)
    prev = np.concatenate((np.zeros((F, 1), np.int64), cls[:, :-1]), axis=1)
    dsym = cls - prev + (C - 1)
    dctx = (prev != 0).astype(np.int64)
    band_q = qz.q.reshape(F, -1, BAND)
    coded = cls > 0
    cq = band_q[coded]  # (nbands_coded, 16), frame-major
    ccls = np.repeat(cls[coded], BAND)
    a = np.abs(cq).reshape(-1)
    s = _SHIFT[ccls]
    msb = a >> s
    sym = np.minimum(msb, ESC)
    return dsym, dctx, ccls, a, sym, s, coded


def counts(qz: Quantized, into: dict | None = None, centroids: bool = True) -> dict:
    """Additive statistics of a quantized run of frames: symbol counts of both table kinds, raw
    bits, centroid sums, short frames.  ``into``: the statistics of the frames just before these,
    updated in place and returned — the same values as counting both runs at once (the centroid
    sums are added coefficient by coefficient in the same order, not as two partial sums).
    ``centroids=False``: leave the centroid statistics out (zeros; a step search needs only
    the bits)."""
    jit = _compiled_enc() if qz.v is not None else None
    if jit is not None:
        if into is None:
            into = {"d": np.zeros((2, DS), np.int64), "c": np.zeros((C, 16), np.int64), "raw": 0.0,
                    "cn": np.zeros(3 * C, np.int64), "cd": np.zeros(3 * C)}  # fmt: skip
        into["cd"] = into["cd"].astype(np.float64, copy=False)
        F = qz.q.shape[0]
        raw = jit.counts(np.ascontiguousarray(qz.q, np.int64), np.ascontiguousarray(qz.v, np.float64),
                         np.ascontiguousarray(qz.cls.reshape(F, -1), np.int64), _SHIFT, C, into["d"], into["c"],
                         into["cn"], into["cd"], bool(centroids))  # fmt: skip
        into["raw"] += float(raw)
        if qz.nl is not None:  # integers: the sum is exact in either order
            into["raw"] += _perc.record_bits(qz.nl, qz.pg)
        return into
    dsym, dctx, ccls, a, sym, s, coded = symbols(qz)
    esc = (a >> s) >= ESC
    ev = (a >> s)[esc] - ESC + 1
    raw = float(s.sum() + np.count_nonzero(a) + np.sum(2 * np.floor(np.log2(np.maximum(ev, 1))) + 1))
    if qz.nl is not None:
        raw += _perc.record_bits(qz.nl, qz.pg)
    F, ch, N = qz.q.shape
    v = qz.v.reshape(F, -1, BAND)[coded].reshape(-1)
    m = a > 0
    if not centroids:
        m = np.zeros_like(m)
    key = ccls[m] * 3 + np.minimum(a[m], 3) - 1
    d = np.bincount(dctx.ravel() * DS + dsym.ravel(), minlength=2 * DS).reshape(2, DS)
    c = np.bincount(ccls * 16 + sym, minlength=C * 16).reshape(C, 16)
    cn = np.bincount(key, minlength=3 * C)
    if into is not None:  # integer counts and raw bits (sums of integers) add exactly in any order
        into["d"] += d
        into["c"] += c
        into["raw"] += raw
        into["cn"] += cn
        into["cd"] = into["cd"].astype(np.float64, copy=False)  # bincount of nothing is int64 zeros
        np.add.at(into["cd"], key, a[m] - v[m])  # the sequential sums bincount makes, continued
        return into
    return {"d": d, "c": c, "raw": raw, "cn": cn, "cd": np.bincount(key, weights=a[m] - v[m], minlength=3 * C)}


def add_counts(a: dict | None, b: dict) -> dict:
    if a is None:
        return b
    return {k: a[k] + b[k] for k in a}


def _entropy(counts: np.ndarray) -> float:
    tot = counts.sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.sum(np.where(counts > 0, counts * np.log2(counts / np.maximum(tot, 1)), 0)))


def bits_of_counts(k: dict) -> float:
    """Entropy estimate of the payloads (rANS ~ ideal code lengths of the per-stream tables)."""
    return _entropy(k["d"]) + _entropy(k["c"]) + k["raw"]


def estimate_bits(qz: Quantized) -> float:
    return bits_of_counts(counts(qz))


def tables_of_counts(k: dict) -> "Tables":
    with np.errstate(invalid="ignore", divide="ignore"):
        off = np.where(k["cn"] > 0, k["cd"] / np.maximum(k["cn"], 1), 0.0)
    delta = np.clip(np.rint(off * 128), 0, 63).astype(np.int64).reshape(C, 3)
    return Tables(rans.codes_from_counts(k["d"]), rans.codes_from_counts(k["c"]), delta)


def centroids(qz: Quantized) -> np.ndarray:
    """Reconstruction offsets delta[c, bucket] in 1/128 (0..63): |x|/step ~ |q| - delta for
    |q| = 1, 2, >=3 (the conditional means of the cells: Lloyd–Max's centroid condition)."""
    return tables_of_counts(counts(qz)).delta


def reconstruct(q: np.ndarray, cls: np.ndarray, delta: np.ndarray, step) -> np.ndarray:
    F, ch, N = q.shape
    c = np.repeat(cls.reshape(F, ch, -1), BAND, axis=-1)
    a = np.abs(q)
    off = delta[c, np.clip(a, 1, 3) - 1] / 128.0
    mag = np.where(a > 0, a - off, 0.0)
    return np.where(q < 0, -mag, mag) * step


# -- bit packing helpers --------------------------------------------------------------------
def _bits_of(values: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """MSB-first bits of each value in its width, concatenated (uint8 0/1)."""
    if values.size == 0:
        return np.zeros(0, np.uint8)
    wmax = int(widths.max()) if widths.size else 0
    if wmax == 0:
        return np.zeros(0, np.uint8)
    j = np.arange(wmax)
    sh = widths[:, None] - 1 - j[None, :]
    bits = (values[:, None] >> np.maximum(sh, 0)) & 1
    return bits[sh >= 0].astype(np.uint8)


def _expgolomb(e: np.ndarray) -> np.ndarray:
    v = e + 1
    nb = np.floor(np.log2(v)).astype(np.int64) + 1
    out = []
    for val, k in zip(v.tolist(), nb.tolist()):
        out.append(np.zeros(k - 1, np.uint8))
        out.append(np.array([(val >> (k - 1 - i)) & 1 for i in range(k)], np.uint8))
    return np.concatenate(out) if out else np.zeros(0, np.uint8)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    n, sh = 0, 0
    while True:
        if pos >= len(buf) or sh > 28:
            raise ValueError("bad varint")
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << sh
        sh += 7
        if not b & 0x80:
            return n, pos


# -- tables -----------------------------------------------------------------------------------
@dataclass
class Tables:
    dcodes: np.ndarray  # (2, DS) 5-bit log codes of the class-delta tables
    ccodes: np.ndarray  # (C, 16) codes of the coefficient tables (row 0 unused)
    delta: np.ndarray  # (C, 3) centroid offsets in 1/128

    def freqs(self) -> np.ndarray:
        """Frequencies of all tables (C + 1, DS): 0, 1 = class deltas; 1 + c = coefficients of class c."""
        codes = np.full((C + 1, DS), rans.ABSENT, np.int64)
        codes[:2] = self.dcodes
        codes[2:, :16] = self.ccodes[1:]
        # unused tables must still be valid: give them a dummy single symbol
        empty = np.all(codes == rans.ABSENT, axis=1)
        codes[empty, 0] = 0
        return rans.freqs_from_codes(codes)

    def arrays(self, lut: bool = True):
        """freq, cum, lut of all tables (:meth:`freqs`), made once for these codes: the packer
        asks for them per piece of frames, ~100 times in 5 minutes of stereo.  ``lut=False``:
        lut None unless made already (the encoder's coder needs no slot lookup: a 1-s chunk's
        encode spares its ~0.15 ms)."""
        key = (self.dcodes.tobytes(), self.ccodes.tobytes())
        got = self.__dict__.get("_made")
        if got is None or got[0] != key:
            f = self.freqs()
            got = self.__dict__["_made"] = [key, (f, rans.cum_of(f), None)]
        if lut and got[1][2] is None:
            got[1] = got[1][:2] + (rans.lut_of(got[1][0]),)
        return got[1]


def coded_bits(k: dict, tab: Tables) -> float:
    """Bits of the counted symbols at the code lengths of tab's frequencies (what rANS spends,
    within ~0.05%: measured on 1-s chunks) plus the raw bits; :func:`bits_of_counts` is the
    ideal (per-stream entropy), ~0.1% under."""
    f = tab.freqs()
    with np.errstate(divide="ignore"):
        cost = rans.PROB_BITS - np.log2(f)
    d, c = k["d"], k["c"][1:]
    sym = np.sum(d * np.where(d > 0, cost[:2, : d.shape[1]], 0)) + np.sum(c * np.where(c > 0, cost[2:, :16], 0))
    return float(sym) + k["raw"]


def make_tables(qz: Quantized) -> Tables:
    return tables_of_counts(counts(qz))


def _pack_bits(fields: list[tuple[np.ndarray, int]]) -> bytes:
    bits = np.concatenate([_bits_of(np.asarray(v, np.int64).ravel(), np.full(np.size(v), w, np.int64)) for v, w in fields])
    return np.packbits(bits).tobytes()


HEAD = struct.Struct("<4sBBBHIQQd")


def clamp_step(step: float) -> float:
    """The quantizer step an encoder may send (STEP_RANGE)."""
    return min(max(step, STEP_RANGE[0]), STEP_RANGE[1])


def _used_classes(tab: Tables) -> np.ndarray:
    used = np.any(tab.ccodes != rans.ABSENT, axis=1)
    used[0] = False
    return used


def _record(st: Settings) -> list[tuple[np.ndarray, int]]:
    """The perceptual tune's params record (bit fields), or none."""
    return _perc.pack_record(st.nf_group, st.nf_zero, st.weights or [0] * (st.hop // BAND)) if st.tune == "perceptual" else []


def _param_fields(st: Settings, tab: Tables, used: np.ndarray) -> list[tuple[np.ndarray, int]]:
    bitmap = int(np.sum(used.astype(np.int64) << np.arange(C)))
    return [(tab.dcodes, 5), (np.array([bitmap]), 32), (tab.ccodes[used], 5), (tab.delta[used], 6)] + _record(st)


def pack_params(st: Settings, channels: int, n: int, step: float, tab: Tables) -> bytes:
    if not STEP_RANGE[0] <= step <= STEP_RANGE[1]:
        raise ValueError(f"quantizer step {step!r} outside STEP_RANGE (clamp_step)")
    flags = int(st.rotate) | (int(st.transients) << 1)
    ver = _perc.VERSION if st.tune == "perceptual" else _floor.VERSION if st.frame_floor is not None else VERSION
    head = HEAD.pack(MAGIC, ver, flags, channels, st.hop, st.sample_rate, n, st.seed, step)
    return head + _pack_bits(_param_fields(st, tab, _used_classes(tab)))


def params_size(st: Settings, tab: Tables) -> int:
    """len(pack_params(...)) without packing them (the rate search asks at every step it tries):
    the same fields' widths summed."""
    bits = sum(np.size(v) * w for v, w in _param_fields(st, tab, _used_classes(tab)))
    return HEAD.size + -(-bits // 8)


@dataclass
class Params:
    channels: int
    hop: int
    sample_rate: int
    n_samples: int
    seed: int
    rotate: bool
    step: float
    tables: Tables
    perc: "_perc.Record | None" = None  # tune="perceptual" streams (params version 2)
    floor: bool = False  # frame_floor streams (params version 3): frames may carry a refinement byte
    limit: float = COEF_LIMIT  # largest |coefficient| decoded (tqa.sv2.floor checks its frames' after their scaling)

    @property
    def n_frames(self) -> int:
        return max(1, -(-self.n_samples // self.hop))


def parse_params(params: bytes) -> Params:
    if len(params) < HEAD.size:
        raise ValueError("sv2 params too short")
    magic, ver, flags, ch, hop, sr, n, seed, step = HEAD.unpack_from(params)
    if magic != MAGIC or ver not in (VERSION, _perc.VERSION, _floor.VERSION):
        raise ValueError("not sv2 params (magic/version)")
    if hop not in (256, 512, 1024, 2048) or not 1 <= ch <= 255:
        raise ValueError("bad sv2 params")
    if not STEP_RANGE[0] <= step <= STEP_RANGE[1]:  # also refuses NaN
        raise ValueError(f"sv2 quantizer step {step!r} outside {STEP_RANGE[0]!r} .. {STEP_RANGE[1]!r}")
    bits = np.unpackbits(np.frombuffer(params[HEAD.size :], np.uint8)).astype(np.int64)
    pos = 0

    def take(count: int, width: int) -> np.ndarray:
        nonlocal pos
        if pos + count * width > bits.size:
            raise ValueError("sv2 params truncated")
        b = bits[pos : pos + count * width].reshape(count, width)
        pos += count * width
        return b @ (1 << np.arange(width - 1, -1, -1))

    dcodes = take(2 * DS, 5).reshape(2, DS)
    bitmap = int(take(1, 32)[0])
    used = ((bitmap >> np.arange(C)) & 1).astype(bool)
    nu = int(used.sum())
    ccodes = np.full((C, 16), rans.ABSENT, np.int64)
    ccodes[used] = take(nu * 16, 5).reshape(nu, 16)
    delta = np.zeros((C, 3), np.int64)
    delta[used] = take(nu * 3, 6).reshape(nu, 3)
    perc = _perc.parse_record(take, hop) if ver == _perc.VERSION else None
    return Params(ch, hop, sr, n, seed, bool(flags & 1), step, Tables(dcodes, ccodes, delta), perc, ver == _floor.VERSION)


# -- frames -----------------------------------------------------------------------------------
def pack_frames(qz: Quantized, tab: Tables, short: np.ndarray, r: np.ndarray, zmap: np.ndarray | None = None) -> list[bytes]:
    """Payloads of a run of frames: their quantization, kinds and boundary overlaps (F+1,)."""
    F, ch, N = qz.q.shape
    nb = N // BAND
    freq, cum, _ = tab.arrays(lut=False)
    enc = _compiled_enc() if qz.nl is None else None  # perceptual records: _assemble writes them
    if enc is not None:
        zany = np.zeros(F, bool) if zmap is None else zmap.reshape(F, -1).any(axis=1)
        qq = qz.q if qz.q.dtype == np.int16 and qz.q.flags.c_contiguous else np.ascontiguousarray(qz.q, np.int64)
        buf, offs, cut = (enc.pack16 if qq.dtype == np.int16 else enc.pack)(qq, np.ascontiguousarray(qz.cls.reshape(F, -1), np.int64),
                                  np.ascontiguousarray(qz.ms, bool), np.ascontiguousarray(qz.e, np.int64),
                                  np.ascontiguousarray(short, bool), np.ascontiguousarray(r, np.int64), zany, _SHIFT, C,
                                  cum, freq)  # fmt: skip
        b, o, cu = buf.tobytes(), offs.tolist(), cut.tolist()
        return [b[o[f] : cu[f]] + _runs_bytes(zmap[f]) + b[cu[f] : o[f + 1]] if zany[f] else b[o[f] : o[f + 1]]
                for f in range(F)]  # fmt: skip
    dsym, dctx, ccls, a, sym, s, coded = symbols(qz)
    ne = coded.sum(1)  # coded bands per frame
    ncoef = ne * BAND
    lanes = _lanes_encoder()
    if lanes is not None:
        cstart = np.concatenate(([0], np.cumsum(ncoef))).astype(np.int64)
        i64 = functools.partial(np.ascontiguousarray, dtype=np.int64)  # the AOT module's exact types
        wflat, woff = lanes(i64(dsym), i64(dctx), i64(sym), i64(1 + ccls), cstart, i64(cum), i64(freq))
        words = [wflat[woff[f] : woff[f + 1]] for f in range(F)]
    else:
        words = _rans_lanes(F, ch * nb, ncoef, dctx, dsym, ccls, sym, cum, freq)
    return _assemble(qz, words, coded, ccls, a, s, ne, ncoef, short, r, F, N, zmap)


def _lanes_encoder():
    """The compiled rANS lane coder for records :func:`_assemble` writes (perceptual frames):
    the ahead-of-time module's where it is built, so that a one-shot encode does not import numba
    (~0.9 s), else the JIT's, else None (NumPy)."""
    enc = _compiled_enc()
    if enc is not None and hasattr(enc, "encode_lanes"):
        return enc.encode_lanes
    jit = _compiled()
    return None if jit is None else jit.encode_lanes


def _rans_lanes(F, nbc, ncoef, dctx, dsym, ccls, sym, cum, freq):
    T = nbc + int(ncoef.max(initial=0))
    lengths = nbc + ncoef
    ch, nb = 1, nbc
    tabs = np.zeros((F, T), np.int64)
    syms = np.zeros((F, T), np.int64)
    tabs[:, : ch * nb] = dctx
    syms[:, : ch * nb] = dsym
    col = np.arange(T)[None, :] - ch * nb
    live = (col >= 0) & (col < ncoef[:, None])
    tabs[live] = 1 + ccls
    syms[live] = sym
    st_, fr_ = cum[tabs, syms], freq[tabs, syms]
    words = []
    for lo in range(0, F, 1024):  # bounded memory
        words += rans.encode(st_[lo : lo + 1024], fr_[lo : lo + 1024], lengths[lo : lo + 1024])
    return words


def _assemble(qz, words, coded, ccls, a, s, ne, ncoef, short, r, F, N, zmap):
    # LSB planes: each coded band with shift s has s planes of 16 bits (2 bytes), MSB plane first
    sb = _SHIFT[cls_coded := qz.cls.reshape(F, -1)[coded]]
    A16 = a.reshape(-1, BAND)
    lsb_arr = _lsb_planes(A16, sb)
    band_f = np.repeat(np.arange(F), ne)
    lsb_fo = np.concatenate(([0], np.cumsum(np.bincount(band_f, weights=2 * sb, minlength=F).astype(np.int64))))
    # sign bits (nonzero coefficients, in order), then escape codes (Exp-Golomb), per frame
    fidx = np.repeat(np.arange(F), ncoef)
    q_flat = qz.q.reshape(F, -1, BAND)[coded].reshape(-1)
    nzm = a > 0
    sign_bits = (q_flat[nzm] < 0).astype(np.uint8)
    sign_f = fidx[nzm]
    escm = (a >> s) >= ESC
    ev = (a >> s)[escm] - ESC + 1
    ew = 2 * _bitlen(ev) - 1
    esc_bits = _bits_of(ev, ew)
    esc_f = np.repeat(fidx[escm], ew)
    tail, tail_o = _frame_bits(np.concatenate((sign_f, esc_f)), np.concatenate((sign_bits, esc_bits)),
                               np.concatenate((np.zeros(sign_f.size, np.int64), np.ones(esc_f.size, np.int64))), F)  # fmt: skip
    out = []
    lsb_b = lsb_arr.tobytes()
    tail_b = tail.tobytes()
    zany = np.zeros(F, bool) if zmap is None else zmap.reshape(F, -1).any(axis=1)
    nrec = _perc.records(qz.nl) if qz.nl is not None else None
    for f in range(F):
        hdr = int(short[f]) | (int(r[f] == N // 16 and not short[f]) << 1) \
            | (int(r[f + 1] == N // 16 and not short[f]) << 2) | (int(qz.ms[f]) << 3) | (int(zany[f]) << 4)  # fmt: skip
        w = words[f]
        ext = b""
        if short[f]:
            ek = qz.e[f]
            ext = bytes(ek.astype(np.uint8).tolist())
        if zany[f]:
            ext += _runs_bytes(zmap[f])
        if nrec is not None and nrec[f]:
            hdr |= _perc.HDR_BIT
            ext += nrec[f]
        if qz.pg is not None:
            ext += _perc.gain_bytes(qz.pg[f])
        out.append(b"".join((bytes([hdr]), ext, _varint(w.size), w.astype("<u2").tobytes(),
                             lsb_b[lsb_fo[f] : lsb_fo[f + 1]], tail_b[tail_o[f] : tail_o[f + 1]])))  # fmt: skip
    return out


def _bitlen(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.int64)
    out = np.zeros(v.shape, np.int64)
    x = v.copy()
    for sh in (32, 16, 8, 4, 2, 1):
        m = x >= (1 << sh)
        out += m * sh
        x = np.where(m, x >> sh, x)
    return out + (x > 0)


def _lsb_planes(A16: np.ndarray, sb: np.ndarray) -> np.ndarray:
    """Bytes of the LSB planes of coded bands (rows of 16 magnitudes, shift sb each), concatenated."""
    off = np.concatenate(([0], np.cumsum(2 * sb)))
    out = np.zeros(int(off[-1]), np.uint8)
    for j in range(int(sb.max(initial=0))):
        rows = np.flatnonzero(sb > j)
        bits = ((A16[rows] >> (sb[rows] - 1 - j)[:, None]) & 1).astype(np.uint8)
        pk = np.packbits(bits, axis=1)  # (rows, 2)
        out[off[rows] + 2 * j] = pk[:, 0]
        out[off[rows] + 2 * j + 1] = pk[:, 1]
    return out


def _frame_bits(frame: np.ndarray, bits: np.ndarray, region: np.ndarray, F: int):
    """Bits tagged by frame and region (kept in order within each), packed per frame, each frame
    padded to whole bytes: (bytes, byte offsets (F+1,))."""
    order = np.argsort(frame * 2 + region, kind="stable")
    fb = frame[order]
    cnt = np.bincount(fb, minlength=F)
    nbytes = -(-cnt // 8)
    bo = np.concatenate(([0], np.cumsum(nbytes)))
    co = np.concatenate(([0], np.cumsum(cnt)))
    pos = 8 * bo[fb] + (np.arange(fb.size) - co[fb])
    buf = np.zeros(8 * int(bo[-1]), np.uint8)
    buf[pos] = bits[order]
    return np.packbits(buf), bo


class FrameError(ValueError):
    def __init__(self, frame: int, detail: str) -> None:
        super().__init__(f"frame {frame}: {detail}")
        self.frame, self.detail = frame, detail


AUTO_VALUES = 1 << 21  # samples x channels of a stream from which the decoder loads numba (~24 s of stereo 44.1 kHz)


_DEC: list = []  # [module or None]: the decoder's loops built ahead of time, once looked for


def scaled_int16_kernel():
    """:func:`tqa.sv2._jit.scaled_int16` built ahead of time (or the JIT one where numba is loaded
    already), else None: :func:`_compiled_decode`'s rules, whatever the stream's size."""
    j = sys.modules.get(__package__ + "._jit")
    if (j is not None and not j.AVAILABLE) or os.environ.get("TQA_SV2_JIT", "1") == "0" or not _have_numba():
        return None
    mod = _aot_decoder()
    if mod is not None and hasattr(mod, "scaled_int16"):
        return mod.scaled_int16
    return j.scaled_int16 if j is not None else None


def _aot_decoder():
    """The decoder's loops built ahead of time, or None (looked for once)."""
    if not _DEC:
        from . import _aot

        mod = _aot.load()
        _DEC.append(mod if mod is not None and hasattr(mod, "unpack_frames") else None)
    return _DEC[0]


def _compiled_decode(p: Params):
    """The compiled decoder where it pays, else None (the NumPy reference, the same values):
    the loops built ahead of time (:mod:`tqa.sv2._aot`: loaded in ~10 ms without importing
    numba) for any stream, else the JIT ones (:func:`_compiled`), which cost a fresh process ~0.7
    s of CPU (numba's import, the scipy.linalg it imports, its first call) and then decode ~10x
    faster (~0.03 against ~0.3 us a value): used once loaded in this process (a long-lived one),
    for streams of AUTO_VALUES samples x channels or more, or always with TQA_SV2_JIT=1.  Never
    with TQA_SV2_JIT=0 (or tqa.sv2._jit.AVAILABLE false); TQA_SV2_AOT=0: the JIT rule only."""
    j = sys.modules.get(__package__ + "._jit")
    if j is not None and not j.AVAILABLE:
        return None
    if os.environ.get("TQA_SV2_JIT", "1") == "0" or not _have_numba():
        return None
    if _aot_decoder() is not None:
        return _DEC[0]
    if j is None and os.environ.get("TQA_SV2_JIT") != "1" and p.n_samples * p.channels < AUTO_VALUES:
        return None
    return _compiled()


def _decode_tables(p: Params):
    """freq, cum, lut of p's tables (:meth:`Tables.arrays`), made once per Params; and for the
    compiled decoder (tables it keeps in the first-level cache): cum with a last column of PROB
    (cum[t, s + 1] ends symbol s) and a coarse lut, symbol at every 16th slot (uint8: symbols < 64)."""
    arr = p.__dict__.get("_arrays")
    if arr is None:
        f, c, lut = (np.ascontiguousarray(a, np.int64) for a in p.tables.arrays())
        cumx = np.concatenate((c, np.full((c.shape[0], 1), rans.PROB, np.int64)), axis=1)
        arr = p.__dict__["_arrays"] = (f, c, lut, cumx, np.ascontiguousarray(lut[:, ::16], np.uint8))
    return arr


def _compiled_tables(p: Params):
    """freq, cumx and the coarse lut of :func:`_decode_tables` without the full lut (~10x
    faster: a 1-s chunk's tables are ~0.4 of its ~3 ms of decoding otherwise): the symbol at
    slot s is the last whose cum is <= s, found by one sorted search over all tables."""
    arr = p.__dict__.get("_ctables")
    if arr is None:
        f = np.ascontiguousarray(p.tables.freqs(), np.int64)
        T, S = f.shape
        c = rans.cum_of(f)
        lutc = _coarse_lut(f, c)
        cumx = np.concatenate((c, np.full((T, 1), rans.PROB, np.int64)), axis=1)
        arr = p.__dict__["_ctables"] = (f, cumx, lutc)
    return arr


def _coarse_lut(f: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(tables, PROB/16) uint8: the symbol at every 16th slot of each table (frequencies f, their
    cumulative sums c), the last symbol whose cum is <= the slot.  Tables summing to PROB (every
    table freqs_from_codes makes): each symbol repeated by its frequency, every 16th taken (the
    symbol whose slots hold it: the same, zero-frequency symbols never hold a slot), 14 against
    130 us for a stream's 33 tables; else one sorted search over all tables."""
    T, S = f.shape
    if S <= 256 and np.all(f >= 0) and np.all(f.sum(axis=1) == rans.PROB):
        return np.ascontiguousarray(np.repeat(np.tile(np.arange(S, dtype=np.uint8), T), f.ravel())[::16].reshape(T, -1))
    off = (np.arange(T, dtype=np.int64) * 2 * rans.PROB)[:, None]
    slots = np.arange(0, rans.PROB, 16, dtype=np.int64)[None, :] + off
    sym = np.searchsorted((c + off).ravel(), slots.ravel(), side="right").reshape(T, -1) - 1
    return np.ascontiguousarray(sym - np.arange(T)[:, None] * S, np.uint8)


_MESSAGES = {1: "bad frame header", 2: "truncated", 3: "bad step refinement", 4: "bad silence run", 5: "bad varint",
             10: "band class out of range", 11: "entropy-coded data inconsistent", 20: "raw bits truncated",
             30: "raw bits truncated", 40: "bad escape", 50: "coefficient beyond the encoder's range"}  # fmt: skip


def unpack_frames(p: Params, payloads: list[bytes], index: np.ndarray):
    """(coefficients (ch, F, N), short (F,), left and right overlaps (F,), (F,), silence maps
    (F, ch, N)) of the frames whose absolute indices are ``index``.

    Raises FrameError (.frame = absolute index) on a malformed payload.  One compiled pass over
    the payloads where numba is installed and pays (:func:`_compiled_decode`,
    :func:`tqa.sv2._jit.unpack_frames`), else the NumPy reference (:func:`_unpack_frames_numpy`);
    the two give the same values, bit for bit (tested)."""
    if p.floor:  # version 3: the refinement bytes stripped, the frames scaled after (tqa.sv2.floor)
        return _floor.unpack(p, payloads, index, unpack_frames)
    jit = _compiled_decode(p)
    if jit is None or p.perc is not None:  # tune="perceptual": its records and noise fill, in the reference only
        return _unpack_frames_numpy(p, payloads, index)
    F = len(payloads)
    index = np.asarray(index, np.int64)
    ch, N = p.channels, p.hop
    freq, cumx, lutc = _compiled_tables(p)
    buf = np.frombuffer(bytearray().join(payloads) + bytes(8), np.uint8)  # the kernel may read a byte past the last
    offs = np.zeros(F + 1, np.int64)
    np.cumsum([len(b) for b in payloads], out=offs[1:])
    X = np.empty((ch, F, N))  # the kernel writes every value of a frame it decodes
    hdr = np.zeros(F, np.int64)
    ee = np.zeros((F, transform.SHORT), np.int64)
    zmap = np.zeros((F, ch, N), bool)
    err = np.zeros(F, np.int64)
    delta = np.ascontiguousarray(p.tables.delta, np.int64)  # the ahead-of-time loops take exactly these types
    jit.unpack_frames(buf, offs, ch, N, C, BAND, ESC, EMAX, freq, cumx, lutc, delta, _SHIFT, _HALF,
                      float(p.step), float(p.limit), 0.0 if p.rotate else float(np.sqrt(0.5)), X, hdr, ee, zmap, err)  # fmt: skip
    if err.any():  # the reference checks each phase on all frames before the next: the first frame of the first phase
        bad = np.flatnonzero(err)
        f = int(bad[np.argmin(err[bad] // 10)])
        raise FrameError(int(index[f]), _MESSAGES[int(err[f])])
    short = (hdr & 1).astype(bool)
    rl = np.where(short | (hdr & 2 > 0), N // 16, N // 2)
    rr = np.where(short | (hdr & 4 > 0), N // 16, N // 2)
    rl = np.where(index == 0, 0, rl)
    rr = np.where(index == p.n_frames - 1, 0, rr)
    if p.rotate:  # the reference's operations on its layout (F, ch, N); M/S came back in the kernel otherwise
        X = _rotate(X.transpose(1, 0, 2), p.seed, inverse=True)
        X = np.ascontiguousarray(apply_ms(X, (hdr & 8 > 0) & (ch == 2)).transpose(1, 0, 2))
    return X, short, rl, rr, zmap


def _unpack_frames_numpy(p: Params, payloads: list[bytes], index: np.ndarray):
    """:func:`unpack_frames` in NumPy (the reference): every frame stepped at once, phase by phase."""
    F = len(payloads)
    index = np.asarray(index, np.int64)
    first = 0
    ch, N = p.channels, p.hop
    nb = N // BAND
    total = p.n_frames
    freq, cum, lut, _, _ = _decode_tables(p)
    hdr = np.zeros(F, np.int64)
    ee = np.zeros((F, transform.SHORT), np.int64)
    zmap = np.zeros((F, ch, N), bool)
    wl, raws = [], []
    nrecs = [None] * F  # perceptual: noise record bodies
    pgain = np.zeros((F, 1 + N // BAND // _perc.LG), np.int64)  # perceptual: frame gain codes
    hmax = 63 if p.perc is not None else 31
    for i, b in enumerate(payloads):
        try:
            if not b or b[0] > hmax:
                raise ValueError("bad frame header")
            pos = 1
            if b[0] & 1:
                if len(b) < 1 + transform.SHORT:
                    raise ValueError("truncated")
                ee[i] = np.frombuffer(b, np.uint8, transform.SHORT, 1)
                if ee[i].max() > EMAX:
                    raise ValueError("bad step refinement")
                pos = 1 + transform.SHORT
            if b[0] & 16:
                pos = _read_runs(b, pos, zmap[i])
            if b[0] & _perc.HDR_BIT:
                nl_, pos = _read_varint(b, pos)
                if pos + nl_ > len(b):
                    raise ValueError("truncated")
                nrecs[i], pos = b[pos : pos + nl_], pos + nl_
            if p.perc is not None:  # the frame gain code and the local weights
                pos = _perc.read_gains(b, pos, pgain[i])
            nw, pos = _read_varint(b, pos)
            if pos + 2 * nw > len(b) or nw < 2:
                raise ValueError("truncated")
        except ValueError as exc:
            raise FrameError(int(index[i]), str(exc)) from None
        hdr[i] = b[0]
        wl.append(np.frombuffer(b, "<u2", nw, pos))
        raws.append(np.frombuffer(b, np.uint8, len(b) - pos - 2 * nw, pos + 2 * nw))
    short = (hdr & 1).astype(bool)
    idx = index
    rl = np.where(short | (hdr & 2 > 0), N // 16, N // 2)
    rr = np.where(short | (hdr & 4 > 0), N // 16, N // 2)
    rl = np.where(idx == 0, 0, rl)
    rr = np.where(idx == total - 1, 0, rr)
    counts = np.array([w.size for w in wl], np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    nbc = ch * nb
    cls, syms, coded, ne, ncoef, T2 = _decode_lanes_numpy(wl, starts, counts, nbc, freq, cum, lut, index, F)
    live = np.arange(T2)[None, :] < ncoef[:, None]
    sym = syms[live]  # frame-major
    ccls = np.repeat(cls[coded], BAND)
    s = _SHIFT[ccls]
    fidx = np.repeat(np.arange(F), ncoef)
    # LSB planes (2 bytes per plane per coded band), then sign and escape bits
    sb = _SHIFT[cls[coded]]
    band_f = np.repeat(np.arange(F), ne)
    lsb_bytes = np.bincount(band_f, weights=2 * sb, minlength=F).astype(np.int64)
    rawb = np.array([r.size for r in raws], np.int64)
    if np.any(lsb_bytes > rawb):
        raise FrameError(int(index[np.flatnonzero(lsb_bytes > rawb)[0]]), "raw bits truncated")
    lsb_all = np.concatenate([r[:k] for r, k in zip(raws, lsb_bytes.tolist())]) if F else np.zeros(0, np.uint8)
    tails = [r[k:] for r, k in zip(raws, lsb_bytes.tolist())]
    tlen = (rawb - lsb_bytes) * 8
    tbits = np.unpackbits(np.concatenate(tails)) if F else np.zeros(0, np.uint8)
    toff = np.concatenate(([0], np.cumsum(tlen)))
    boff = np.concatenate(([0], np.cumsum(2 * sb)))
    L16 = np.zeros((sb.size, BAND), np.int64)
    for j in range(int(sb.max(initial=0))):
        rows = np.flatnonzero(sb > j)
        pk = np.stack((lsb_all[boff[rows] + 2 * j], lsb_all[boff[rows] + 2 * j + 1]), axis=1)
        L16[rows] = (L16[rows] << 1) | np.unpackbits(pk, axis=1)
    lsb = L16.reshape(-1)
    nz = (sym > 0) | (lsb > 0)
    sign_n = np.bincount(fidx[nz], minlength=F)
    if np.any(sign_n > tlen):
        raise FrameError(int(index[np.flatnonzero(sign_n > tlen)[0]]), "raw bits truncated")
    rank = np.cumsum(nz) - 1
    nzstart = np.concatenate(([0], np.cumsum(sign_n)))
    spos = toff[fidx] + rank - nzstart[fidx]
    neg = np.zeros(sym.size, bool)
    neg[nz] = tbits[spos[nz]] == 1
    msb = sym.copy()
    esc = np.flatnonzero(sym == ESC)
    if esc.size:
        msb[esc] = ESC - 1 + _read_expgolomb(tbits, toff, fidx[esc], toff[:-1] + sign_n, index)
    a = (msb << s) | lsb
    off = p.tables.delta[ccls, np.clip(a, 1, 3) - 1] * (1.0 / 128)
    mag = np.where(a > 0, a - off, 0.0)
    if ee.any():  # per-coefficient step of the short blocks
        kpos = np.nonzero(coded)[1] % nb * BAND  # first coefficient index of each coded band
        k = (kpos[:, None] + np.arange(BAND)[None, :]).reshape(-1) % transform.SHORT
        stepv = p.step * _HALF[ee[fidx, k]]
    else:
        stepv = p.step
    val = mag * stepv
    if val.size and not val.max() <= p.limit:
        raise FrameError(int(index[fidx[np.flatnonzero(~(val <= p.limit))[0]]]), "coefficient beyond the encoder's range")
    X = np.zeros((F, ch * nb, BAND))
    X[coded] = np.where(neg, -val, val).reshape(-1, BAND)
    X = X.reshape(F, ch, N)
    if p.perc is not None:  # tune="perceptual": noise filling and band weights (tqa.sv2.perceptual)
        X = _perceptual_post(X, cls, nrecs, pgain, p, ee, index)
    if p.rotate:
        X = _rotate(X, p.seed, inverse=True)
    ms = (hdr & 8 > 0) & (ch == 2)
    X = apply_ms(X, ms)
    return X.transpose(1, 0, 2), short, rl, rr, zmap


def _perceptual_post(X, cls, nrecs, pgain, p: Params, ee, index) -> np.ndarray:
    try:
        X = _perc.post(X, cls, nrecs, pgain, p.perc, step_map(p.step, ee, p.hop) if ee.any() else p.step, p.seed, index)
    except ValueError as exc:
        raise FrameError(int(index[getattr(exc, "frame_pos", 0)]), str(exc)) from None
    if X.size and not np.abs(X).max() <= COEF_LIMIT:
        raise FrameError(int(index[int(np.argmax(~(np.abs(X) <= COEF_LIMIT).reshape(X.shape[0], -1).all(1)))]),
                         "coefficient beyond the encoder's range")  # fmt: skip
    return X


def _read_expgolomb(bits: np.ndarray, toff: np.ndarray, ef: np.ndarray, start: np.ndarray, index) -> np.ndarray:
    """Exp-Golomb values (>= 1) of the escapes ``ef`` (their frames, in order): each frame's codes
    follow one another from start[f]; all frames are read in parallel, one escape per round."""
    ones = np.flatnonzero(bits)
    out = np.zeros(ef.size, np.int64)
    fs = np.concatenate(([0], np.flatnonzero(np.diff(ef)) + 1))  # first escape of each run of a frame
    k_in = np.arange(ef.size) - np.repeat(fs, np.diff(np.concatenate((fs, [ef.size]))))
    pos = start[ef[fs]].astype(np.int64)
    for k in range(int(k_in.max(initial=-1)) + 1):
        sel = np.flatnonzero(k_in == k)
        run = np.searchsorted(fs, sel, side="right") - 1
        p = pos[run]
        end = toff[ef[sel] + 1]
        j = np.searchsorted(ones, p)
        nxt = np.where(j < ones.size, ones[np.minimum(j, ones.size - 1)], end)
        z = nxt - p
        bad = (z > 40) | (nxt + z + 1 > end)
        if bad.any():
            raise FrameError(int(index[ef[sel][np.flatnonzero(bad)[0]]]), "bad escape")
        v = np.zeros(sel.size, np.int64)
        for i in range(int(z.max(initial=0)) + 1):
            m = i <= z
            v[m] = (v[m] << 1) | bits[nxt[m] + i]
        out[sel] = v
        pos[run] = nxt + z + 1
    return out


def _decode_lanes_numpy(wl, starts, counts, nbc, freq, cum, lut, index, F):
    dec = rans.Decoder(np.concatenate(wl), starts, counts, freq, cum, lut)
    cls = np.zeros((F, nbc), np.int64)
    prev = np.zeros(F, np.int64)
    act = np.ones(F, bool)
    for t in range(nbc):
        d = dec.step((prev != 0).astype(np.int64), act)
        prev = prev + d - (C - 1)
        bad = (prev < 0) | (prev >= C)
        if bad.any():
            raise FrameError(int(index[np.flatnonzero(bad)[0]]), "band class out of range")
        cls[:, t] = prev
    coded = cls > 0
    ne = coded.sum(1)
    ncoef = ne * BAND
    T2 = int(ncoef.max(initial=0))
    # classes of the coded bands, per frame, in order
    order = np.argsort(~coded, axis=1, kind="stable")
    bcls = np.take_along_axis(cls, order, axis=1)  # coded first
    syms = np.zeros((F, T2), np.int64)
    for t in range(T2):
        act = t < ncoef
        tab = 1 + bcls[:, t // BAND]
        syms[:, t] = dec.step(np.where(act, tab, 0), act)
    bad = dec.overrun | (dec.p != dec.n) | (dec.x != rans.L)
    if bad.any():
        raise FrameError(int(index[np.flatnonzero(bad)[0]]), "entropy-coded data inconsistent")
    return cls, syms, coded, ne, ncoef, T2


def coeff_sqnr(X: np.ndarray, Xh: np.ndarray) -> float:
    e = np.sum((X - Xh) ** 2)
    return float("inf") if e == 0 else float(10 * np.log10(np.sum(X * X) / e))


def zero_map(x: np.ndarray, n: int) -> np.ndarray:
    """(F, ch, n) bool: samples of each frame's own hop inside runs of >= ZRUN exact zeros; x
    (F·n, ch) grid samples, or the int16 16-bit samples of a spool (the same zeros)."""
    f = x.shape[0] // n
    enc = _compiled_enc()
    if enc is not None:
        z = np.empty((f, x.shape[1], n), bool)
        if x.dtype == np.int16:
            (enc.zero_map16 if hasattr(enc, "zero_map16") else enc.zero_map)(np.ascontiguousarray(x), n, ZRUN, z)
        else:
            enc.zero_map(np.ascontiguousarray(x, np.float64), n, ZRUN, z)
        return z
    z = np.ascontiguousarray((x.reshape(f, n, -1) == 0).transpose(0, 2, 1))  # (F, ch, n)
    if not z.any():
        return z
    rows = z.reshape(-1, n)
    d = np.diff(np.concatenate((np.zeros((rows.shape[0], 1), np.int8), rows.astype(np.int8),
                                np.zeros((rows.shape[0], 1), np.int8)), axis=1), axis=1)  # fmt: skip
    sr, sc = np.nonzero(d == 1)
    er, ec = np.nonzero(d == -1)  # same rows, same order
    keep = ec - sc < ZRUN
    for r_, a_, b_ in zip(sr[keep].tolist(), sc[keep].tolist(), ec[keep].tolist()):
        rows[r_, a_:b_] = False
    return z


def _runs_bytes(m: np.ndarray) -> bytes:
    """Runs of True per channel of m (ch, n): u8 count, then (u16 start, u16 length) LE each."""
    out = bytearray()
    for row in m:
        d = np.diff(np.concatenate(([0], row.astype(np.int8), [0])))
        st, en = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        if st.size > ZMAX:  # keep the longest
            k = np.sort(np.argsort(-(en - st), kind="stable")[:ZMAX])
            st, en = st[k], en[k]
        out.append(st.size)
        out += np.stack((st, en - st), axis=1).astype("<u2").tobytes()
    return bytes(out)


def _read_runs(b: bytes, pos: int, m: np.ndarray) -> int:
    n = m.shape[1]
    for c in range(m.shape[0]):
        if pos >= len(b):
            raise ValueError("truncated")
        k = b[pos]
        pos += 1
        if pos + 4 * k > len(b):
            raise ValueError("truncated")
        pr = np.frombuffer(b, "<u2", 2 * k, pos).astype(np.int64).reshape(k, 2)
        pos += 4 * k
        if np.any(pr[:, 0] + pr[:, 1] > n):
            raise ValueError("bad silence run")
        for a_, l_ in pr.tolist():
            m[c, a_ : a_ + l_] = True
    return pos


def apply_ms(X: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """Orthonormal M/S (its own inverse) on the frames flagged in ms; X (F, ch, N)."""
    if not ms.any():
        return X
    Y = X.copy()
    a, b = X[ms, 0], X[ms, 1]
    Y[ms, 0], Y[ms, 1] = (a + b) * np.sqrt(0.5), (a - b) * np.sqrt(0.5)
    return Y
