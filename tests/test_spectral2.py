"""Profile 2 (spectral2) through the container: round trips, rate and quality, random access,
damage, verify, tags — the codec itself is tested in tests/test_sv2.py."""

import struct
import warnings
import zlib

import numpy as np
import pytest

import tqa
from tqa.metrics import sqnr_db

from conftest import header


def music(seconds=3.0, sr=44100, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = np.zeros((t.size, channels))
    for k, f in enumerate((220, 330, 495, 1320)):
        x += (0.2 / (k + 1)) * np.sin(2 * np.pi * f * t + k)[:, None] * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * t))[:, None]
    x += rng.normal(0, 0.0005, x.shape)
    x[t.size // 2 : t.size // 2 + 200] += 0.4  # an attack
    return (np.clip(x, -1, 1) * 32767).astype(np.int16)


@pytest.fixture(scope="module")
def x():
    return music()


@pytest.fixture(scope="module")
def stream(x):
    return tqa.encode(x, 44100, profile="spectral2", rate=3.0)


@pytest.fixture(scope="module")
def full(stream):
    return tqa.decode(stream)[0]


def test_rate_is_met_and_quality_beats_profile_1(x, stream):
    bps = len(stream) * 8 / x.size
    assert 0.97 * 3.0 <= bps <= 3.0 * 1.01
    y, sr = tqa.decode(stream, dtype="int16")
    assert sr == 44100 and y.shape == x.shape
    old = tqa.decode(tqa.encode(x, 44100, profile="spectral", rate=3.0), dtype="int16")[0]
    assert sqnr_db(x, y) > sqnr_db(x, old) + 3


def test_quality_target(x):
    data = tqa.encode(x, 44100, profile="spectral2", quality=35.0)
    y, _ = tqa.decode(data, dtype="float64")
    assert sqnr_db(x / 32768.0, y) == pytest.approx(35.0, abs=0.5)
    assert tqa.info(data)["mode"] == "quality"


def test_random_access_equals_the_full_decode(stream, x, full):
    for start, frames in [(0, 100), (12345, 4096), (len(x) - 500, 500), (100_000, 1)]:
        part, _ = tqa.decode(stream, start=start, frames=frames)
        np.testing.assert_array_equal(part, full[start : start + frames])


def test_header_carries_hop_and_parameters(stream):
    h = header(stream)
    assert h.profile.name == "spectral2" and h.settings.hop in (1024, 2048) and len(h.profile_data) > 50
    assert stream[5] == 2


def test_damaged_frame_is_named_recovered_and_verified(stream, full):
    d = bytearray(stream)
    r = tqa.Decoder(bytes(d)).reader
    off, size = r.span(5)
    d[off + size // 2] ^= 0x20
    with pytest.raises(tqa.FormatError, match="frame 5 is damaged"):
        tqa.decode(bytes(d))
    assert [i for i, _ in tqa.verify(bytes(d))] == [5]
    ref = full
    with pytest.warns(tqa.DamagedFramesWarning):
        y, _ = tqa.decode(bytes(d), on_error="silence")
    hop = header(stream).settings.hop
    lo, hi = 5 * hop - hop // 2, 6 * hop + hop // 2
    np.testing.assert_array_equal(y[: lo], ref[: lo])
    np.testing.assert_array_equal(y[hi:], ref[hi:])


def test_crafted_payload_under_a_valid_crc_is_a_format_error(stream):
    d = bytearray(stream)
    r = tqa.Decoder(bytes(d)).reader
    off, size = r.span(3)
    d[off + 4 : off + size - 4] = bytes(size - 8)  # zeros: a malformed frame, resealed
    struct.pack_into("<I", d, off + size - 4, zlib.crc32(bytes(d[off : off + size - 4])))
    problems = tqa.verify(bytes(d))
    assert problems and problems[0][0] == 3
    with pytest.raises(tqa.FormatError, match="frame 3"):
        tqa.decode(bytes(d))


def test_damaged_parameters_are_a_format_error(stream):
    h = header(stream)
    d = bytearray(stream)
    i = d.index(h.profile_data)
    d[i : i + 4] = b"XXXX"  # the parameters' magic
    struct.pack_into("<I", d, h.header_size - 4, zlib.crc32(bytes(d[: h.header_size - 4])))
    with pytest.raises(tqa.FormatError, match="spectral2 parameters"):
        tqa.decode(bytes(d))


def test_settings_validated_and_other_profiles_settings_refused():
    z = np.zeros(1000)
    with pytest.raises(ValueError, match="not both"):
        tqa.encode(z, 8000, profile="spectral2", rate=3, quality=30)
    with pytest.raises(ValueError, match="hop"):
        tqa.encode(z, 8000, profile="spectral2", hop=1000)
    with pytest.raises(TypeError, match="takes no setting bits"):
        tqa.encode(z, 8000, profile="spectral2", bits=3)
    with pytest.raises(ValueError, match="at most 255 channels"):
        tqa.encode(np.zeros((10, 300)), 8000, profile="spectral2")


def test_tags_short_and_empty_streams():
    for n in (0, 1, 700, 5000):
        x = np.random.default_rng(n).normal(0, 0.1, (n, 1))
        d = tqa.encode(x, 16000, profile="spectral2", quality=30.0, tags={"TITLE": "t"})
        y, _ = tqa.decode(d, always_2d=True)
        assert y.shape == (n, 1) and tqa.info(d)["tags"] == {"TITLE": "t"} and tqa.verify(d) == []


def test_same_bytes_whatever_the_engine(x):
    a = tqa.encode(x[:30000], 44100, profile="spectral2", rate=2.5, engine="numpy")
    assert a == tqa.encode(x[:30000], 44100, profile="spectral2", rate=2.5, engine="tiled")


def test_streaming_writes_give_the_bytes_of_one_write_and_leave_no_files(tmp_path, monkeypatch):
    """tqa.Encoder fed in chunks of any size writes the stream tqa.encode makes: the encoder spools
    the samples and the payloads to anonymous temporary files (none left in the temp dir) and
    writes the frames as it reads them back, in batches."""
    import io
    import tempfile

    from tqa import sv2

    x = music(2.5, seed=3)
    x[40000:46000] = 0  # digital silence
    want = tqa.encode(x, 44100, profile="spectral2", rate=2.5)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(sv2, "CACHE_BYTES", 0)  # analyses recomputed on every pass
    monkeypatch.setattr(sv2, "FRAME_BATCH", 5)
    monkeypatch.setattr(tqa.stream, "FINISH_BATCH", 3)
    buf = io.BytesIO()
    with tqa.Encoder(buf, 44100, 2, profile="spectral2", source_format="int16", rate=2.5) as enc:
        coder = enc._coder
        for lo, k in zip((0, 1, 1000, 50001), (1, 999, 49001, len(x))):
            enc.write(x[lo : lo + k])
        assert list(tmp_path.iterdir()) == [] and not hasattr(coder, "_parts")
    assert buf.getvalue() == want
    assert coder._enc.closed and list(tmp_path.iterdir()) == []
    x = x[:60000]
    q = tqa.encode(x, 44100, profile="spectral2", quality=40.0, hop=512)
    buf = io.BytesIO()
    with tqa.Encoder(buf, 44100, 2, profile="spectral2", source_format="int16", quality=40.0, hop=512) as enc:
        for lo in range(0, len(x), 33333):
            enc.write(x[lo : lo + 33333])
    assert buf.getvalue() == q


@pytest.mark.parametrize("hop", [512, 2048])
def test_rate_counts_the_frame_index_at_every_hop(hop):
    """A .tqa stream's frame index has an entry per frame of its own hop: counted as one per 1024
    samples, a hop-2048 stream landed ~0.5% below its rate (and one at hop 512 above it)."""
    rng = np.random.default_rng(4)
    n = 8 * 44100
    t = np.arange(n) / 44100
    x = np.stack([np.sin(2 * np.pi * 330 * t) * 6000 + rng.normal(0, 300, n),
                  np.sin(2 * np.pi * 440 * t) * 5000 + rng.normal(0, 300, n)], axis=1).astype(np.int16)  # fmt: skip
    data = tqa.encode(x, 44100, profile="spectral2", rate=3.0, hop=hop)
    assert tqa.info(data)["hop"] == hop
    bits = 8 * len(data) / x.size  # the whole file: header, frames, index
    assert 0.997 * 3.0 <= bits <= 3.0
