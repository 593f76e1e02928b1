"""Decoder fuzzing: damaged and hostile .tqa input gives a decode or a FormatError, nothing else."""

import struct
import zlib

import numpy as np
import pytest

import tqa
from tqa import fuzz
from tqa.format import HEADER_SIZE

from conftest import header as parse_header


@pytest.fixture(scope="module")
def streams():
    return fuzz.seed_streams()


def test_seed_streams_decode(streams):
    assert [fuzz.check(s) for s in streams] == ["decoded"] * 5  # 3 time-domain, 2 spectral (CBR, VBR)
    assert all(parse_header(s).n_frames >= 6 for s in streams)


def test_seeded_campaign_of_4000_cases():
    counts = fuzz.campaign(4_000, seed=2026)
    assert counts["cases"] == 4_000
    # both outcomes occur: mutations reach the decoder, and damage is detected
    assert counts["decoded"] > 200 and counts["format_error"] > 2_000


@pytest.mark.long
def test_long_campaign_of_200000_cases():
    """On demand: pytest -m long (about 3 minutes on 2 cores)."""
    counts = fuzz.campaign(200_000, seed=7)
    assert counts["cases"] == 200_000 and counts["decoded"] > 10_000


def test_truncation_at_every_header_byte_and_frame_boundary(streams):
    s = streams[0]
    h = parse_header(s)
    cuts = list(range(HEADER_SIZE + 1)) + [h.frame_offset(i) + d for i in range(h.n_frames) for d in (0, 1, 5)]
    for cut in cuts:
        with pytest.raises(tqa.FormatError) as e:
            tqa.decode(s[:cut])
        if cut >= HEADER_SIZE:
            assert "truncated" in str(e.value) and e.value.frame is not None


@pytest.mark.parametrize("off, fmt", fuzz._FIELDS)
@pytest.mark.parametrize("value", ["zero", "max", "random"])
def test_header_fields_zero_max_random(streams, off, fmt, value):
    bits = 8 * struct.calcsize(fmt)
    v = {"zero": 0, "max": (1 << bits) - 1, "random": int(np.random.default_rng(off).integers(0, 1 << min(bits, 62)))}[value]
    for s in streams:
        fuzz.check(bytes(fuzz._with_header_field(bytearray(s), off, fmt, v)))


def test_field_errors_name_the_problem(streams):
    s = bytearray(streams[0])
    assert "version 2" in _err(fuzz._with_header_field(bytearray(s), 4, "B", 2))
    assert "unknown profile 7" in _err(fuzz._with_header_field(bytearray(s), 5, "B", 7))
    assert "channels 0" in _err(fuzz._with_header_field(bytearray(s), 12, "H", 0))
    assert "sample_rate 0" in _err(fuzz._with_header_field(bytearray(s), 8, "I", 0))
    assert "header CRC" in _err(bytes(s[:20]) + bytes([s[20] ^ 1]) + bytes(s[21:]))
    assert "not a .tqa file" in _err(b"RIFF" + bytes(s[4:]))
    assert "too short" in _err(b"")
    # a header claiming more frames than the file holds: named, nothing allocated for it
    big = fuzz._with_header_field(bytearray(s), 16, "Q", 2**30)
    assert "truncated" in _err(big)


def _err(data):
    with pytest.raises(tqa.FormatError) as e:
        tqa.decode(bytes(data))
    return str(e.value)


def test_swapped_duplicated_frames_are_named(streams):
    s = streams[1]
    h = parse_header(s)
    f = [s[h.frame_offset(i) : h.frame_offset(i) + h.frame_size(i)] for i in range(h.n_frames)]
    swapped = s[: h.header_size] + f[0] + f[2] + f[1] + b"".join(f[3:])
    with pytest.raises(tqa.FormatError, match="frame 1 carries index 2") as e:
        tqa.decode(swapped)
    assert e.value.frame == 1
    dup = s[: h.header_size] + f[0] + f[0] + b"".join(f[2:])
    with pytest.raises(tqa.FormatError, match="frame 1 carries index 0"):
        tqa.decode(dup)


def test_crafted_side_info_is_rejected_with_frame_and_channel(streams):
    s = bytearray(streams[0])
    h = parse_header(bytes(s))
    lo, size = h.frame_offset(3), h.frame_size(3)
    rec = lo + 4 + h.settings.record_bytes  # channel 1's record in frame 3
    struct.pack_into("<H", s, rec, 0xC000)  # reserved bits set
    struct.pack_into("<I", s, lo + size - 4, zlib.crc32(bytes(s[lo : lo + size - 4])))
    with pytest.raises(tqa.FormatError, match="frame 3, channel 1") as e:
        tqa.decode(bytes(s))
    assert e.value.frame == 3


def test_damaged_frames_recover_as_silence(streams):
    s = bytearray(tqa.encode(np.random.default_rng(0).normal(0, 0.1, (30000, 2)), 8000, profile="time"))
    ref, _ = tqa.decode(bytes(s))
    h = parse_header(bytes(s))
    for i in (1, 4):
        s[h.frame_offset(i) + 50] ^= 0x10
    with pytest.raises(tqa.FormatError, match="frame 1 is damaged"):
        tqa.decode(bytes(s))
    with pytest.warns(tqa.DamagedFramesWarning, match=r"1 \(0\.512-1\.024 s\), 4"):
        y, _ = tqa.decode(bytes(s), on_error="silence")
    dec = tqa.Decoder(bytes(s), on_error="silence")
    dec.read()
    assert [d["frame"] for d in dec.lost] == [1, 4]
    fs = h.settings.frame_samples
    for i in range(h.n_frames):
        part = slice(i * fs, (i + 1) * fs)
        if i in (1, 4):
            assert not y[part].any()
        else:  # undamaged frames are never lost
            np.testing.assert_array_equal(y[part], ref[part])
    assert tqa.verify(bytes(s)) == [(1, "stream: frame 1 is damaged (CRC mismatch)"), (4, "stream: frame 4 is damaged (CRC mismatch)")]


def test_truncated_stream_recovers_what_is_there():
    s = tqa.encode(np.random.default_rng(1).normal(0, 0.1, 20000), 8000, profile="time")
    h = parse_header(s)
    cut = s[: h.frame_offset(3) + 10]
    with pytest.warns(tqa.DamagedFramesWarning):
        y, _ = tqa.decode(cut, on_error="silence")
    ref, _ = tqa.decode(s)
    fs = h.settings.frame_samples
    assert y.shape == (3 * fs,)  # the intact frames; the missing tail is reported, not invented
    np.testing.assert_array_equal(y, ref[: 3 * fs])
    (problem,) = tqa.verify(cut)
    assert problem[0] == 3 and "frames 3-4 missing" in problem[1] and f"ends at byte {len(cut)}" in problem[1]


@pytest.mark.parametrize("which", [0, 2])  # sign and qjl streams
def test_silent_mode_decodes_to_zeros_whatever_the_record_holds(streams, which):
    s = bytearray(streams[which])
    h = parse_header(bytes(s))
    lo, size = h.frame_offset(1), h.frame_size(1)
    r = h.settings.record_bytes
    for c in range(h.channels):  # mode 0 with a loud scale, QJL gain and random codes
        rec = lo + 4 + c * r
        struct.pack_into("<H", s, rec, 1100)
        if h.settings.residual == "qjl":
            struct.pack_into("<H", s, rec + 2, 1100)
        s[rec + h.settings.side_bytes : rec + r] = np.random.default_rng(c).integers(0, 256, r - h.settings.side_bytes, dtype=np.uint8).tobytes()
    struct.pack_into("<I", s, lo + size - 4, zlib.crc32(bytes(s[lo : lo + size - 4])))
    y, _ = tqa.decode(bytes(s))
    n = h.settings.block_size
    assert not y[n : 2 * n].any()
