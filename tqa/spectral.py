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
import zlib
from dataclasses import dataclass

import numpy as np

from . import bitpack, mdct
from .blockcodec import BlockError
from .backends.base import Engine
from .codebook import quantizer
from .rotation import signs

__all__ = ["SpectralSettings", "SpectralCodec", "BAND", "MAX_BAND_BITS"]

BAND = 16
MAX_BAND_BITS = 14
SCALE_BITS, DELTA_BITS = 7, 5  # first band's scale code, then deltas in [-16, 15]
SPECTRAL_LABEL = 3
FRAME_OVERHEAD = 9  # u32 index, u8 flags, u32 CRC


@functools.lru_cache(maxsize=None)
def _gain_table() -> np.ndarray:
    """log2(mse(t-1) - mse(t)) for t = 1..14 (mse(0) = 1): the value of each extra bit."""
    mse = np.array([1.0] + [quantizer(t).mse for t in range(1, MAX_BAND_BITS + 1)])
    return np.log2(mse[:-1] - mse[1:])


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


@dataclass(frozen=True)
class SpectralSettings:
    """Parameters of the spectral profile (stored in the header)."""

    hop: int = 1024
    seed: int = 0
    rate: float | None = 3.2  # bits per sample, all included (CBR); None with quality
    quality: float | None = None  # target SQNR in dB (VBR)

    def __post_init__(self) -> None:
        if self.hop not in (256, 512, 1024, 2048):
            raise ValueError(f"hop must be 256, 512, 1024 or 2048, got {self.hop!r}")
        if (self.rate is None) == (self.quality is None):
            raise ValueError("give exactly one of rate= (bits per sample) or quality= (dB)")
        if self.rate is not None and not 0.5 <= float(self.rate) <= 16:
            raise ValueError(f"rate must be 0.5 to 16 bits per sample, got {self.rate!r}")
        if self.quality is not None and not 1 <= float(self.quality) <= 120:
            raise ValueError(f"quality must be 1 to 120 dB, got {self.quality!r}")
        # the header stores thousandths: encoder and decoder must size frames from the same value
        for name in ("rate", "quality"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, round(float(v) * 1000) / 1000)

    @property
    def bands(self) -> int:
        return self.hop // BAND

    def scale_bytes(self) -> int:
        return -(-(SCALE_BITS + DELTA_BITS * (self.bands - 1)) // 8)

    def cbr_frame_bytes(self, channels: int) -> int:
        return int(np.ceil(self.rate * self.hop * channels / 8.0))


class SpectralCodec:
    """Codes MDCT frames of all channels: grid samples in, frame payloads out, and back."""

    def __init__(self, settings: SpectralSettings, channels: int, engine: Engine) -> None:
        self.s = settings
        self.channels = channels
        self.engine = engine
        self._signs = signs(BAND, settings.seed, SPECTRAL_LABEL)
        self._gain = _gain_table()

    # -- scales ----------------------------------------------------------------------
    def _scale_codes(self, y: np.ndarray) -> np.ndarray:
        """Scale codes j (frames, channels, bands) of rotated bands y (..., bands, B), delta-limited."""
        rms = np.sqrt(np.mean(y * y, axis=-1))
        want = np.where(rms > 0, np.clip(np.rint(2.0 * np.log2(np.maximum(rms, 1e-300))), 1, 127), 0).astype(np.int64)
        j = np.empty_like(want)
        j[..., 0] = want[..., 0]
        lo, hi = -(2 ** (DELTA_BITS - 1)), 2 ** (DELTA_BITS - 1) - 1
        for b in range(1, want.shape[-1]):  # sequential: each delta is relative to the coded scale
            j[..., b] = np.clip(j[..., b - 1] + np.clip(want[..., b] - j[..., b - 1], lo, hi), 0, 127)
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

    def pack(self, first: int, a: dict, t: np.ndarray, codes: np.ndarray, cbr: bool) -> tuple[bytes, np.ndarray]:
        """Whole frames (index, flags, scales, band codes, CBR padding, CRC) and their lengths."""
        f = t.shape[0]
        head = 1 + self.channels * self.s.scale_bytes()
        tf = t.reshape(f, -1)
        code_bytes = np.sum(2 * tf, axis=1)
        if cbr:
            lengths = np.full(f, self.s.cbr_frame_bytes(self.channels), np.int64)
        else:
            lengths = 8 + head + code_bytes
        start = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        buf = np.zeros(int(lengths.sum()), np.uint8)
        buf[start[:, None] + np.arange(4)] = np.arange(first, first + f, dtype="<u4").view(np.uint8).reshape(f, 4)
        buf[start + 4] = a["ms"]
        buf[start[:, None] + 5 + np.arange(head - 1)] = self._pack_scales(a["j"]).reshape(f, -1)
        dest = start[:, None] + 4 + head + self._offsets(tf)
        flat = codes.reshape(f, -1, BAND)
        for v in range(1, MAX_BAND_BITS + 1):
            fi, ri = np.nonzero(tf == v)
            if fi.size:
                packed = bitpack.pack(flat[fi, ri], v) if v <= 8 else _pack_wide(flat[fi, ri], v)
                buf[dest[fi, ri][:, None] + np.arange(2 * v)] = packed
        mv = memoryview(buf)
        crcs = np.array([zlib.crc32(mv[s0 : s0 + n - 4]) for s0, n in zip(start.tolist(), lengths.tolist())], "<u4")
        buf[(start + lengths - 4)[:, None] + np.arange(4)] = crcs.view(np.uint8).reshape(f, 4)
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
        out = np.argwhere((j < 0) | (j > 127))
        if out.size:
            raise BlockError(int(out[0][0]), "scale out of range")
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


class SpectralEncoder:
    """Streaming spectral encoder to a seekable binary file (the header is patched at close).

    Samples are coded in batches of ``batch`` MDCT frames as they arrive, so memory is
    bounded by a batch whatever the length of the stream.
    """

    def __init__(self, fileobj, sample_rate: int, channels: int, *, source_format: int, rate=None, quality=None,
                 seed: int = 0, hop: int = 1024, engine: str | None = None, batch: int = 128) -> None:  # fmt: skip
        from .container import FormatError, SpectralHeader
        from .registry import get_engine

        if rate is None and quality is None:
            rate = 3.2
        self.settings = SpectralSettings(hop, seed, rate=None if rate is None else float(rate),
                                         quality=None if quality is None else float(quality))  # fmt: skip
        try:
            self.header = SpectralHeader(int(sample_rate), int(channels), 0, source_format, self.settings)
        except FormatError as exc:
            raise ValueError(str(exc)) from None
        self.codec = SpectralCodec(self.settings, int(channels), get_engine(engine))
        self._f = fileobj
        self._start = fileobj.tell()
        fileobj.write(self.header.pack())
        self._batch = batch
        # padded signal not yet turned into frames: starts with the leading hop of zeros
        self._pad = np.zeros((int(channels), hop))
        self._n = 0
        self._frames = 0
        self._lengths: list[np.ndarray] = []

    def write(self, samples) -> None:
        from .samples import as_samples, to_grid

        x = as_samples(samples)
        if x.shape[1] != self.header.channels:
            raise ValueError(f"samples have {x.shape[1]} channels, the stream has {self.header.channels}")
        self._n += x.shape[0]
        self._pad = np.concatenate((self._pad, to_grid(x).T), axis=1)
        hop = self.settings.hop
        while self._pad.shape[1] >= (self._batch + 1) * hop:
            self._emit(self._pad[:, : (self._batch + 1) * hop])
            self._pad = self._pad[:, self._batch * hop :]  # keep the overlap hop

    def _emit(self, hops: np.ndarray) -> None:
        from .threads import limit

        with limit():  # one BLAS thread (tqa.threads)
            self._emit_limited(hops)

    def _emit_limited(self, hops: np.ndarray) -> None:
        a = self.codec.analyze_frames(mdct.frames_of(hops, self.settings.hop))
        if self.settings.quality is None:
            k = self.codec.frame_bits(a)
        else:
            k = vbr_bits(self.codec, a, self.settings.quality)
        t, codes, _ = self.codec.code(a, k)
        blob, lengths = self.codec.pack(self._frames, a, t, codes, cbr=self.settings.quality is None)
        self._f.write(blob)
        self._frames += lengths.size
        self._lengths.append(lengths)

    def close(self):
        from .container import SpectralHeader, index_bytes

        hop = self.settings.hop
        h = self.header
        total = mdct.n_frames(self._n, hop)
        rest = total - self._frames  # frames still to code, from what is buffered (zero-padded)
        if rest > 0:
            hops = np.zeros((h.channels, (rest + 1) * hop))
            m = min(self._pad.shape[1], hops.shape[1])
            hops[:, :m] = self._pad[:, :m]
            self._emit(hops)
        self.header = SpectralHeader(h.sample_rate, h.channels, self._n, h.source_format, self.settings)
        if self.settings.quality is not None:
            lengths = np.concatenate([np.zeros(0, np.int64), *self._lengths])
            self._f.write(index_bytes(np.cumsum(np.concatenate(([h.header_size], lengths))).tolist()))
        end = self._f.tell()
        self._f.seek(self._start)
        self._f.write(self.header.pack())
        self._f.seek(end)
        return self.header


def encode(samples, sample_rate: int, *, rate: float | None = None, quality: float | None = None, seed: int = 0,
           hop: int = 1024, engine: str | None = None, source_format: int | None = None) -> bytes:  # fmt: skip
    """Encode samples with the spectral profile (see tqa.encode, profile="spectral")."""
    import io

    from .samples import as_samples, format_of_dtype

    x = as_samples(samples)
    fmt = format_of_dtype(x.dtype) if source_format is None else source_format
    buf = io.BytesIO()
    enc = SpectralEncoder(buf, sample_rate, x.shape[1], source_format=fmt, rate=rate, quality=quality, seed=seed,
                          hop=hop, engine=engine)  # fmt: skip
    step = 64 * hop
    for lo in range(0, x.shape[0], step):
        enc.write(x[lo : lo + step])
    enc.close()
    return buf.getvalue()


class SpectralDecoder:
    """Random-access decoder of spectral streams (the interface of tqa.Decoder)."""

    def __init__(self, reader, engine: Engine, on_error: str = "raise") -> None:
        self.reader = reader
        self.header = reader.header
        self.on_error = on_error
        self.codec = SpectralCodec(self.header.settings, self.header.channels, engine)
        self.lost: list[dict] = []

    def _decode(self, buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, first: int) -> np.ndarray:
        from .container import FormatError

        try:
            return self.codec.reconstruct(*self.codec.unpack(buf, starts, lengths))
        except BlockError as exc:
            i = first + exc.row
            raise FormatError(f"{self.reader.name}: frame {i}: {exc.detail}", frame=i) from None

    def _coeffs(self, first: int, last: int) -> np.ndarray:
        """MDCT coefficients (channels, frames, N) of frames first..last (inclusive)."""
        from .container import FormatError

        h = self.header
        try:
            buf, starts, lengths = self.reader.bodies(first, last + 1)
            return self._decode(buf, starts, lengths, first).transpose(1, 0, 2)
        except FormatError:
            if self.on_error == "raise":
                raise
        coeffs = np.zeros((last + 1 - first, h.channels, h.hop))  # recovery: frame by frame
        for i in range(first, last + 1):
            try:
                body = np.frombuffer(self.reader.body(i), np.uint8)
                coeffs[i - first] = self._decode(body, np.array([0]), np.array([body.size]), i)[0]
            except FormatError as exc:
                if not any(d["frame"] == i for d in self.lost):
                    lo, hi = max(0, (i - 1) * h.hop), min(h.n_samples, (i + 1) * h.hop)
                    self.lost.append({"frame": i, "start": lo, "end": hi, "start_s": lo / h.sample_rate,
                                      "end_s": hi / h.sample_rate, "reason": str(exc)})  # fmt: skip
        return coeffs.transpose(1, 0, 2)

    def chunks(self, start: int = 0, frames: int | None = None, dtype: str = "float32", chunk_frames: int = 256):
        from .api import sample_range
        from .samples import from_grid
        from .threads import limit

        h = self.header
        start, stop = sample_range(h.n_samples, start, frames, dtype)
        n = h.hop
        for a in range(start, stop, chunk_frames * n):
            b = min(stop, a + chunk_frames * n)
            first, last = a // n, (b - 1) // n + 1
            with limit():  # one BLAS thread (tqa.threads)
                g = mdct.inverse_range(self._coeffs(first, last), first)
            yield from_grid(g[a - first * n : b - first * n], dtype)

    def read(self, start: int = 0, frames: int | None = None, dtype: str = "float32") -> np.ndarray:
        from .api import read_chunks

        return read_chunks(self, start, frames, dtype)
