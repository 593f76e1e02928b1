"""The spectral profile: MDCT bands, a randomized Hadamard inside each band, Lloyd–Max
at water-filled bit depths.

Per MDCT frame (hop N = 1024 by default) and channel, the N coefficients are rounded
onto the integer grid and cut into bands of B = 16.  Each band is rotated by
``H_B·D`` (the same seeded ±1 signs for every band: label 3 of tqa.rotation), so its
coefficients look Gaussian, and quantized with the ``t``-bit table of
:func:`tqa.codebook.quantizer` (Lloyd–Max up to 8 bits, companded 9–14) against the
band's scale ``s = 2**(j/2)`` (the RMS of the rotated band on a 3 dB grid).

Bit allocation is reverse water-filling, derived from the quantized scales alone, so
no allocation is sent: giving band b its t-th bit lowers the expected squared error
by ``s_b² · (mse(t-1) - mse(t))`` at a cost of B bits; the K largest of these gains
over all bands and channels of the frame win (ties in index order).  Every decision
is made on integers and frozen tables, identically in encoder and decoder.

Stereo: per frame, mid/side ``(L±R)/√2`` is used when its bands' log-energies sum
lower (the coding gain of the pair).  Rate control: ``rate`` (bits per sample, all
side info included) gives every frame the same size; ``quality`` (SQNR in dB) gives
each frame the fewest bits whose measured error meets the target.
"""

from __future__ import annotations

import functools

import numpy as np

from . import bitpack, mdct
from ._tables import GAIN
from .blockcodec import BlockError
from .engine import Engine
from .codebook import quantizer
from .rotation import signs

__all__ = ["SpectralCodec", "vbr_bits", "BAND", "MAX_BAND_BITS", "MAX_SCALE_CODE", "FRAME_OVERHEAD"]

BAND = 16
MAX_BAND_BITS = 14
SCALE_BITS, DELTA_BITS = 7, 5  # first band's scale code, then deltas in [-16, 15]
# Largest band scale code a conforming encoder writes: grid samples stay below 2**27, an
# orthonormal MDCT coefficient below sqrt(2·2048)·2**27 = 2**33, a rotated band's RMS below
# 4·2**33, so j = 2·log2(RMS) <= 70.  With the largest reconstruction level (< 8) every
# dequantized value stays below 2**39 and every Hadamard sum below 2**43: exact in float64 on
# every engine.  Readers reject larger codes (a crafted 127 would reach 2**66).
MAX_SCALE_CODE = 72
SPECTRAL_LABEL = 3
FRAME_OVERHEAD = 9  # u32 index, u8 flags, u32 CRC


@functools.lru_cache(maxsize=None)
def _gain_table() -> np.ndarray:
    """log2(mse(t-1) - mse(t)) for t = 1..14 (mse(0) = 1): the value of each extra bit (frozen)."""
    return np.array([float.fromhex(v) for v in GAIN])


@functools.lru_cache(maxsize=None)
def _pairs():
    """All (j, t) candidate pairs, j = 1..127, t = 1..14, by value j + L[t] descending.

    Equal values keep (j, t) order — only identical pairs ever tie in practice.
    """
    gain = _gain_table()
    jj, tt = np.meshgrid(np.arange(1, 128), np.arange(1, MAX_BAND_BITS + 1), indexing="ij")
    values = (jj + gain[tt - 1]).reshape(-1)
    order = np.argsort(-values, kind="stable")
    return jj.reshape(-1)[order], tt.reshape(-1)[order], values[order]


def _first_reaching(cum: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per row, the first index where ``cum`` (non-decreasing) reaches ``k`` (>= 1)."""
    return np.minimum(np.sum(cum < np.maximum(k, 1)[:, None], axis=1), cum.shape[1] - 1)


class SpectralCodec:
    """Codes MDCT frames of all channels: grid samples in, frame payloads out, and back."""

    def __init__(self, settings, channels: int, engine: Engine) -> None:  # settings: tqa.profiles.spectral.SpectralSettings
        self.s = settings
        self.channels = channels
        self.engine = engine
        self._signs = signs(BAND, settings.seed, SPECTRAL_LABEL)
        self._gain = _gain_table()

    # -- scales ----------------------------------------------------------------------
    def _scale_codes(self, y: np.ndarray) -> np.ndarray:
        """Scale codes j (frames, channels, bands) of rotated bands y (..., bands, B), delta-limited."""
        rms = np.sqrt(np.mean(y * y, axis=-1))
        want = np.where(rms > 0, np.clip(np.rint(2.0 * np.log2(np.maximum(rms, 1e-300))), 1, MAX_SCALE_CODE), 0).astype(np.int64)
        j = np.empty_like(want)
        j[..., 0] = want[..., 0]
        lo, hi = -(2 ** (DELTA_BITS - 1)), 2 ** (DELTA_BITS - 1) - 1
        for b in range(1, want.shape[-1]):  # sequential: each delta is relative to the coded scale
            j[..., b] = np.clip(j[..., b - 1] + np.clip(want[..., b] - j[..., b - 1], lo, hi), 0, MAX_SCALE_CODE)
        return j

    def _pack_scales(self, j: np.ndarray) -> np.ndarray:
        """(frames, channels, bands) codes to (frames, channels, scale_bytes) bytes."""
        f, c, nb = j.shape
        bits = np.zeros((f, c, self.s.scale_bytes() * 8), np.uint8)
        first = (j[..., :1] >> np.arange(SCALE_BITS - 1, -1, -1)) & 1
        d = (j[..., 1:] - j[..., :-1]) & (2**DELTA_BITS - 1)
        rest = (d[..., None] >> np.arange(DELTA_BITS - 1, -1, -1)) & 1
        bits[..., :SCALE_BITS] = first
        bits[..., SCALE_BITS : SCALE_BITS + DELTA_BITS * (nb - 1)] = rest.reshape(f, c, -1)
        return np.packbits(bits, axis=-1)

    def _unpack_scales(self, data: np.ndarray) -> np.ndarray:
        f, c, _ = data.shape
        nb = self.s.bands
        bits = np.unpackbits(data, axis=-1).astype(np.int64)
        first = bits[..., :SCALE_BITS] @ (1 << np.arange(SCALE_BITS - 1, -1, -1))
        d = bits[..., SCALE_BITS : SCALE_BITS + DELTA_BITS * (nb - 1)].reshape(f, c, nb - 1, DELTA_BITS)
        d = d @ (1 << np.arange(DELTA_BITS - 1, -1, -1))
        d = np.where(d >= 2 ** (DELTA_BITS - 1), d - 2**DELTA_BITS, d)
        j = np.concatenate((first[..., None], d), axis=-1).cumsum(axis=-1)
        return j

    # -- allocation ------------------------------------------------------------------
    def allocate(self, j: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Bits per band (frames, channels, bands) giving each frame its ``k`` best bits.

        A candidate bit (band b, its t-th bit) is worth ``j_b + L[t]`` (log2 of the error
        it removes; L decreasing).  Scale codes are integers 0..127, so all candidates
        of all frames come from one fixed list of (j, t) pairs: sorted once, a frame's
        k best are a prefix of it found from per-frame counts of each j (no per-frame
        sort).  Equal values (the same pair in several bands) go to bands in index order.
        """
        f, c, nb = j.shape
        jf = j.reshape(f, -1)
        pairs_j, pairs_t, values = _pairs()
        hist = np.bincount((jf + 128 * np.arange(f)[:, None]).reshape(-1), minlength=128 * f).reshape(f, 128)
        hist[:, 0] = 0  # zero bands take no bits
        cum = np.cumsum(hist[:, pairs_j], axis=1)  # candidates at or above each pair, per frame
        k = np.minimum(k, cum[:, -1])
        m = _first_reaching(cum, k)
        # bits of band b: pairs strictly above the threshold pair, plus ties in band order
        thr_j, thr_t = pairs_j[m], pairs_t[m]
        thr_v = values[m]
        above = self._count_above(jf, thr_v)  # (frames, bands): t with j_b + L[t] > thr value
        before = np.where(m > 0, cum[np.arange(f), np.maximum(m - 1, 0)], 0)
        need = k - before  # of the bands at the threshold pair, how many still get it
        at = (jf == thr_j[:, None]) & (above == thr_t[:, None] - 1)
        rank = np.cumsum(at, axis=1)
        bits = above + (at & (rank <= need[:, None]))
        bits = np.where(k[:, None] > 0, bits, 0)
        return bits.reshape(f, c, nb)

    def _count_above(self, jf: np.ndarray, thr: np.ndarray) -> np.ndarray:
        """#{t : j + L[t] > thr} for each band, in the same arithmetic as the pair values."""
        cnt = np.sum((jf[..., None] + self._gain) > thr[:, None, None], axis=-1)
        return np.where(jf > 0, cnt, 0)

    # -- frames ----------------------------------------------------------------------
    def _rotate_bands(self, coeffs: np.ndarray) -> np.ndarray:
        """(..., N) integer coefficients to rotated bands (..., bands, B)."""
        shape = coeffs.shape
        y = self.engine.rotate(coeffs.reshape(-1, BAND), self._signs)
        return np.asarray(y).reshape(*shape[:-1], self.s.bands, BAND)

    def _quantize(self, y: np.ndarray, j: np.ndarray, t: np.ndarray):
        """Codes (rows, B) and reconstructions of rotated bands y (rows, B) at bits t (rows,)."""
        codes = np.zeros(y.shape, np.int16)
        yhat = np.zeros(y.shape)
        scale = np.where(j > 0, 2.0 ** (j / 2.0), 1.0)
        for bits in np.unique(t[t > 0]):
            rows = np.flatnonzero(t == bits)
            cb = quantizer(int(bits))
            codes[rows] = self.engine.quantize(y[rows], scale[rows], cb.boundaries)
            yhat[rows] = self.engine.dequantize(codes[rows], scale[rows], cb.centroids)
        return codes, yhat

    def analyze_frames(self, coeffs: np.ndarray) -> dict:
        """Stereo decision, rotation and scales of MDCT frames (channels, frames, N)."""
        c = coeffs.transpose(1, 0, 2).copy()  # (frames, channels, N)
        ms = np.zeros(c.shape[0], bool)
        if self.channels == 2:
            m, s = (c[:, 0] + c[:, 1]) / np.sqrt(2.0), (c[:, 0] - c[:, 1]) / np.sqrt(2.0)
            band_e = lambda a: np.log2(np.mean(a.reshape(a.shape[0], -1, BAND) ** 2, axis=-1) + 1.0)  # noqa: E731
            ms = band_e(m).sum(-1) + band_e(s).sum(-1) < band_e(c[:, 0]).sum(-1) + band_e(c[:, 1]).sum(-1)
            c[ms, 0], c[ms, 1] = m[ms], s[ms]
        c = np.rint(c)
        y = self._rotate_bands(c)
        return {"coeffs": c, "ms": ms, "y": y, "j": self._scale_codes(y)}

    def frame_bits(self, a: dict) -> np.ndarray:
        """Code bits available to each frame (CBR) before allocation."""
        s = self.s
        total = s.cbr_frame_bytes(self.channels) - FRAME_OVERHEAD - self.channels * s.scale_bytes()
        if total <= 0:
            raise ValueError(f"rate {s.rate} bits/sample is too low for the side info of this profile")
        return np.full(a["j"].shape[0], 8 * total // BAND, dtype=np.int64)

    def code(self, a: dict, k: np.ndarray):
        """Allocate and quantize: (bits per band, codes, reconstructed rotated bands)."""
        t = self.allocate(a["j"], k)
        f, c, nb = t.shape
        codes, yhat = self._quantize(a["y"].reshape(-1, BAND), a["j"].reshape(-1), t.reshape(-1))
        return t, codes.reshape(f, c, nb, BAND), yhat.reshape(f, c, nb, BAND)

    def _offsets(self, t: np.ndarray) -> np.ndarray:
        """Byte offset of each band's codes within its frame's code area (frames, rows).

        Inside a frame, bands come by bit depth (1 first), then channel-major band order.
        """
        f = t.shape[0]
        cnt = np.stack([np.sum(t == v, axis=1) for v in range(MAX_BAND_BITS + 1)], axis=1)  # (frames, 15)
        base = np.concatenate((np.zeros((f, 1), np.int64), np.cumsum(cnt * 2 * np.arange(MAX_BAND_BITS + 1), axis=1)[:, :-1]), axis=1)
        off = np.zeros(t.shape, np.int64)
        for v in range(1, MAX_BAND_BITS + 1):
            m = t == v
            rank = np.cumsum(m, axis=1) - 1
            off = np.where(m, base[:, v : v + 1] + rank * 2 * v, off)
        return off

    def pack(self, a: dict, t: np.ndarray, codes: np.ndarray, cbr: bool) -> tuple[bytes, np.ndarray]:
        """Frame payloads (flags, scales, band codes, CBR padding) back to back, and their lengths."""
        f = t.shape[0]
        head = 1 + self.channels * self.s.scale_bytes()
        tf = t.reshape(f, -1)
        code_bytes = np.sum(2 * tf, axis=1)
        if cbr:
            lengths = np.full(f, self.s.cbr_frame_bytes(self.channels) - 8, np.int64)  # 8: index and CRC
        else:
            lengths = head + code_bytes
        start = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        buf = np.zeros(int(lengths.sum()), np.uint8)
        buf[start] = a["ms"]
        buf[start[:, None] + 1 + np.arange(head - 1)] = self._pack_scales(a["j"]).reshape(f, -1)
        dest = start[:, None] + head + self._offsets(tf)
        flat = codes.reshape(f, -1, BAND)
        for v in range(1, MAX_BAND_BITS + 1):
            fi, ri = np.nonzero(tf == v)
            if fi.size:
                packed = bitpack.pack(flat[fi, ri], v) if v <= 8 else _pack_wide(flat[fi, ri], v)
                buf[dest[fi, ri][:, None] + np.arange(2 * v)] = packed
        return buf.tobytes(), lengths

    def unpack(self, buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray):
        """(ms, j, t, codes) of frame bodies ``buf[starts[i] : starts[i] + lengths[i]]``.

        Raises :class:`tqa.blockcodec.BlockError` whose ``row`` is the malformed frame (within the batch).
        """
        c, nb = self.channels, self.s.bands
        sb = self.s.scale_bytes()
        head = 1 + c * sb
        f = starts.size
        short = np.flatnonzero(lengths < head)
        if short.size:
            raise BlockError(int(short[0]), "malformed spectral frame (too short)")
        hb = buf[starts[:, None] + np.arange(head)]
        bad = np.flatnonzero(hb[:, 0] > 1)
        if bad.size:
            raise BlockError(int(bad[0]), "malformed spectral frame (flags)")
        ms = hb[:, 0].astype(bool)
        j = self._unpack_scales(hb[:, 1:].reshape(f, c, sb))
        out = np.argwhere((j < 0) | (j > MAX_SCALE_CODE))
        if out.size:
            raise BlockError(int(out[0][0]), f"band scale code out of range 0..{MAX_SCALE_CODE}")
        t = self.allocate(j, (lengths - head) * 8 // BAND)
        tf = t.reshape(f, -1)
        src = starts[:, None] + head + self._offsets(tf)
        codes = np.zeros((f, c * nb, BAND), np.int16)
        for v in range(1, MAX_BAND_BITS + 1):
            fi, ri = np.nonzero(tf == v)
            if fi.size:
                chunk = buf[src[fi, ri][:, None] + np.arange(2 * v)]
                codes[fi, ri] = bitpack.unpack(chunk, v, BAND) if v <= 8 else _unpack_wide(chunk, v)
        return ms, j, t, codes.reshape(f, c, nb, BAND)

    def reconstruct(self, ms, j, t, codes) -> np.ndarray:
        """MDCT coefficients (frames, channels, N) from decoded codes."""
        f, c, nb, _ = codes.shape
        rows_t = t.reshape(-1)
        scale = np.where(j.reshape(-1) > 0, 2.0 ** (j.reshape(-1) / 2.0), 1.0)
        yhat = np.zeros((f * c * nb, BAND))
        flat = codes.reshape(-1, BAND)
        for bits in np.unique(rows_t[rows_t > 0]):
            rows = np.flatnonzero(rows_t == bits)
            yhat[rows] = self.engine.dequantize(flat[rows], scale[rows], quantizer(int(bits)).centroids)
        x = np.asarray(self.engine.unrotate(yhat, self._signs)) / float(BAND)
        coeffs = x.reshape(f, c, self.s.hop)
        if c == 2 and ms.any():
            m, s = coeffs[ms, 0].copy(), coeffs[ms, 1].copy()
            coeffs[ms, 0], coeffs[ms, 1] = (m + s) / np.sqrt(2.0), (m - s) / np.sqrt(2.0)
        return coeffs


def _pack_wide(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack 9..14-bit codes (rows, 16), MSB first, through bit planes."""
    planes = (codes.astype(np.int64)[..., None] >> np.arange(bits - 1, -1, -1)) & 1
    return np.packbits(planes.astype(np.uint8).reshape(codes.shape[0], -1), axis=1)


def _unpack_wide(chunk: np.ndarray, bits: int) -> np.ndarray:
    """Unpack 9..14-bit codes (16 per band, MSB first) via the bit planes."""
    planes = np.unpackbits(chunk, axis=1).reshape(chunk.shape[0], BAND, bits).astype(np.int64)
    return (planes @ (1 << np.arange(bits - 1, -1, -1))).astype(np.int16)


# -- streams ---------------------------------------------------------------------------
def vbr_bits(codec: SpectralCodec, a: dict, quality: float) -> np.ndarray:
    """Per frame, the fewest code bits whose measured error meets ``quality`` dB.

    Bisection on each frame's bit count, all frames at once; the error is measured
    on the rotated bands (the MDCT is orthogonal, the rotation scales by B), so a
    frame's SQNR is what it says, not a model's estimate.
    """
    y = a["y"]
    f = y.shape[0]
    energy = np.sum(y * y, axis=(1, 2, 3))
    target = energy / 10.0 ** (quality / 10.0)
    lo = np.zeros(f, np.int64)
    hi = np.full(f, y.shape[1] * y.shape[2] * MAX_BAND_BITS, np.int64)
    while np.any(lo < hi):
        mid = (lo + hi) // 2
        _, _, yhat = codec.code(a, mid)
        ok = np.sum((y - yhat) ** 2, axis=(1, 2, 3)) <= target
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid + 1)
    return hi
