"""Profile 1, spectral: MDCT bands, a randomized Hadamard per band, water-filled Lloyd–Max bits.

Settings (hop, seed, and one of ``rate`` – bits per sample, CBR – or ``quality`` – SQNR in
dB, VBR); header fields and payload layout: :mod:`tqa.format`; the codec: :mod:`tqa.spectral`.
Frame i is MDCT frame i, covering samples (i-1)·hop .. (i+1)·hop; decoding frames
first..last gives samples first·hop .. last·hop.
"""

from __future__ import annotations

import struct

import numpy as np

from .. import mdct
from ..format import FormatError
from ..spectral import BAND, FRAME_OVERHEAD, SpectralCodec, vbr_bits
from ..blockcodec import BlockError
from .base import FrameDecoder, FrameEncoder, Profile
from .settings import HOPS, SpectralSettings  # noqa: F401 (re-exported)
from .settings import SPECTRAL_DEFAULT_RATE as DEFAULT_RATE  # noqa: F401

_FIELDS = struct.Struct("<BBBBIQ")
CHANNEL_GROUP = 64  # channels reconstructed per call in many-channel streams (bounded memory)


class _Encoder(FrameEncoder):
    """Codes batches of MDCT frames as samples arrive (bounded memory whatever the length)."""

    def __init__(self, s: SpectralSettings, channels: int, engine, budget: int) -> None:
        self.s, self.channels = s, channels
        self.codec = SpectralCodec(s, channels, engine)
        if not s.vbr and s.cbr_frame_bytes(channels) - FRAME_OVERHEAD - channels * s.scale_bytes() <= 0:
            raise ValueError(f"rate {s.rate} bits/sample is too low for the side info of this profile")
        # ~12 float64 arrays of a batch's size are alive while it is coded
        self.batch = int(np.clip(budget // (12 * 8 * channels * s.hop), 1, 128))
        self._pad = np.zeros((channels, s.hop))  # signal not yet framed; starts with a hop of zeros
        self._frames = 0

    def _emit(self, hops: np.ndarray) -> list[bytes]:
        a = self.codec.analyze_frames(mdct.frames_of(hops, self.s.hop))
        k = vbr_bits(self.codec, a, self.s.quality) if self.s.vbr else self.codec.frame_bits(a)
        t, codes, _ = self.codec.code(a, k)
        blob, lengths = self.codec.pack(a, t, codes, cbr=not self.s.vbr)
        self._frames += lengths.size
        starts = np.concatenate(([0], np.cumsum(lengths)))
        return [blob[starts[i] : starts[i + 1]] for i in range(lengths.size)]

    def push(self, grid: np.ndarray) -> list[bytes]:
        self._pad = np.concatenate((self._pad, grid), axis=1)
        hop, b = self.s.hop, self.batch
        out: list[bytes] = []
        while self._pad.shape[1] >= (b + 1) * hop:
            out += self._emit(self._pad[:, : (b + 1) * hop])
            self._pad = self._pad[:, b * hop :]  # keep the overlap hop
        return out

    def finish(self, n_samples: int) -> list[bytes]:
        hop = self.s.hop
        rest = mdct.n_frames(n_samples, hop) - self._frames  # frames still to code, zero-padded
        out: list[bytes] = []
        while rest > 0:
            take = min(rest, self.batch)
            hops = np.zeros((self.channels, (take + 1) * hop))
            m = min(self._pad.shape[1], hops.shape[1])
            hops[:, :m] = self._pad[:, :m]
            out += self._emit(hops)
            self._pad = self._pad[:, take * hop :]
            rest -= take
        return out


class _Decoder(FrameDecoder):
    def __init__(self, s: SpectralSettings, channels: int, engine) -> None:
        self.s, self.channels = s, channels
        self.codec = SpectralCodec(s, channels, engine)

    def _coeffs(self, first: int, payloads: list[bytes]) -> np.ndarray:
        lengths = np.array([len(p) for p in payloads], np.int64)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        buf = np.frombuffer(b"".join(payloads), np.uint8)
        try:
            ms, j, t, codes = self.codec.unpack(buf, starts, lengths)
        except BlockError as exc:
            i = first + exc.row
            raise FormatError(f"frame {i}: {exc.detail}", frame=i) from None
        if self.channels <= 2:
            return self.codec.reconstruct(ms, j, t, codes)
        out = np.empty((len(payloads), self.channels, self.s.hop))
        for g in range(0, self.channels, CHANNEL_GROUP):  # channels beyond a pair code independently
            sl = slice(g, g + CHANNEL_GROUP)
            out[:, sl] = self.codec.reconstruct(np.zeros_like(ms), j[:, sl], t[:, sl], codes[:, sl])
        return out

    def decode(self, first: int, payloads: list) -> np.ndarray:
        good = [k for k, p in enumerate(payloads) if isinstance(p, bytes)]
        if not good:  # every frame lost: silence, without transforming zeros
            return np.zeros((self.channels, max(0, len(payloads) - 1) * self.s.hop))
        if len(good) == len(payloads):
            coeffs = self._coeffs(first, payloads)  # validated before anything of the frames' size is allocated
        else:
            decoded = [(k, self._coeffs(first + k, [payloads[k]])[0]) for k in good]
            coeffs = np.zeros((len(payloads), self.channels, self.s.hop))
            for k, c in decoded:  # damaged frames keep zero coefficients: their samples fade to silence
                coeffs[k] = c
        c = coeffs.transpose(1, 0, 2)
        out = np.empty((self.channels, max(0, len(payloads) - 1) * self.s.hop))
        for g in range(0, self.channels, CHANNEL_GROUP):  # bounded temporaries whatever the channels
            out[g : g + CHANNEL_GROUP] = mdct.inverse_range(c[g : g + CHANNEL_GROUP], first).T
        return out


class SpectralProfile(Profile):
    id = 1
    name = "spectral"
    Settings = SpectralSettings

    def describe(self, s: SpectralSettings) -> dict:
        return {"hop": s.hop, "seed": s.seed, "mode": "vbr" if s.vbr else "cbr", "rate": s.rate, "quality": s.quality}

    def pack_fields(self, s: SpectralSettings) -> bytes:
        mode, value = (1, s.quality) if s.vbr else (0, s.rate)
        return _FIELDS.pack(s.hop.bit_length() - 1, BAND, mode, 0, int(round(value * 1000)), s.seed)

    def parse_fields(self, data: bytes) -> SpectralSettings:
        log_hop, band, mode, reserved, value, seed = _FIELDS.unpack(data)
        if reserved or band != BAND or mode > 1 or not 8 <= log_hop <= 11:
            raise FormatError("invalid spectral header fields")
        v = value / 1000.0
        return SpectralSettings(1 << log_hop, seed, rate=None if mode else v, quality=v if mode else None)

    def n_frames(self, s: SpectralSettings, n_samples: int) -> int:
        return mdct.n_frames(n_samples, s.hop)

    def frame_size(self, s: SpectralSettings, channels: int, n_samples: int, i: int) -> int | None:
        return None if s.vbr else s.cbr_frame_bytes(channels)

    def samples_of_frames(self, s: SpectralSettings, frames: int) -> int:
        return max(0, frames - 1) * s.hop

    def frames_for(self, s: SpectralSettings, start: int, stop: int) -> tuple[int, int]:
        return start // s.hop, (stop - 1) // s.hop + 2

    def output_start(self, s: SpectralSettings, first: int) -> int:
        return first * s.hop

    def frame_samples(self, s: SpectralSettings, i: int, n_samples: int) -> tuple[int, int]:
        return max(0, (i - 1) * s.hop), min(n_samples, (i + 1) * s.hop)

    def decode_chunk_frames(self, s: SpectralSettings, channels: int, budget: int) -> int:
        return int(np.clip(budget // (10 * 8 * channels * s.hop), 2, 256))

    def encoder(self, s: SpectralSettings, channels: int, engine, budget: int, sample_rate: int) -> FrameEncoder:
        return _Encoder(s, channels, engine, budget)

    def decoder(self, header, engine, budget: int) -> _Decoder:
        return _Decoder(header.settings, header.channels, engine)


SPECTRAL = SpectralProfile()
