"""Mutation fuzzing of the .tqa decoder (used by the tests and tools/fuzz_atheris.py).

A case takes a valid stream, mutates it, and decodes it.  The decoder must either
return samples of the declared shape or raise :class:`tqa.FormatError`; anything
else (another exception, a wrong shape) is a failure.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from . import api
from .format import FRAME_OVERHEAD, FormatError

__all__ = ["seed_streams", "mutate", "check", "campaign"]

# Offsets of the header fields (see tqa.format): truncating at each is a case.
FIELD_BOUNDARIES = (0, 4, 5, 6, 8, 12, 14, 15, 16, 24, 25, 26, 27, 28, 30, 32, 40, 44)
_FIELDS = [(4, "B"), (5, "B"), (6, "H"), (8, "I"), (12, "H"), (14, "B"), (15, "B"), (16, "Q"), (24, "B"),
           (25, "B"), (26, "B"), (27, "B"), (28, "H"), (30, "H"), (32, "Q")]  # fmt: skip


def seed_streams() -> list[bytes]:
    """Small valid streams: every residual mode, mono and stereo, one block per frame."""
    rng = np.random.default_rng(7)
    x = rng.normal(0, 0.2, (700, 2)).astype(np.float32)
    x[192:256] = 0  # a silent block
    time_profile = [
        api.encode(x[:, :ch], 8000, residual=residual, block_size=n, bits=3, frame_samples=n)
        for residual, ch, n in (("sign", 2, 64), ("none", 1, 64), ("qjl", 2, 128))
    ]
    y = np.concatenate([x] * 6)  # 4200 samples: 6 MDCT frames
    spectral = [api.encode(y, 8000, profile="spectral", rate=3.0), api.encode(y[:, :1], 8000, profile="spectral", quality=30)]
    return time_profile + spectral


def _spans(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    """(header size, [(offset, size)] of every frame) of a valid stream of any profile."""
    r = api.Decoder(data).reader
    return r.header.header_size, [r.span(i) for i in range(r.n_frames)]


def _with_header_field(data: bytearray, off: int, fmt: str, value: int) -> bytearray:
    size = struct.calcsize("<" + fmt)
    value &= (1 << (8 * size)) - 1
    struct.pack_into("<" + fmt, data, off, value)
    hs = struct.unpack_from("<H", data, 6)[0]
    if 44 <= hs <= len(data):  # re-seal the header so the field checks, not the CRC, are tested
        struct.pack_into("<I", data, hs - 4, zlib.crc32(bytes(data[: hs - 4])))
    return data


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random mutation of a stream."""
    d = bytearray(data)
    kind = int(rng.integers(9))
    if kind == 0:  # bit flips anywhere
        for _ in range(int(rng.integers(1, 9))):
            i = int(rng.integers(len(d)))
            d[i] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # truncation at a header field boundary or anywhere
        cut = int(rng.choice(FIELD_BOUNDARIES)) if rng.random() < 0.5 else int(rng.integers(len(d)))
        d = d[:cut]
    elif kind == 2:  # inserted bytes
        i = int(rng.integers(len(d) + 1))
        d[i:i] = rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
    elif kind == 3:  # deleted bytes
        i = int(rng.integers(len(d)))
        del d[i : i + int(rng.integers(1, 16))]
    elif kind in (4, 5):  # a header field set to 0, max or random, CRC re-sealed
        off, fmt = _FIELDS[int(rng.integers(len(_FIELDS)))]
        bits = 8 * struct.calcsize(fmt)
        value = int(rng.choice([0, (1 << bits) - 1, int(rng.integers(0, 1 << min(bits, 62)))]))
        d = _with_header_field(d, off, fmt, value)
    elif kind == 6:  # a crafted frame: bytes changed and the frame's CRC re-sealed
        _, spans = _spans(bytes(d))
        lo, size = spans[int(rng.integers(len(spans)))]
        for _ in range(int(rng.integers(1, 5))):
            j = lo + 4 + int(rng.integers(size - FRAME_OVERHEAD))
            d[j] = int(rng.integers(256)) if rng.random() < 0.5 else d[j] ^ (1 << int(rng.integers(8)))
        struct.pack_into("<I", d, lo + size - 4, zlib.crc32(bytes(d[lo : lo + size - 4])))
    else:  # frames swapped, duplicated or dropped
        header_size, spans = _spans(bytes(d))
        nf = len(spans)
        end = spans[-1][0] + spans[-1][1]
        frames = [bytes(d[a : a + n]) for a, n in spans]
        i, j = (int(v) for v in rng.integers(nf, size=2))
        op = int(rng.integers(3))
        if op == 0:
            frames[i], frames[j] = frames[j], frames[i]
        elif op == 1:
            frames[j] = frames[i]
        else:
            del frames[i]
        d = d[:header_size] + b"".join(frames) + d[end:]  # (a VBR index stays behind them)
    return bytes(d)


def check(data: bytes) -> str:
    """Decode ``data``: "decoded" or "format_error"; AssertionError if the decoder misbehaves.

    Any other exception propagates: that is a crash the campaign reports.
    """
    try:
        dec = api.Decoder(data)
        y = dec.read(dtype="float64")
    except FormatError:
        return "format_error"
    h = dec.header
    expect = (dec.n_samples,) if h.channels == 1 else (dec.n_samples, h.channels)
    assert y.shape == expect, f"decoded shape {y.shape}, header says {expect}"
    assert np.all(np.isfinite(y)), "non-finite samples"
    return "decoded"


def campaign(cases: int, seed: int = 0) -> dict:
    """Run ``cases`` seeded mutations over the seed streams; return outcome counts.

    A crash is re-raised with the case number and the input's hex, ready to paste
    into a regression test.
    """
    rng = np.random.default_rng(seed)
    streams = seed_streams()
    counts = {"cases": 0, "decoded": 0, "format_error": 0}
    for case in range(cases):
        data = mutate(streams[int(rng.integers(len(streams)))], rng)
        try:
            counts[check(data)] += 1
        except Exception as exc:
            raise AssertionError(f"fuzz case {case} (seed {seed}): {exc!r}; input hex: {data.hex()}") from exc
        counts["cases"] += 1
    return counts
