"""Profile 2, spectral2: block-switched MDCT, one quantizer step for the whole stream,
centroid reconstruction, rANS-coded indices (the codec: :mod:`tqa.sv2`).

Quality per bit: at WavPack's own rates (``wavpack -b2/-b3/-b4 -hh -x6 -s0``) it measures
+5.3 dB or more on every corpus file, +15.6 dB mean (tools/vs_wavpack.py, README).
The seeded per-band Hadamard rotation of profiles 0 and 1 is an option (``rotate=True``): with
entropy coding it measured -0.6 dB mean, so it is off by default.

``tune="perceptual"`` (flags bit 4; params version 2, :mod:`tqa.sv2.perceptual`): masking-weighted
steps and noise filling, for listening; ``tune="sqnr"`` (the default) is MSE-optimal.

``frame_floor=`` dB (flags bit 5, the value field's bits 17-31 in quarter dB; params version 3,
:mod:`tqa.sv2.floor`): every hop of every channel whose source RMS is above 10**(floor/20)/√12
16-bit LSBs meets SQNR >= frame_floor on the decoded output; frames that would miss it carry a
finer step (a refinement byte).  With ``rate=`` the rate search includes the refinements; where
the floor cannot be met within the rate, the floor wins and the stream is larger (the encoder
warns; ``tqa info`` shows the floor and the bits/sample).  Readers before it refuse the stream
(header flags > 31).

Settings (header fields, 16 bytes): ``u8 hop (log2, 8..11), u8 flags (bit 0 rotate, 1
transients, 2 pre-echo guard, 3 silence maps, 4 tune perceptual, 5 frame floor), u8 stereo (0 auto, 1 L/R, 2 M/S), u8 rate mode
(0 ``rate`` bits/sample, 1 ``quality`` dB), u32 value in thousandths (bits 0-16; with flags bit 5,
bits 17-31 the frame floor in quarter dB), u64 seed``.  The stream's
parameters (step, entropy tables, ~500 bytes) are the header's profile data; frames vary in
size (a VBR index follows them).  Frame f owns samples [f·hop, (f+1)·hop) and decoding them
needs frames f-1..f+1.

Limits: the encoder sees the whole stream (one global step and per-stream tables), so it makes
two to four passes over it: it spools the samples to an anonymous temporary file (int16, 2 bytes
a sample, for a 16-bit source, else int32; in ``TMPDIR``: 211 MB for 20 minutes of 16-bit 44.1 kHz stereo — on a tmpfs that is
RAM, though not the process's; a 16-bit PCM WAV that ``tqa encode`` reads is not copied: its data chunk is
read back instead (checked against what soundfile reads), and the encode fails if the file changes meanwhile,
:meth:`tqa.stream.Encoder.mirror_input`) and reads them back piece by piece on each pass, and spools the
payloads likewise until their size is right (:class:`tqa.sv2.Encoder`); the bytes are those of
coding the stream at once.  ``python tools/bench_memory.py --minutes 5,20 --rate 44100
--profile spectral2 --no-decode`` measured peak RSS 246 / 254 MiB for 5 / 20 minutes of stereo
(6.2 / 18.3 CPU seconds), against 1021 / 3723 MiB (9.9 / 38.1 s) for the whole-stream encoder
before it; most of it is numba's (tqa[fast]): a 1.2-second file already peaks at 225 MiB, and
with ``TQA_SV2_JIT=0`` the same runs peak at 113 / 120 MiB (80 MiB for 1.2 s), slower (the
NumPy rANS lanes: 10.1 / 38.8 CPU seconds).  Decoding is random access in bounded memory.
"""

from __future__ import annotations

import dataclasses
import functools
import struct

import numpy as np

from .. import sv2
from ..format import FRAME_OVERHEAD, HEADER_SIZE, INDEX_ENTRY, INDEX_TAIL, FormatError
from .base import FrameDecoder, FrameEncoder, Profile
from .settings import HOPS, STEREO, TUNES, Spectral2Settings  # noqa: F401 (re-exported)
from .settings import SPECTRAL2_DEFAULT_RATE as DEFAULT_RATE  # noqa: F401

MAX_CHANNELS = 255  # the codec's parameters hold a u8 channel count
_FIELDS = struct.Struct("<BBBBIQ")
_META = 4 + 3  # the metadata magic and the profile-data record's header
_FLOOR_SHIFT = 17  # the u32 value field: bits 0-16 rate/quality in thousandths (<= 120000), 17-31 frame_floor in quarter dB


class _Encoder(FrameEncoder):
    """Spools the stream (:class:`tqa.sv2.Encoder`), then codes it whole (the step and tables are
    the stream's); the payloads come back from the spool as they are written."""

    def __init__(self, s: Spectral2Settings, channels: int, sample_rate: int) -> None:
        if channels > MAX_CHANNELS:
            raise ValueError(f"profile 'spectral2' codes at most {MAX_CHANNELS} channels, got {channels}")
        self.s, self.channels, self.sample_rate = s, channels, sample_rate
        kw = dict(rate=s.rate) if s.quality is None else dict(quality=s.quality)
        self._enc = sv2.Encoder(channels, sample_rate=sample_rate, hop=s.hop, seed=s.seed, rotate=s.rotate,
                                transients=s.transients, preecho=s.preecho, silence=s.silence, stereo=s.stereo,
                                tune=s.tune, frame_floor=s.frame_floor, frame_overhead=FRAME_OVERHEAD + INDEX_ENTRY, **kw)  # fmt: skip
        self._params = b""
        self.settings = None

    def push(self, grid: np.ndarray) -> list[bytes]:
        self._enc.push(grid.T)
        return []

    def push_int16(self, x: np.ndarray) -> list[bytes]:
        """16-bit samples (n, channels) as they are (tqa.stream's shortcut: no grid conversion)."""
        self._enc.push_int16(x)
        return []

    def mirror(self, fd: int, offset: int) -> bool:
        """The int16 samples to come are the file fd's from byte offset on (sv2.Encoder.mirror)."""
        return self._enc.mirror(fd, offset)

    def hold(self, grid: np.ndarray) -> list[bytes]:
        """The whole stream's grid (n, channels), in memory (tqa.stream's array shortcut: no spool)."""
        self._enc.hold(grid)
        return []

    def finish(self, n_samples: int):
        # header and the VBR index's end (counted in rate=; each frame's entry is in its frame_overhead:
        # counted as one per 1024 samples, a hop-2048 stream landed ~0.5% below its rate)
        overhead = HEADER_SIZE + _META + INDEX_ENTRY + INDEX_TAIL
        params, frames = self._enc.finish(stream_overhead=overhead)
        self._params = params
        # the hop the encoder chose, from the params' fixed head (parsing their tables: ~0.15 ms a 1-s chunk)
        self.settings = dataclasses.replace(self.s, hop=sv2.codec.HEAD.unpack_from(params)[4])
        return self._payloads(frames)

    def _payloads(self, frames):
        try:
            yield from frames
        finally:
            self._enc.close()

    def profile_data(self) -> bytes:
        return self._params


@functools.lru_cache(maxsize=16)
def _parsed(profile_data: bytes) -> "sv2.codec.Params":
    """The parsed params of a stream, with the tables the decoder makes from them (kept on the
    Params): a chunk store reads the same chunks again (random crops), each its own stream."""
    return sv2.codec.parse_params(profile_data)


class _Decoder(FrameDecoder):
    def __init__(self, header) -> None:
        if not header.profile_data:
            raise FormatError("spectral2 stream without its parameters (the header's profile data)")
        try:
            self.params = _parsed(bytes(header.profile_data))
        except ValueError as exc:
            raise FormatError(f"invalid spectral2 parameters: {exc}") from None
        p = self.params
        if (p.channels, p.hop, p.n_samples) != (header.channels, header.settings.hop, header.n_samples) and not header.unfinished:
            raise FormatError("spectral2 parameters disagree with the header (channels, hop or length)")
        if (p.perc is not None) != (header.settings.tune == "perceptual"):
            raise FormatError("spectral2 parameters disagree with the header (tune)")
        if p.floor != (header.settings.frame_floor is not None):
            raise FormatError("spectral2 parameters disagree with the header (frame floor)")
        self.channels = header.channels

    def decode(self, first: int, payloads: list) -> np.ndarray:
        try:
            y, _ = sv2.decode_frames(self.params, [p if isinstance(p, bytes) else None for p in payloads], first)
        except sv2.FrameError as exc:
            raise FormatError(f"frame {exc.frame}: {getattr(exc, 'detail', exc)}", frame=exc.frame) from None
        return y.T


class Spectral2Profile(Profile):
    id = 2
    name = "spectral2"
    Settings = Spectral2Settings

    def describe(self, s: Spectral2Settings) -> dict:
        return {"hop": s.hop, "seed": s.seed, "mode": "quality" if s.quality is not None else "rate", "rate": s.rate,
                "quality": s.quality, "rotate": s.rotate, "transients": s.transients, "stereo": s.stereo,
                "tune": s.tune, "frame_floor": s.frame_floor}  # fmt: skip

    def pack_fields(self, s: Spectral2Settings) -> bytes:
        hop = 0 if s.hop == "auto" else s.hop.bit_length() - 1
        flags = s.rotate | s.transients << 1 | s.preecho << 2 | s.silence << 3 | (s.tune == "perceptual") << 4
        flags |= (s.frame_floor is not None) << 5
        mode, value = (1, s.quality) if s.quality is not None else (0, s.rate)
        value = int(round(value * 1000)) | (0 if s.frame_floor is None else int(round(s.frame_floor * 4)) << _FLOOR_SHIFT)
        return _FIELDS.pack(hop, flags, STEREO.index(s.stereo), mode, value, s.seed)

    def parse_fields(self, data: bytes) -> Spectral2Settings:
        log_hop, flags, stereo, mode, value, seed = _FIELDS.unpack(data)
        if not 8 <= log_hop <= 11 or flags > 63 or stereo >= len(STEREO) or mode > 1 or flags & 48 == 48:
            raise FormatError("invalid spectral2 header fields")
        floor = value >> _FLOOR_SHIFT
        if bool(flags & 32) != bool(floor):
            raise FormatError("invalid spectral2 header fields (frame floor)")
        v = (value & ((1 << _FLOOR_SHIFT) - 1)) / 1000.0
        try:
            return Spectral2Settings(None if mode else v, v if mode else None, 1 << log_hop, seed, bool(flags & 1),
                                     bool(flags & 2), bool(flags & 4), bool(flags & 8), STEREO[stereo],
                                     TUNES[(flags >> 4) & 1], floor / 4 if floor else None)  # fmt: skip
        except ValueError as exc:
            raise FormatError(f"invalid spectral2 header fields ({exc})") from None

    def _hop(self, s: Spectral2Settings) -> int:
        return 1024 if s.hop == "auto" else s.hop

    def n_frames(self, s: Spectral2Settings, n_samples: int) -> int:
        return max(1, -(-n_samples // self._hop(s)))

    def frame_size(self, s, channels: int, n_samples: int, i: int) -> None:
        return None

    def samples_of_frames(self, s: Spectral2Settings, frames: int) -> int:
        return frames * self._hop(s)

    def frames_for(self, s: Spectral2Settings, start: int, stop: int) -> tuple[int, int]:
        hop = self._hop(s)
        return max(0, start // hop - 1), (stop - 1) // hop + 2

    def output_start(self, s: Spectral2Settings, first: int) -> int:
        hop = self._hop(s)
        return max(0, first * hop - hop // 2)

    def frame_samples(self, s: Spectral2Settings, i: int, n_samples: int) -> tuple[int, int]:
        hop = self._hop(s)
        return max(0, i * hop - hop // 2), min(n_samples, (i + 1) * hop + hop // 2)

    def decode_chunk_frames(self, s: Spectral2Settings, channels: int, budget: int) -> int:
        return sv2.decode_chunk_frames(channels, self._hop(s), budget)

    def encoder(self, s: Spectral2Settings, channels: int, engine, budget: int, sample_rate: int) -> FrameEncoder:
        return _Encoder(s, channels, sample_rate)

    def decoder(self, header, engine, budget: int) -> _Decoder:
        return _Decoder(header)


SPECTRAL2 = Spectral2Profile()
