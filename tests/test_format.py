"""The shared format layer: metadata, unfinished streams, bounded readers, salvage, positions."""

import io
import struct
import time
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest

import tqa
from tqa.format import HEADER_SIZE, INDEX_MAGIC

from conftest import header


def _stream(profile="time", n=20_000, channels=2, **kw):
    x = np.random.default_rng(3).normal(0, 0.1, (n, channels)).astype(np.float32)
    return x, tqa.encode(x, 44100, profile=profile, **kw)


def _reseal(data: bytearray) -> bytes:
    size = struct.unpack_from("<H", data, 6)[0]
    struct.pack_into("<I", data, size - 4, zlib.crc32(bytes(data[: size - 4])))
    return bytes(data)


def test_tags_and_channel_mask_round_trip_without_changing_the_frames():
    x, plain = _stream()
    tags = {"title": "Tæst", "ARTIST": "me", "comment": "a=b"}
    data = tqa.encode(x, 44100, tags=tags, channel_mask=0x3, profile="time")
    h = header(data)
    assert h.tags == {"TITLE": "Tæst", "ARTIST": "me", "COMMENT": "a=b"} and h.channel_mask == 3
    assert tqa.info(data)["tags"]["TITLE"] == "Tæst"
    assert data[h.header_size :] == plain[HEADER_SIZE:]  # frames identical, only the header grew
    np.testing.assert_array_equal(tqa.decode(data)[0], tqa.decode(plain)[0])
    with pytest.raises(ValueError, match="tag key"):
        tqa.encode(x, 44100, tags={"A=B": "c"}, profile="time")
    with pytest.raises(ValueError, match="header holds at most"):
        tqa.encode(x, 44100, tags={"BIG": "x" * 5000}, profile="time")


def test_unknown_metadata_records_are_skipped():
    x, data = _stream(tags={"A": "1"})
    h = header(data)
    d = bytearray(data[: h.header_size - 4] + b"\x09\x02\x00zz" + data[h.header_size - 4 :])
    struct.pack_into("<H", d, 6, h.header_size + 5)
    assert header(_reseal(d)).tags == {"A": "1"}


@pytest.mark.parametrize("kw", [dict(profile="time"), dict(profile="spectral", rate=3.0), dict(profile="spectral", quality=30.0)])
def test_unclosed_encoder_leaves_an_unfinished_stream_that_decodes_with_a_warning(kw):
    x = np.random.default_rng(1).normal(0, 0.1, (50_000, 2))
    buf = io.BytesIO()
    enc = tqa.Encoder(buf, 8000, 2, **kw)
    enc.write(x)
    enc._put(enc._coder.finish(enc._n))  # what reached the file before a crash, never closed
    enc.closed = True  # (silence the ResourceWarning of this deliberate case)
    with pytest.raises(tqa.FormatError, match="unfinished"):
        tqa.decode(buf.getvalue())
    with pytest.warns(tqa.UnfinishedStreamWarning):
        y, _ = tqa.decode(buf.getvalue(), on_error="silence")
    ref, _ = tqa.decode(tqa.encode(x, 8000, **kw))
    m = min(len(y), len(ref)) - 2048
    assert m > 40_000
    np.testing.assert_array_equal(y[:m], ref[:m])


def test_unclosed_encoder_warns():
    enc = tqa.Encoder(io.BytesIO(), 8000, 1, profile="time")
    enc.write(np.zeros(10))
    with pytest.warns(ResourceWarning, match="never closed"):
        del enc
        import gc

        gc.collect()


def test_decoder_reads_from_the_current_position():
    x, data = _stream()
    f = io.BytesIO(b"JUNK" * 100 + data + b"more")
    f.seek(400)
    y, _ = tqa.decode(f)
    np.testing.assert_array_equal(y, tqa.decode(data)[0])


def test_paths_and_soundfile_conventions(tmp_path):
    x, data = _stream(channels=1)
    p = tmp_path / "a.tqa"
    p.write_bytes(data)
    ref, sr = tqa.decode(data)
    for src in (p, str(p)):
        y, sr2 = tqa.decode(src, start=100, stop=300, dtype=np.int16, always_2d=True)
        assert sr2 == sr and y.shape == (200, 1) and y.dtype == np.int16
    assert tqa.decode(p, frames=-1)[0].shape == ref.shape
    out = np.zeros((500,), np.float32)
    got = tqa.Decoder(p).read(10, 400, out=out)
    np.testing.assert_array_equal(got, ref[10:410])
    assert tqa.info(p)["frames"] == 20_000 and tqa.verify(p) == []
    with pytest.raises(ValueError, match="channels-first"):
        tqa.encode(np.zeros((2, 5000)), 8000, profile="time")
    y = tqa.decode(tqa.encode(x.T, 8000, layout="channels_first", profile="time"))[0]
    assert y.shape == (20_000,)
    assert tqa.info(tqa.encode(np.zeros((100, 1), np.int32), 8000, source_format="int24", profile="time"))["source_format"] == "int24"


def test_a_44_byte_file_declaring_2_to_the_40_samples_is_cheap():
    """F1/F2 of issue 14: counts from the header never drive loops or allocations."""
    _, data = _stream()
    d = bytearray(data[:HEADER_SIZE])
    struct.pack_into("<Q", d, 16, 2**40)
    d = _reseal(d)
    tracemalloc.start()
    t0 = time.perf_counter()
    problems = tqa.verify(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y, _ = tqa.decode(d, on_error="silence")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.perf_counter() - t0 < 5 and peak < 16 << 20
    assert len(problems) == 1 and "missing" in problems[0][1] and y.shape == (0, 2)
    with pytest.raises(tqa.FormatError, match="truncated"):
        tqa.decode(d)


def test_a_frame_declared_at_154_gb_is_not_read():
    _, data = _stream(block_size=8192, frame_samples=8192 * 4096, bits=8)
    d = bytearray(data)
    struct.pack_into("<H", d, 12, 4096)  # 4096 channels of 4096 blocks of 8192 samples a frame
    struct.pack_into("<Q", d, 16, 2**40)
    d = _reseal(d)
    assert header(d).frame_size(0) > 100e9
    tracemalloc.start()
    problems = tqa.verify(d)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 16 << 20 and "missing" in problems[0][1]


def test_verify_decodes_frames_not_only_crcs():
    _, data = _stream()
    d = bytearray(data)
    h = header(d)
    lo, size = h.frame_offset(2), h.frame_size(2)
    struct.pack_into("<H", d, lo + 4, 0xC000)  # reserved side-info bits under a valid CRC
    struct.pack_into("<I", d, lo + size - 4, zlib.crc32(bytes(d[lo : lo + size - 4])))
    (problem,) = tqa.verify(bytes(d))
    assert problem[0] == 2 and "channel 0" in problem[1]


def test_empty_spectral_stream_frames_are_checked():
    data = bytearray(tqa.encode(np.zeros((0, 1)), 8000, profile="spectral"))
    assert tqa.verify(bytes(data)) == []
    data[HEADER_SIZE + 5] ^= 1
    assert tqa.verify(bytes(data))[0][0] == 0


@pytest.mark.parametrize("change", ["append", "cut_index", "damage_index"])
def test_vbr_salvage_finds_frames_by_their_own_headers(change):
    x, data = _stream("spectral", quality=30.0)
    ref, _ = tqa.decode(data)
    n_frames = header(data).n_frames
    if change == "append":
        d = data + b"\x00"
    elif change == "cut_index":
        d = data[:-20]
    else:
        i = data.rfind(INDEX_MAGIC)
        d = data[: i - 30] + bytes(8) + data[i - 22 :]
    assert tqa.verify(d)
    with pytest.warns(tqa.DamagedFramesWarning if change == "cut_index" else UserWarning) if False else warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y, _ = tqa.decode(d, on_error="silence")
    dec = tqa.Decoder(d, on_error="silence")
    found = dec.reader.n_available
    assert found >= n_frames - 1  # every frame, or all but the last when its end went with the index
    m = min(len(y), (found - 1) * 1024)
    assert m > 15_000
    np.testing.assert_array_equal(y[:m], ref[:m])


@pytest.mark.parametrize("profile", ["time", "spectral"])
def test_largest_accepted_scale_codes_decode_identically_on_every_engine(profile):
    """F16 of issue 14: the biggest values a reader accepts keep every engine exact."""
    from tqa.blockcodec import MAX_SCALE_CODE as TIME_MAX
    from tqa.spectral import MAX_SCALE_CODE as SPEC_MAX

    if profile == "time":
        _, data = _stream(n=4096, channels=1, bits=8, residual="none", block_size=64)
        d = bytearray(data)
        h = header(d)
        lo, size, r = h.frame_offset(0), h.frame_size(0), h.settings.record_bytes
        for b in range(h.settings.frame_blocks):
            struct.pack_into("<H", d, lo + 4 + b * r, TIME_MAX | 3 << 12)  # identity mode, largest scale
            d[lo + 4 + b * r + 2 : lo + 4 + (b + 1) * r] = b"\xff" * (r - 2)  # the largest level
        struct.pack_into("<I", d, lo + size - 4, zlib.crc32(bytes(d[lo : lo + size - 4])))
        too_big = bytearray(d)
        struct.pack_into("<H", too_big, lo + 4, (TIME_MAX + 1) | 3 << 12)
        struct.pack_into("<I", too_big, lo + size - 4, zlib.crc32(bytes(too_big[lo : lo + size - 4])))
    else:
        _, data = _stream("spectral", n=4096, channels=1, rate=8.0, hop=256)
        d = bytearray(data)
        h = header(d)
        size = h.frame_size(0)
        lo = h.frame_offset(1)
        sb = h.settings.scale_bytes()
        bits = np.zeros(sb * 8, np.uint8)
        bits[:7] = [int(c) for c in format(SPEC_MAX, "07b")]  # first band at the largest code, deltas 0
        d[lo + 5 : lo + 5 + sb] = np.packbits(bits).tobytes()
        d[lo + 5 + sb : lo + size - 4] = np.random.default_rng(0).integers(0, 256, size - 9 - sb, dtype=np.uint8).tobytes()
        struct.pack_into("<I", d, lo + size - 4, zlib.crc32(bytes(d[lo : lo + size - 4])))
        too_big = bytearray(d)
        bits[:7] = [int(c) for c in format(SPEC_MAX + 1, "07b")]
        too_big[lo + 5 : lo + 5 + sb] = np.packbits(bits).tobytes()
        struct.pack_into("<I", too_big, lo + size - 4, zlib.crc32(bytes(too_big[lo : lo + size - 4])))
    outs = {e: tqa.decode(bytes(d), engine=e, dtype="float64")[0] for e in tqa.engines()}
    ref = outs.pop("numpy")
    assert np.abs(ref).max() > 1.0  # really loud
    for e, y in outs.items():
        assert y.tobytes() == ref.tobytes(), e
    with pytest.raises(tqa.FormatError, match="out of range|scale"):
        tqa.decode(bytes(too_big))


@pytest.mark.parametrize("profile, kw", [("spectral", dict(quality=30.0)), ("spectral2", dict(quality=30.0))])
def test_variable_size_frames_with_tags(profile, kw):
    x = np.random.default_rng(4).normal(0, 0.1, (9000, 2))
    data = tqa.encode(x, 44100, profile=profile, tags={"TITLE": "x" * 300}, **kw)
    y, _ = tqa.decode(data)  # strict: the index must point past the larger header
    assert y.shape == x.shape and tqa.verify(data) == [] and header(data).tags["TITLE"] == "x" * 300


def test_frame_array_is_frame_bytes_of_each_row():
    from tqa.format import frame_array, frame_bytes, frames_of

    p = np.random.default_rng(1).integers(0, 256, size=(5, 2, 3, 7), dtype=np.uint8)
    a = frame_array(11, p.transpose(0, 2, 1, 3))  # a strided view: its rows in C order
    rows = [np.ascontiguousarray(p[i].transpose(1, 0, 2)).tobytes() for i in range(5)]
    assert [bytes(r) for r in a] == [frame_bytes(11 + i, r) for i, r in enumerate(rows)]
    pieces, lengths = frames_of(3, [b"abc", p.transpose(0, 2, 1, 3), b"z"])
    assert b"".join(bytes(x) if isinstance(x, np.ndarray) else x for x in pieces) == b"".join(
        [frame_bytes(3, b"abc")] + [frame_bytes(4 + i, r) for i, r in enumerate(rows)] + [frame_bytes(9, b"z")])
    assert lengths == [11] + [50] * 5 + [9]
    assert frame_array(0, np.zeros((0, 4), np.uint8)).shape == (0, 12)


@pytest.mark.parametrize("bits", range(1, 9))
def test_bitpack_is_msb_first_bit_for_bit(bits):
    """tqa.bitpack (its 6-bit byte-arithmetic path included) against the definition: the codes'
    bits, MSB first, concatenated."""
    from tqa import bitpack

    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 1 << bits, size=(5, 64))
    codes[0] = (1 << bits) - 1
    codes[1] = 0
    want = np.packbits(((codes[:, :, None] >> np.arange(bits - 1, -1, -1)) & 1).reshape(5, -1).astype(np.uint8), axis=1)
    np.testing.assert_array_equal(bitpack.pack(codes, bits), want)
    np.testing.assert_array_equal(bitpack.pack(codes.astype(np.int16), bits), want)
    np.testing.assert_array_equal(bitpack.unpack(want, bits, 64), codes)
    assert bitpack.unpack(want, bits, 64).dtype == np.uint8
    # into a column range of records (what backends.tiled does), its neighbours untouched, and
    # into a column-major array
    rec = np.full((5, 3 + want.shape[1] + 2), 0xA5, np.uint8)
    into = rec[:, 3:-2]
    assert bitpack.pack(codes, bits, out=into) is into
    np.testing.assert_array_equal(rec[:, 3:-2], want)
    assert (rec[:, :3] == 0xA5).all() and (rec[:, -2:] == 0xA5).all()
    col = np.full((want.shape[1], 5), 0xFF, np.uint8).T
    np.testing.assert_array_equal(bitpack.pack(codes, bits, out=col), want)
