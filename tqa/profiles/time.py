"""Profile 0, time-domain: seeded Walsh–Hadamard blocks, Lloyd–Max, a 1-bit residual layer.

Settings (:mod:`tqa.profiles.settings`): the block codec's (block size, bits, residual, seed,
QJL rows) plus ``frame_samples``, the samples per channel of one container frame.
Header fields and payload layout: :mod:`tqa.format`.  Blocks are coded independently, so
any split of a stream at frame boundaries gives the same bytes (``tqa batch`` relies on it).
"""

from __future__ import annotations

import struct

import numpy as np

from ..blockcodec import BlockCodec, BlockError
from ..format import FRAME_OVERHEAD, FormatError
from .base import FrameDecoder, FrameEncoder, Profile
from .settings import DEFAULT_FRAME_SAMPLES, MAX_FRAME_BLOCKS, RESIDUALS, TimeSettings  # noqa: F401 (re-exported)

_FIELDS = struct.Struct("<BBBBHHQ")


class _Encoder(FrameEncoder):
    """Codes blocks as soon as every channel has them; frames are emitted from the (compact)
    block records, so the float64 working set is bounded by ``budget``, not by the frame size."""

    def __init__(self, s: TimeSettings, channels: int, engine, budget: int) -> None:
        self.s, self.channels = s, channels
        self.codec = BlockCodec(s, engine)
        self.step = max(1, budget // (8 * channels * s.block_size)) * s.block_size  # samples a codec call
        self._pending: list[np.ndarray] = []
        self._n = 0
        self._records: list[np.ndarray] = []  # (channels, blocks, R) not yet framed
        self._blocks = 0
        self._jobs: list = []  # hard blocks of those records still to recode (BlockCodec.encode_primary)
        self._job_rows = 0
        # recode when this many hard blocks wait, or records of this many blocks: bounded memory
        self._max_job_rows = max(1, budget // (8 * s.block_size))
        self._max_deferred = max(1, 8 * budget // (8 * s.block_size))

    def _code(self, g: np.ndarray) -> None:
        c, n = self.channels, self.s.block_size
        nb = -(-g.shape[1] // n)
        if g.shape[1] != nb * n:
            g = np.concatenate((g, np.zeros((c, nb * n - g.shape[1]))), axis=1)
        rec, job = self.codec.encode_primary(np.ascontiguousarray(g).reshape(c * nb, n))
        self._records.append(rec.reshape(c, nb, -1))
        self._blocks += nb
        if job is not None:
            self._jobs.append(job)
            self._job_rows += job[1].size

    def _recode(self, final: bool) -> bool:
        """Recode the waiting hard blocks if it is time (or ``final``); True if none waits."""
        if self._jobs and (final or self._job_rows >= self._max_job_rows
                           or self._blocks * self.channels >= self._max_deferred):  # fmt: skip
            self.codec.recode(self._jobs)
            self._jobs, self._job_rows = [], 0
        return not self._jobs

    def _frames(self, final: bool) -> list:
        fb = self.s.frame_blocks
        if self._blocks < fb and not (final and self._blocks):
            return []
        if not self._recode(final):  # frames wait for their hard blocks (a batch of them is cheaper)
            return []
        rec = np.concatenate(self._records, axis=1) if len(self._records) > 1 else self._records[0]
        whole = self._blocks if final else self._blocks // fb * fb
        full = whole // fb
        c = self.channels
        out: list = []
        if full:  # the whole frames as one (frames, channels, blocks, R) array of payloads
            out.append(rec[:, : full * fb].reshape(c, full, fb, -1).transpose(1, 0, 2, 3))
        if whole > full * fb:
            out.append(rec[:, full * fb : whole].tobytes())
        rest = rec[:, whole:]
        self._records, self._blocks = ([rest] if rest.shape[1] else []), rest.shape[1]
        return out

    def push(self, grid: np.ndarray) -> list[bytes]:
        self._pending.append(grid)
        self._n += grid.shape[1]
        if self._n >= self.step:
            g = np.concatenate(self._pending, axis=1) if len(self._pending) > 1 else self._pending[0]
            whole = g.shape[1] // self.step * self.step
            for lo in range(0, whole, self.step):
                self._code(g[:, lo : lo + self.step])
            rest = g[:, whole:]
            self._pending, self._n = ([rest] if rest.shape[1] else []), rest.shape[1]
        return self._frames(False)

    def finish(self, n_samples: int) -> list[bytes]:
        if self._n:
            self._code(np.concatenate(self._pending, axis=1))
            self._pending, self._n = [], 0
        return self._frames(True)


class _Decoder(FrameDecoder):
    def __init__(self, s: TimeSettings, channels: int, n_samples: int, engine, budget: int) -> None:
        self.s, self.channels, self.n, self.budget = s, channels, n_samples, budget
        self.codec = BlockCodec(s, engine)

    def blocks_of(self, i: int) -> int:
        rest = self.n - i * self.s.frame_samples
        return max(0, min(self.s.frame_blocks, -(-rest // self.s.block_size)))

    def _run(self, first: int, payloads: list[bytes]) -> np.ndarray:
        s, c = self.s, self.channels
        fb, R = s.frame_blocks, s.record_bytes
        k = len(payloads)
        last = self.blocks_of(first + k - 1)  # only the stream's last frame may be short
        if k > 1 and all(len(p) == c * fb * R for p in payloads[:-1]):
            rec = np.empty((c, (k - 1) * fb + last, R), np.uint8)  # frames side by side, channel-major
            whole = rec[:, : (k - 1) * fb].reshape(c, k - 1, fb, R)
            whole.transpose(1, 0, 2, 3)[...] = np.frombuffer(b"".join(payloads[:-1]), np.uint8).reshape(k - 1, c, fb, R)
            rec[:, (k - 1) * fb :] = np.frombuffer(payloads[-1], np.uint8).reshape(c, last, R)
        else:
            nbs = [self.blocks_of(first + i) for i in range(k)]
            recs = [np.frombuffer(p, np.uint8).reshape(c, nb, R) for p, nb in zip(payloads, nbs)]
            rec = np.concatenate(recs, axis=1) if len(recs) > 1 else recs[0]
        nb = rec.shape[1]
        rows = rec.reshape(c * nb, R)
        out = np.empty((c * nb, s.block_size))
        step = max(1, self.budget // (8 * s.block_size))  # rows a codec call: bounded working set
        for lo in range(0, c * nb, step):
            try:
                self.codec.decode(rows[lo : lo + step], out=out[lo : lo + step])
            except BlockError as exc:
                row = lo + exc.row
                frame = first + (row % nb) // s.frame_blocks
                raise FormatError(f"frame {frame}, channel {row // nb}: {exc.detail}", frame=frame) from None
        return out.reshape(c, nb * s.block_size)

    def decode(self, first: int, payloads: list) -> np.ndarray:
        parts, run, run_first = [], [], first
        for k, p in enumerate(payloads + [None]):
            if isinstance(p, bytes):
                if not run:
                    run_first = first + k
                run.append(p)
                continue
            if run:
                parts.append(self._run(run_first, run))
                run = []
            if p is not None:  # a damaged frame: silence
                parts.append(np.zeros((self.channels, self.blocks_of(first + k) * self.s.block_size)))
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts, axis=1) if parts else np.zeros((self.channels, 0))


class TimeProfile(Profile):
    id = 0
    name = "time"
    Settings = TimeSettings
    segmentable = True

    def describe(self, s: TimeSettings) -> dict:
        return {"block_size": s.block_size, "bits": s.bits, "residual": s.residual, "seed": s.seed,
                "qjl_rows": s.qjl_rows, "frame_samples": s.frame_samples,
                "nominal_sqnr_db": s.nominal_sqnr_db}  # fmt: skip

    def pack_fields(self, s: TimeSettings) -> bytes:
        return _FIELDS.pack(s.block_size.bit_length() - 1, s.bits, RESIDUALS.index(s.residual), 0, s.qjl_rows,
                            s.frame_blocks, s.seed)  # fmt: skip

    def parse_fields(self, data: bytes) -> TimeSettings:
        log_n, bits, residual, reserved, m, fb, seed = _FIELDS.unpack(data)
        if reserved:
            raise FormatError("reserved header fields are not zero")
        if not 6 <= log_n <= 13:
            raise FormatError(f"log2 block size {log_n} out of range 6..13")
        if residual >= len(RESIDUALS):
            raise FormatError(f"unknown residual mode {residual}")
        if not 1 <= fb <= MAX_FRAME_BLOCKS:
            raise FormatError(f"blocks per frame {fb} out of range 1..{MAX_FRAME_BLOCKS}")
        qjl = RESIDUALS[residual] == "qjl"
        return TimeSettings(1 << log_n, bits, RESIDUALS[residual], seed, m if qjl else (m or None), (1 << log_n) * fb)

    def n_frames(self, s: TimeSettings, n_samples: int) -> int:
        return -(-n_samples // s.frame_samples)

    def frame_size(self, s: TimeSettings, channels: int, n_samples: int, i: int) -> int:
        rest = n_samples - i * s.frame_samples
        blocks = min(s.frame_blocks, -(-rest // s.block_size))
        return FRAME_OVERHEAD + channels * blocks * s.record_bytes

    def samples_of_frames(self, s: TimeSettings, frames: int) -> int:
        return frames * s.frame_samples

    def frames_for(self, s: TimeSettings, start: int, stop: int) -> tuple[int, int]:
        return start // s.frame_samples, -(-stop // s.frame_samples)

    def output_start(self, s: TimeSettings, first: int) -> int:
        return first * s.frame_samples

    def frame_samples(self, s: TimeSettings, i: int, n_samples: int) -> tuple[int, int]:
        return i * s.frame_samples, min(n_samples, (i + 1) * s.frame_samples)

    def encoder(self, s: TimeSettings, channels: int, engine, budget: int, sample_rate: int) -> FrameEncoder:
        return _Encoder(s, channels, engine, budget)

    def decoder(self, header, engine, budget: int) -> _Decoder:
        return _Decoder(header.settings, header.channels, header.n_samples, engine, budget)


TIME = TimeProfile()
