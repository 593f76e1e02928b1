"""The numcodecs codec (id "tqa"): all of numcodecs' conformance helpers, chunks that
describe themselves, the scale-free SQNR matrix, every profile."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

numcodecs = pytest.importorskip("numcodecs")
import numcodecs.tests.common as common  # noqa: E402
from numcodecs.tests.common import (  # noqa: E402
    check_backwards_compatibility,
    check_config,
    check_encode_decode,
    check_err_decode_object_buffer,
    check_err_encode_object_buffer,
    check_max_buffer_size,
    check_repr,
)

import tqa  # noqa: E402
from tqa.arraycodec import chunk_info  # noqa: E402
from tqa.metrics import sqnr_db  # noqa: E402
from tqa.numcodecs import TQA  # noqa: E402

FIXTURES = Path(__file__).parent / "data" / "numcodecs"


def music(n, channels=1, seed=0):
    """A music-like test signal in [-1, 1]: a few decaying partials and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 48000.0
    out = np.zeros((n, channels))
    for c in range(channels):
        for f in rng.uniform(80, 4000, 6):
            out[:, c] += rng.uniform(0.05, 0.2) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) * np.exp(-t * rng.uniform(0, 3))
        out[:, c] += rng.normal(0, 0.01, n)
    return out / np.max(np.abs(out)) * 0.9


# -- the helpers of numcodecs.tests.common ------------------------------------------------

CODECS = [
    TQA(),
    TQA(bits=4, residual="qjl", qjl_rows=64, block_size=256, seed=3),
    TQA(profile="spectral", rate=3.2),
    TQA(profile="spectral", quality=30, hop=512),
    TQA(profile="spectral", rate=3.2, scale="channel"),
    TQA(profile="spectral2", rate=3.0),
    TQA(profile="spectral2", quality=30, hop=512, scale="channel"),
]


def test_registered_through_the_entry_point():
    codec = numcodecs.get_codec({"id": "tqa", "bits": 5, "residual": "qjl", "qjl_rows": 64})
    assert isinstance(codec, TQA) and (codec.bits, codec.residual, codec.qjl_rows) == (5, "qjl", 64)
    codec = numcodecs.get_codec({"id": "tqa", "profile": "spectral", "quality": 24})
    assert (codec.profile, codec.quality, codec.hop) == ("spectral", 24.0, 1024)
    codec = numcodecs.get_codec({"id": "tqa", "profile": "spectral2", "rate": 2.5, "stereo": "ms"})
    assert (codec.profile, codec.rate, codec.hop, codec.stereo) == ("spectral2", 2.5, "auto", "ms")


@pytest.mark.parametrize("codec", CODECS, ids=repr)
def test_check_config_and_json(codec):
    check_config(codec)
    assert numcodecs.get_codec(json.loads(json.dumps(codec.get_config()))) == codec


def test_config_holds_only_coding_settings():
    assert TQA().get_config() == {"id": "tqa", "profile": "time", "bits": 6, "residual": "sign", "block_size": 512, "seed": 0}
    assert TQA(profile="spectral").get_config() == {"id": "tqa", "profile": "spectral", "rate": 3.2, "hop": 1024, "seed": 0}
    assert TQA() == TQA(bits=6) != TQA(bits=5)
    # spectral2: the profile's own defaults (tqa.profiles.spectral2), every setting listed
    from tqa.profiles.spectral2 import DEFAULT_RATE, Spectral2Settings

    d = Spectral2Settings()
    assert TQA(profile="spectral2").get_config() == {
        "id": "tqa", "profile": "spectral2", "rate": DEFAULT_RATE, "hop": d.hop, "seed": d.seed, "rotate": d.rotate,
        "transients": d.transients, "preecho": d.preecho, "silence": d.silence, "stereo": d.stereo, "tune": d.tune}  # fmt: skip
    assert "rate" not in TQA(profile="spectral2", quality=30).get_config()
    assert TQA(profile="spectral2") != TQA(profile="spectral2", silence=False)


def test_check_repr(monkeypatch):
    monkeypatch.setattr(common, "TQA", TQA, raising=False)  # check_repr evaluates in its own module
    check_repr("TQA(profile='time', bits=6, residual='sign', block_size=512, seed=0)")
    check_repr("TQA(profile='time', bits=4, residual='qjl', block_size=256, seed=3, qjl_rows=64)")
    check_repr("TQA(profile='spectral', quality=30.0, hop=512, seed=0)")
    check_repr("TQA(profile='time', bits=6, residual='sign', block_size=512, seed=0, scale='channel')")
    check_repr("TQA(profile='spectral2', quality=30.0, hop=512, seed=0, rotate=False, transients=True, preecho=True, "
               "silence=True, stereo='auto', tune='sqnr', scale='channel')")  # fmt: skip


@pytest.mark.parametrize(
    "codec", [CODECS[0], TQA(bits=8, residual="qjl", qjl_rows=64, block_size=256), CODECS[3], TQA(profile="spectral2", quality=30)],
    ids=repr,
)
@pytest.mark.parametrize("dtype", ["u1", "i1"])
def test_check_encode_decode(codec, dtype):
    # every buffer form (bytes, bytearray, array.array, out=): untyped buffers are uint8
    # and array.array('b') int8, so only an 8-bit array reads back as itself from all of them
    # (the other form wraps at +-128, which the lowest rates do not survive: 38 and 30 dB settings here)
    x = music(6000, seed=4)
    x = np.rint(x * 100 + (128 if dtype == "u1" else 0)).astype(dtype)
    check_encode_decode(x, codec, precision=-1)  # lossy: |error| < 15 counts on peaks of ~100


@pytest.mark.parametrize("codec", CODECS, ids=repr)
def test_check_err_object_buffers_and_max_buffer_size(codec):
    check_err_decode_object_buffer(codec)
    check_err_encode_object_buffer(codec)
    check_max_buffer_size(codec)


def _fixture_dir():
    d = FIXTURES / "fixture" / "tqa"
    # the helper silently *creates* missing fixtures: make a missing one a failure instead
    assert (d / "int" / "codec.00" / "encoded.00.dat").exists(), f"fixtures missing under {d}"
    return d


FIXTURE_ARRAYS = {
    "int": (lambda: [np.rint(music(4800, 2, seed=1) * 3000).astype("<i2"),
                     np.asfortranarray(np.rint(music(3000, 3, seed=2) * 100).astype("i1")),
                     np.rint(music(5000, seed=3) * 120 + 128).astype("u1")],  # fmt: skip
            [-3] * 7),
    "float": (lambda: [music(4800, 2, seed=5).astype("<f4"), (music(2000, 4, seed=6) * 1e-6).astype(">f8").reshape(2000, 2, 2),
                       music(3000, seed=7).astype("<f2")],  # fmt: skip
              [1] * 7),
    # unsigned chunks about a level far from the mid code: per-channel offsets (chunk version 3)
    "offset": (lambda: [np.rint(music(4800, 3, seed=8) * 400 + 2000).astype("<u2"),
                        np.rint(music(3000, 2, seed=9) * 20 + 40).astype("u1")],  # fmt: skip
               [-3] * 7),
    # signed and float chunks whose level is large against their fluctuations: i64 / f64 offsets (chunk version 4)
    "offset_v4": (lambda: [np.rint(music(4800, 2, seed=10) * 300 + 10000).astype("<i2"),
                           np.rint(music(3000, 3, seed=11) * 2e4 - 10**8).astype(">i4"),
                           (music(3000, 2, seed=12) * 30 + 1950).astype("<f4")],  # fmt: skip
                  [-4] * 7),  # |error| < 15,000 on int32 peaks of ~20,000 at the lowest settings
    # edge chunks whose fill rows are away from the data's level: stored as a tail (chunk version 5)
    "tail_v5": (lambda: [_filled(np.rint(music(4800, 2, seed=13) * 300 + 2000).astype("<u2"), 3000, 0),
                         _filled(np.rint(music(3000, 3, seed=14) * 300).astype(">i2"), 1000, -32768),
                         _filled((music(3000, 2, seed=15) * 30).astype("<f4"), 2500, 40.0)],  # fmt: skip
                [-3] * 7),
}


def _filled(x, rows, fill):
    x[rows:] = fill
    return x


@pytest.mark.parametrize("prefix", list(FIXTURE_ARRAYS))
def test_check_backwards_compatibility(prefix, monkeypatch):
    """Chunks stored by this version (tests/data/numcodecs) still decode: numcodecs' helper, then bit-exactly."""
    d = _fixture_dir()
    arrays, precision = FIXTURE_ARRAYS[prefix]
    monkeypatch.chdir(FIXTURES)
    for i, a in enumerate(arrays()):
        for j, codec in enumerate(CODECS):
            enc = (d / prefix / f"codec.{j:02d}" / f"encoded.{i:02d}.dat").read_bytes()
            y = codec.decode(enc)
            assert y.dtype == a.dtype and y.shape == a.shape and y.flags.f_contiguous == a.flags.f_contiguous
            expect = np.load(d / prefix / f"codec.{j:02d}" / f"decoded.{i:02d}.npy")
            np.testing.assert_array_equal(y, expect)  # bit-exact decoding across versions
            floor = 25 if j in (0, 3, 6) else 12
            assert sqnr_db(a.astype(float).reshape(len(a), -1), y.astype(float).reshape(len(a), -1)) > floor
    check_backwards_compatibility("tqa", arrays(), CODECS, precision=precision, prefix=prefix)


def make_fixtures():  # pragma: no cover - run by hand: python tests/test_numcodecs.py
    os.chdir(FIXTURES)
    for prefix, (arrays, precision) in FIXTURE_ARRAYS.items():
        check_backwards_compatibility("tqa", arrays(), CODECS, precision=precision, prefix=prefix)
        for i, a in enumerate(arrays()):
            for j, codec in enumerate(CODECS):
                p = FIXTURES / "fixture" / "tqa" / prefix / f"codec.{j:02d}"
                if not (p / f"decoded.{i:02d}.npy").exists():  # never overwrite: old decodings are the reference
                    np.save(p / f"decoded.{i:02d}.npy", codec.decode((p / f"encoded.{i:02d}.dat").read_bytes()))


# -- chunks describe themselves ---------------------------------------------------------


@pytest.mark.parametrize(
    "shape, order",
    [((20000,), "C"), ((7000, 5), "C"), ((3000, 4, 3), "C"), ((5000, 3), "F"), ((2,), "C"), ((), "C"), ((4, 384), "C"), ((1, 100), "C")],
)
@pytest.mark.parametrize("kw", [{}, dict(profile="spectral2", quality=38)], ids=["time", "spectral2"])
def test_any_shape_round_trips(shape, order, kw):
    n = shape[0] if shape else 1
    x = music(n, int(np.prod(shape[1:], dtype=int)) if shape else 1, seed=8).reshape(shape).astype("f4")
    x = np.asfortranarray(x) if order == "F" else x
    codec = TQA(**kw)
    enc = codec.encode(x)
    assert chunk_info(enc)["shape"] == shape
    y = codec.decode(enc)
    assert y.shape == x.shape and y.dtype == x.dtype and y.flags.f_contiguous == x.flags.f_contiguous
    if n > 100:
        assert sqnr_db(x.reshape(n, -1), y.reshape(n, -1)) > 36
    out = np.empty_like(x)
    codec.decode(enc, out=out)
    np.testing.assert_array_equal(out, y)


def test_channels_are_not_mixed():
    """Each column keeps its own signal: a (n, 4) chunk of 4 different channels."""
    x = np.zeros((30000, 4), "f4")
    x[:, 1] = music(30000, seed=9)[:, 0]
    y = TQA().decode(TQA().encode(x))
    assert np.all(y[:, [0, 2, 3]] == 0) and sqnr_db(x[:, 1], y[:, 1]) > 36


def test_legacy_config_does_not_reinterpret_chunks():
    """A float32 chunk with a tqa 0.2 config saying int16 comes back as float32, not reinterpreted."""
    codec = numcodecs.get_codec({"id": "tqa", "bits": 6, "residual": "sign", "block_size": 512, "seed": 0,
                                 "sample_rate": 44100, "dtype": "<i2", "channels": 16})  # fmt: skip
    x = music(30000, 4, seed=10).astype("f4")
    y = codec.decode(codec.encode(x))
    assert y.dtype == np.float32 and y.shape == x.shape and sqnr_db(x, y) > 36
    check_config(codec)
    # and a bare tqa 0.2 chunk (a .tqa stream) still reads with that config's dtype
    old = tqa.encode((x[:, :1] * 32767).astype("i2"), 44100, profile="time")
    z = codec.decode(old)
    assert z.dtype == np.int16 and sqnr_db(x[:, 0] * 32767, z.astype(float).reshape(-1)) > 36


def test_big_endian_and_byte_order_kept():
    x = (music(10000, 2, seed=11) * 30000).astype(">i2")
    y = TQA().decode(TQA().encode(x))
    assert y.dtype == np.dtype(">i2") and sqnr_db(x.astype(float), y.astype(float)) > 36


@pytest.mark.parametrize("bad", [np.array(["a", "b"], dtype=object), np.zeros(8, bool), np.zeros(8, complex), np.zeros(3, "U2")])
def test_unsupported_dtypes_are_type_errors(bad):
    with pytest.raises(TypeError):
        TQA().encode(bad)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_refused_clearly(value):
    x = np.zeros((100, 3), "f4")
    x[42, 1] = value
    with pytest.raises(ValueError, match=r"index \(42, 1\).*NaN and Inf"):
        TQA().encode(x)


@pytest.mark.parametrize("dtype", ["f2", "f4", ">f8"])
@pytest.mark.parametrize("rows", [1, 3, 999])
def test_rows_of_nan_at_the_end_are_a_tail(dtype, rows):
    """zarr pads an edge chunk of a float array with fill_value=NaN: rows of NaN at a chunk's end
    (any number) are stored as its tail; a chunk all NaN is a constant; NaN anywhere else, or in
    some channels of a row only, is refused with its index."""
    x = (music(1000, 3, seed=42) * 0.5).astype(dtype)
    x[1000 - rows :] = np.nan
    if rows == 999:  # one finite row: a tail of 999 rows
        x[0] = 0.25
    enc = TQA().encode(x)
    h = chunk_info(enc)
    assert h["version"] == 5 and h["tail_rows"] == rows and np.isnan(h["tail"]).all()
    y = TQA().decode(enc)
    assert y.dtype == x.dtype and np.isnan(y[1000 - rows :]).all() and np.isfinite(y[: 1000 - rows]).all()
    if rows < 999:
        assert sqnr_db(x[: 1000 - rows].astype(float), y[: 1000 - rows].astype(float)) > 37
    z = np.full((50, 3), np.nan, dtype)
    assert chunk_info(TQA().encode(z))["constant"] and np.isnan(TQA().decode(TQA().encode(z))).all()
    x[1000 - rows, 1] = 1.0  # that row is no longer NaN in every channel
    with pytest.raises(ValueError, match=rf"index \({1000 - rows}, 0\).*NaN and Inf"):
        TQA().encode(x)


@pytest.mark.parametrize("dtype", ["i1", "u1", "i2", "u2", "f2", "f4", "f8", "i4", ">f8"])
@pytest.mark.parametrize("value", [0, 1, 100])
def test_all_zero_constant_and_empty_chunks_are_exact(dtype, value):
    for shape in [(5000, 3), (7,), (0,), (0, 4), (10, 0)]:
        x = np.full(shape, value, dtype)
        enc = TQA().encode(x)
        y = TQA().decode(enc)
        assert y.shape == x.shape and y.dtype == x.dtype and np.array_equal(x, y)
        assert len(enc) < 48


def test_bad_config():
    for kw in (dict(bits=9), dict(channels=0), dict(profile="wavelet"), dict(profile="spectral", bits=4),
               dict(rate=3.0), dict(profile="spectral", rate=3, quality=30), dict(profile="spectral", hop=1000),
               dict(profile="spectral2", hop=1000), dict(profile="spectral2", bits=4), dict(profile="spectral2", stereo="x"),
               dict(profile="spectral2", rate=0.1), dict(profile="spectral", stereo="ms"), dict(profile=2)):  # fmt: skip
        with pytest.raises(ValueError):
            TQA(**kw)


def test_damaged_chunks_raise():
    enc = bytearray(TQA().encode(music(5000, 2).astype("f4")))
    for bad in (enc[:10], enc[:-3], enc[:5] + b"\x7f" + enc[6:], b"XXXX" + enc[4:]):
        with pytest.raises(ValueError):
            TQA().decode(bytes(bad))


# -- scale-free SQNR ----------------------------------------------------------------------

AMPLITUDES = [1e-7, 1e-5, 1e-3, 0.1, 1.0, 1e3, 1e5]
DTYPES = ["int8", "int16", "int32", "uint8", "uint16", "float16", "float32", "float64"]


def _signal(kind, n=24000, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "noise":
        return rng.normal(0, 1, (n, channels))
    if kind == "music":
        return music(n, channels, seed) / 0.3
    # electrophysiology-like: noise with sparse negative spikes
    x = rng.normal(0, 1, (n, channels))
    for c in range(channels):
        for t0 in rng.integers(0, n - 40, 30):
            x[t0 : t0 + 30, c] -= 12 * np.exp(-np.arange(30) / 5.0) * np.sin(np.arange(30) / 3.0)
    return x


def _cases():
    for dtype in DTYPES:
        dt = np.dtype(dtype)
        for a in AMPLITUDES:
            if dt.kind in "iu":
                full = float(np.iinfo(dt).max)
                std = a * full / 5  # "amplitude" a: peaks at about a * full scale
                if std < 60 or a > 1:  # whole counts cannot hold 38 dB below ~60 counts RMS: a stated limit
                    continue
            else:
                if dt == np.float16 and not 1e-5 <= a <= 1e3:  # float16: subnormal below 6e-5, max 65504
                    continue
                std = a / 5
            yield dtype, a, std


@pytest.mark.parametrize("kind", ["noise", "music", "spikes"])
@pytest.mark.parametrize("dtype, amplitude, std", list(_cases()))
def test_sqnr_holds_at_any_scale(dtype, amplitude, std, kind):
    dt = np.dtype(dtype)
    s = _signal(kind)
    s = s / np.std(s) * std
    if dt.kind == "u":
        mid = 2.0 ** (8 * dt.itemsize - 1)
        x = np.clip(np.rint(s + mid), 0, np.iinfo(dt).max).astype(dt)
    elif dt.kind == "i":
        x = np.clip(np.rint(s), np.iinfo(dt).min, np.iinfo(dt).max).astype(dt)
    else:
        x = s.astype(dt)
    codec = TQA()
    y = codec.decode(codec.encode(x))
    assert y.dtype == dt and y.shape == x.shape
    ref = x.astype(np.float64) - (2.0 ** (8 * dt.itemsize - 1) if dt.kind == "u" else 0)
    out = y.astype(np.float64) - (2.0 ** (8 * dt.itemsize - 1) if dt.kind == "u" else 0)
    nominal = tqa.info(tqa.encode(np.zeros(10), 48000, profile="time"))["nominal_sqnr_db"]
    got = sqnr_db(ref, out)
    assert nominal - 1.0 < got < nominal + 1.5, (got, nominal)


@pytest.mark.parametrize("amplitude", [1e-7, 1e-3, 1.0, 1e5])
def test_spectral_quality_holds_at_any_scale(amplitude):
    x = (music(48000, 2, seed=12) * amplitude).astype("f4")
    y = TQA(profile="spectral", quality=30).decode(TQA(profile="spectral", quality=30).encode(x))
    assert 29.5 < sqnr_db(x, y) < 32


@pytest.mark.parametrize("kind", ["music", "spikes"])
@pytest.mark.parametrize("dtype, amplitude, std", list(_cases()))
def test_spectral2_sqnr_holds_at_any_scale(dtype, amplitude, std, kind):
    """spectral2 through the codec is scale-free too: quality= is met for every dtype and
    amplitude, and rate= gives the same SQNR at every amplitude (the power-of-two scale)."""
    dt = np.dtype(dtype)
    s = _signal(kind, n=12000)
    s = s / np.std(s) * std
    off = 2.0 ** (8 * dt.itemsize - 1) if dt.kind == "u" else 0.0
    if dt.kind in "iu":
        x = np.clip(np.rint(s + off), np.iinfo(dt).min, np.iinfo(dt).max).astype(dt)
    else:
        x = s.astype(dt)
    got = {}
    for mode in ("quality", "rate") if kind == "music" else ("quality",):
        codec = TQA(profile="spectral2", **{mode: 38.0 if mode == "quality" else 3.0})
        y = codec.decode(codec.encode(x))
        assert y.dtype == dt and y.shape == x.shape
        got[mode] = sqnr_db(x.astype(np.float64) - off, y.astype(np.float64) - off)
    low = 1.5 if dt == np.float16 and amplitude < 6e-5 * 5 else 0.5  # float16 subnormals: a stated limit
    assert 38.0 - low < got["quality"] < 39.0, got
    if "rate" in got:
        ref = _spectral2_rate_reference()
        assert abs(got["rate"] - ref) < (low if dt.kind == "f" else 1.0), (got, ref)


def _spectral2_rate_reference(cache={}):
    if not cache:
        x = _signal("music", n=12000)
        cache[0] = sqnr_db(x, TQA(profile="spectral2", rate=3.0).decode(TQA(profile="spectral2", rate=3.0).encode(x)))
    return cache[0]


def test_uint_with_dc_keeps_its_level():
    x = (np.rint(music(20000, seed=13) * 3000) + 40000).astype("u2")
    y = TQA().decode(TQA().encode(x))
    assert abs(float(np.mean(y.astype(float))) - float(np.mean(x.astype(float)))) < 2
    assert sqnr_db(x.astype(float) - 32768, y.astype(float) - 32768) > 36


# -- every profile through the codec ------------------------------------------------------


@pytest.mark.parametrize("kw", [dict(bits=4, residual="none"), dict(bits=3, residual="qjl", qjl_rows=128), dict(block_size=64, seed=5)])
def test_time_settings_reach_the_stream(kw):
    x = music(30000, 2, seed=14).astype("f4")
    enc = TQA(**kw).encode(x)
    stream = enc[chunk_info(enc)["payload_offset"] + 4 :]
    info = tqa.info(stream)
    for k, v in kw.items():
        assert info[k] == v
    y = TQA(**kw).decode(enc)
    assert abs(sqnr_db(x, y) - info["nominal_sqnr_db"]) < 1.5


@pytest.mark.parametrize("rate", [1.5, 3.2, 6.0])
@pytest.mark.parametrize("channels", [1, 2, 16])
def test_spectral_rate_is_the_chunks_rate(rate, channels):
    """rate= is bits per sample of the whole 1-s chunk, headers included: no MDCT-padding overshoot."""
    x = music(48000, channels, seed=15).astype("f4")
    enc = TQA(profile="spectral", rate=rate).encode(x)
    bps = len(enc) * 8 / x.size
    assert rate * 0.97 < bps <= rate * 1.005 + 8 * 40 / x.size  # + the chunk header
    stream = enc[chunk_info(enc)["payload_offset"] + 4 :]
    assert tqa.info(stream)["hop"] == 1024


@pytest.mark.parametrize("hop", [256, 512, 2048])
def test_spectral_short_chunks_and_small_hops(hop):
    """The rate compensation never asks tqa for a frame rate below the profile's side info."""
    for n in (1, 300, 1003, 5000):
        x = music(n, 3, seed=20).astype("f4")
        codec = TQA(profile="spectral", rate=3.0, hop=hop)
        y = codec.decode(codec.encode(x))
        assert y.shape == x.shape
        if n >= 1003:
            assert sqnr_db(x, y) > 10


def test_spectral_settings_reach_the_stream():
    x = music(20000, 2, seed=16).astype("f4")
    enc = TQA(profile="spectral", quality=24, hop=512, seed=7).encode(x)
    info = tqa.info(enc[chunk_info(enc)["payload_offset"] + 4 :])
    assert (info["profile"], info["quality"], info["hop"], info["seed"]) == ("spectral", 24.0, 512, 7)



@pytest.mark.parametrize("rate", [1.5, 3.0, 6.0])
@pytest.mark.parametrize("channels", [1, 2, 16])
def test_spectral2_rate_is_the_chunks_rate(rate, channels):
    """spectral2: rate= is bits per sample of the whole 1-s chunk, its tables (~500 bytes), frame
    headers, index and the chunk header included: never over, and little under."""
    x = music(48000, channels, seed=15).astype("f4")
    enc = TQA(profile="spectral2", rate=rate).encode(x)
    bps = len(enc) * 8 / x.size
    assert rate * (0.97 if channels > 1 else 0.95) < bps <= rate
    stream = enc[chunk_info(enc)["payload_offset"] + 4 :]
    info = tqa.info(stream)
    assert info["profile"] == "spectral2" and info["rate"] < rate and info["hop"] in (1024, 2048)


@pytest.mark.parametrize("hop", ["auto", 256, 512, 2048])
def test_spectral2_short_chunks_and_small_hops(hop):
    """Chunks of a few samples up to a few hops, each hop (a one-frame stream at hop 256 too)."""
    for n in (1, 2, 300, 1003, 5000):
        x = music(n, 3, seed=20).astype("f4")
        for kw in (dict(rate=3.0), dict(quality=30)):
            codec = TQA(profile="spectral2", hop=hop, **kw)
            enc = codec.encode(x)
            y = codec.decode(enc)
            assert y.shape == x.shape and y.dtype == x.dtype
            if n >= 1003:
                assert sqnr_db(x, y) > (20 if "rate" in kw else 29.5)
            if "rate" in kw and n >= 1003:
                assert len(enc) * 8 / x.size <= 3.0 * 1.03  # a frame's side info sets the floor of a short chunk


def test_spectral2_settings_reach_the_stream():
    x = music(20000, 2, seed=16).astype("f4")
    kw = dict(quality=24.0, hop=512, seed=7, stereo="lr", transients=False, rotate=True)
    enc = TQA(profile="spectral2", **kw).encode(x)
    info = tqa.info(enc[chunk_info(enc)["payload_offset"] + 4 :])
    assert info["profile"] == "spectral2" and {k: info[k] for k in kw} == kw
    assert 23.5 < sqnr_db(x, TQA(profile="spectral2").decode(enc)) < 26


def test_spectral2_many_channels_in_even_streams():
    """384 channels (a Neuropixels probe): spectral2 streams hold 255, so two of 192 (chunk version 2,
    which a version-1 reader refuses by its version); rate= still the chunk's; rows decode alone."""
    import struct

    from tqa.arraycodec import decode_chunk

    rng = np.random.default_rng(21)
    x = np.rint(rng.normal(0, 20, (3000, 384)) + 200 * np.sin(np.arange(3000) * np.pi / 750)[:, None] * rng.uniform(0.5, 1, 384))  # mean ~0: no offsets
    x = x.astype("i2")
    enc = TQA(profile="spectral2", rate=3.0).encode(x)
    h = chunk_info(enc)
    assert h["version"] == 2 and len(enc) * 8 / x.size <= 3.0
    pos, chans = h["payload_offset"], []
    while pos < len(enc):
        (length,) = struct.unpack_from("<I", enc, pos)
        chans.append(tqa.info(enc[pos + 4 : pos + 4 + length])["channels"])
        pos += 4 + length
    assert chans == [192, 192]
    y = TQA().decode(enc)
    assert y.shape == x.shape and sqnr_db(x.astype(float), y.astype(float)) > 20
    np.testing.assert_array_equal(decode_chunk(enc, rows=(1000, 1500)), y[1000:1500])
    assert chunk_info(TQA(profile="spectral2").encode(x[:, :255]))["version"] == 1  # one stream: as version 1
    v1 = bytearray(enc)  # the same streams in a version-1 chunk: its 4096-channel groups do not match them
    v1[4] = 1
    end = h["payload_offset"] - 4
    v1[end : end + 4] = struct.pack("<I", __import__("zlib").crc32(bytes(v1[:end])))
    with pytest.raises(ValueError, match="damaged chunk"):
        TQA().decode(bytes(v1))


@pytest.mark.parametrize("kw", [dict(profile="spectral", quality=30), dict(profile="spectral", rate=3.2), dict()])
def test_scale_channel_evens_out_per_channel_sqnr(kw):
    """scale="channel": each channel by its own power of two, so quiet channels keep their SQNR."""
    from tqa.metrics import sqnr_per_channel

    levels = np.array([0.3, 1e-2, 1e-4, 0, 1e-6])
    x = (music(30000, 5, seed=18) * levels).astype("f4")
    per_chunk = sqnr_per_channel(x, TQA(**kw).decode(TQA(**kw).encode(x)))
    enc = TQA(scale="channel", **kw).encode(x)
    rms = np.sqrt(np.mean(x.astype(float) ** 2, axis=0))
    assert list(chunk_info(enc)["channel_exponents"][[0, 1, 2, 4]]) == [int(np.frexp(rms[c])[1]) for c in (0, 1, 2, 4)]
    y = TQA(scale="channel", **kw).decode(enc)
    per_channel = sqnr_per_channel(x, y)
    assert np.all(y[:, 3] == 0)
    lo = 36 if not kw else 22
    assert min(per_channel[i] for i in (0, 1, 2, 4)) > lo
    if kw.get("quality"):
        assert min(per_chunk[i] for i in (1, 2, 4)) < 10  # the total-error allocation starves quiet channels
    damaged = bytearray(enc)
    damaged[30] ^= 1  # an exponent: the header CRC catches it
    with pytest.raises(ValueError, match="CRC"):
        TQA().decode(bytes(damaged))


def test_scale_channel_keeps_spiky_channels_within_the_grid():
    """A channel whose crest factor exceeds 16 is scaled by its peak (the grid's headroom), not its RMS."""
    from tqa.arraycodec import channel_exponents

    x = np.zeros((20000, 2))
    x[:, 0] = np.random.default_rng(19).normal(0, 1, 20000)
    x[::1000, 1] = 1e3  # RMS 31.6, peak 1000
    e = channel_exponents(x)
    assert np.max(np.abs(np.ldexp(x, -e.astype(np.int64)))) < 16 and e[1] == np.frexp(1e3)[1] - 4
    y = TQA(scale="channel").decode(TQA(scale="channel").encode(x))
    assert sqnr_db(x[:, 1], y[:, 1]) > 36


@pytest.mark.parametrize("dtype", ["int16", "uint16", "int32", "uint8", "int64", "uint64"])
def test_scale_channel_peaks_of_integers_are_those_of_their_floats(dtype):
    """Many integer channels: the peaks from the integers' max and min (the encoder's shortcut)
    are the float64 copy's max |x|, extremes included, and give the same exponents and bytes."""
    from tqa import arraycodec as ac

    info = np.iinfo(dtype)
    x = np.random.default_rng(23).integers(info.min, info.max, (300, 12), dtype=dtype, endpoint=True)
    x[:, 0], x[:, 1], x[:, 2] = info.max, info.min, info.min + (info.max - info.min) // 2
    x[:, 3] = x[:, 3] // 64  # a quiet channel: its RMS sets its exponent
    off = ac.chunk_offsets(x, np.dtype(dtype))[0]  # what the codec takes off
    xf = x.astype(np.float64) - off
    assert np.array_equal(ac._int_peaks(x, off), np.max(np.abs(xf), axis=0))
    assert np.array_equal(ac.channel_exponents(xf, ac._int_peaks(x, off)), ac.channel_exponents(xf))
    codec = TQA(scale="channel", profile="spectral2", rate=3.2)
    assert chunk_info(codec.encode(x))["channel_exponents"].tolist() == ac.channel_exponents(xf).tolist()


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", ">i2", "uint16", "int32", "uint32", "int64", "uint64"])
def test_integer_chunks_code_as_their_float64_copies(dtype):
    """Integer chunks skip the scaled float64 copy: each stream's grid is made from the integers
    (arraycodec._int_grid) and, up to 16 bits, the RMS from them (_int_sumsq).  The values are
    those of the float path, bit for bit: the streams equal those of the chunk's float64 copy
    less its offsets (unsigned chunks: each channel's level), few channels and many, per-channel
    and whole-chunk scaling, at levels where to_grid rounds (exponents above 23)."""
    from tqa import arraycodec as ac
    from tqa.samples import to_grid

    dt = np.dtype(dtype)
    info = np.iinfo(dt)
    mid = float(2 ** (8 * dt.itemsize - 1)) if dt.kind == "u" else 0.0
    rng = np.random.default_rng(29)
    for c in (2, 12):
        x = rng.integers(info.min, info.max, (3000, c), dtype=dt.newbyteorder("="), endpoint=True).astype(dt)
        x[:, 1] = np.clip(x[:, 1].astype(np.float64) / 2**40 + mid, info.min, info.max).astype(dt)  # quiet: e <= 23
        off = ac.chunk_offsets(x, dt)[0]  # each channel's level, where the codec takes it off
        xf = x.astype(np.float64) - off
        e = ac.channel_exponents(xf)
        assert int(e.max()) > 23 or dt.itemsize <= 2
        np.testing.assert_array_equal(ac._int_grid(x, off, e), to_grid(ac._ldexp_channels(xf, -e.astype(np.int32), None)))
        if dt.itemsize <= 2:
            np.testing.assert_array_equal(ac._int_sumsq(x, off), np.einsum("nc,nc->c", xf, xf))
        # (quality=, not rate=: a rate= of the chunk pays for its header, and the offsets make it longer)
        for kw in (dict(scale="channel", profile="spectral2", quality=40), dict(profile="spectral2", quality=40),
                   dict(scale="channel", profile="time"), dict(profile="time")):
            a, b = TQA(**kw).encode(x), TQA(**kw).encode(xf)  # the float64 copy less the offsets: the same streams
            assert a[chunk_info(a)["payload_offset"] :] == b[chunk_info(b)["payload_offset"] :], (c, kw)


@pytest.mark.parametrize("dtype, base", [("uint16", 2000), ("uint16", 60000), ("uint8", 20), ("uint32", 3 * 10**9)])
def test_unsigned_chunks_are_coded_about_their_level(dtype, base):
    """An unsigned recording far from its mid code (an ADC's baseline) is coded about each
    channel's level (the chunk's offsets, version 3), so the error is what the recording about
    its mid code gets, not 38 dB below a constant of up to half the range (version 2 took the mid
    code off: the time profile's error at baseline 2000 was 338 counts RMS against 0.9 here)."""
    dt = np.dtype(dtype)
    amp = {"uint8": 8, "uint16": 400, "uint32": 2.5e7}[dtype]
    sig = music(20000, 6, seed=31) * amp
    mid = float(2 ** (8 * dt.itemsize - 1))
    errs = []
    for level in (mid, float(base)):
        x = np.rint(sig + level + np.arange(6) * amp / 4).astype(dt)
        for kw in (dict(), dict(profile="spectral2", rate=4.0, scale="channel")):
            enc = TQA(**kw).encode(x)
            h = chunk_info(enc)
            assert h["version"] == 3 and np.array_equal(h["offsets"], np.rint(x.astype(float).mean(axis=0)))
            y = TQA(**kw).decode(enc)
            assert y.dtype == dt
            err = y.astype(np.float64) - x.astype(np.float64)
            errs.append((level, kw.get("profile", "time"), float(np.sqrt(np.mean(err**2))), float(np.abs(err.mean(axis=0)).max())))
    for (_, p, e_mid, m_mid), (_, q, e_far, m_far) in zip(errs[:2], errs[2:]):
        assert p == q and e_far < 1.2 * e_mid + 0.5 and m_far < 0.1 * e_far + 0.5, errs


@pytest.mark.parametrize("dtype, base", [("int16", 10000), ("int16", -300), ("int8", 60), ("int32", -10**9), ("int64", 3 * 10**12),
                                         ("float32", 2000), (">f8", -3e-4), ("float16", 60)])  # fmt: skip
def test_signed_chunks_are_coded_about_their_level(dtype, base):
    """A signed or float recording whose level is large against its fluctuations (an ADC's DC
    offset, a sensor's baseline) is coded about each channel's level too (offsets stored as i64
    or f64, chunk version 4): the error is what the recording about zero gets (the time profile's
    error at baseline 10000 was 108.7 counts RMS against 0.91, tools/dc_offset.py --dtype int16;
    float32 in microvolts 118 counts).  About zero the chunk takes none (version 1)."""
    dt = np.dtype(dtype)
    amp = {"int8": 8, "int16": 400, "int32": 2.5e7, "int64": 1e9, "float32": 30.0, "float64": 1e-6, "float16": 4.0}[dt.name]
    sig = music(20000, 6, seed=34) * amp
    errs = []
    for level in (0.0, float(base)):
        x = sig + level + (np.arange(6) * amp / 4 if level else 0)
        x = (x if dt.kind == "f" else np.rint(x)).astype(dt)
        for kw in (dict(), dict(profile="spectral2", rate=4.0, scale="channel")):
            enc = TQA(**kw).encode(x)
            h = chunk_info(enc)
            mean = x.astype(float).mean(axis=0)
            if level:
                assert h["version"] == 4 and np.array_equal(h["offsets"], mean.astype(dt) if dt.kind == "f" else np.rint(mean))
            else:
                assert h["version"] == 1 and h["offsets"] is None
            y = TQA(**kw).decode(enc)
            assert y.dtype == dt
            err = y.astype(np.float64) - x.astype(np.float64)
            errs.append((kw.get("profile", "time"), float(np.sqrt(np.mean(err**2))), float(np.abs(err.mean(axis=0)).max())))
    lsb = 0.5 if dt.kind != "f" else 0.0 if dt.itemsize > 2 else base * 2**-11  # the rounding to the dtype
    for (p, e_zero, _), (q, e_far, m_far) in zip(errs[:2], errs[2:]):
        assert p == q and e_far < 1.2 * e_zero + lsb and m_far < 0.1 * e_far + lsb, errs


@pytest.mark.parametrize("channels", [3, 12])
def test_signed_offsets_only_where_the_level_is_worth_them(channels):
    """A signed chunk takes offsets where some channel's rounded mean is at least 1/16 of its peak
    about it (arraycodec.DC_PEAK), and keeps its bytes and version otherwise (audio)."""
    from tqa import arraycodec as ac

    rng = np.random.default_rng(35)
    x = np.rint(rng.normal(0, 1, (8000, channels)) * 3).astype(np.int16)
    x -= np.rint(x.mean(axis=0)).astype(np.int16)  # rounded means 0
    x[:, 0] = 0  # a silent channel: no level to take off
    square = np.where(np.arange(8000) % 2 == 0, 400, -400).astype(np.int16)  # mean 0, peak 400 about any level
    for level, takes in ((24, False), (26, True)):  # 400/16 = 25
        x[:, 1] = square + level
        off, _ = ac.chunk_offsets(x, x.dtype)
        assert bool(off.any()) == takes and (not takes or off[1] == level), level
        assert chunk_info(TQA().encode(x))["version"] == (4 if takes else 1)
    audio = np.rint(music(44100, 2, seed=36) * 20000).astype(np.int16)
    assert chunk_info(TQA().encode(audio))["offsets"] is None
    for level, takes in ((0.0235, False), (0.0265, True)):  # floats likewise: peak 0.4 about any level, 0.4/16 = 0.025
        f = x[:, :2].astype(np.float32) / 1000
        f[:, 1] = square / 1000 + level
        assert bool(ac.chunk_offsets(f, f.dtype)[0].any()) == takes, level
        assert chunk_info(TQA().encode(f))["version"] == (4 if takes else 1)


def test_unsigned_offsets_skip_a_constant_tail():
    """zarr pads an edge chunk with its fill value: each channel's offset is the level of its
    samples before that constant tail, so the data rows are coded about their own level."""
    from tqa import arraycodec as ac

    x = np.rint(music(7000, 5, seed=32) * 300 + 32768).astype(np.uint16)
    x[2000:] = 0  # the fill rows of an edge chunk
    x[:, 4] = 7  # a constant channel
    x[6999, 3] = 5  # a last row alone is not a tail
    off = ac._offsets(x, x.dtype)
    assert off[:3].tolist() == np.rint(x[:2000, :3].astype(float).mean(axis=0)).tolist()
    assert off[3] == np.rint(x[:, 3].astype(float).mean()) and off[4] == 7
    y = TQA().decode(TQA().encode(x))
    assert sqnr_db(x[:2000].astype(float) - 32768, y[:2000].astype(float) - 32768) > 37.5


@pytest.mark.parametrize("dtype, level, fill", [("u2", 32768, 0), ("i2", 0, -32768), ("f4", 0.0, 1.0), ("i4", 10**6, 0)])
@pytest.mark.parametrize("kw", [{}, dict(profile="spectral2", quality=38)], ids=["time", "spectral2"])
def test_a_fill_tail_is_stored_not_coded(dtype, level, fill, kw):
    """An edge chunk's fill rows away from the data's level (chunk version 5) are stored as a tail:
    exact, and not counted as signal, so the data rows meet quality=.  Coded, they cost
    spectral2 quality=38 ~6 dB on the data rows (32.3 dB, tools/zarr_edge_chunks.py)."""
    from tqa.arraycodec import TAIL_ROWS

    scale = 1.0 if dtype == "f4" else 300
    x = (music(7000, 5, seed=40) * scale + level).astype(dtype)
    if dtype != "f4":
        x = np.rint(music(7000, 5, seed=40) * scale + level).astype(dtype)
    x0 = x.copy()
    x[3000:] = fill
    codec = TQA(**kw)
    enc = codec.encode(x)
    h = chunk_info(enc)
    assert h["version"] == 5 and h["tail_rows"] == 4000 and h["tail"].tolist() == [fill] * 5
    y = codec.decode(enc)
    assert np.array_equal(y[3000:], x[3000:])
    d = x[:3000].astype(float) - x[:3000].astype(float).mean(axis=0)
    assert sqnr_db(d, y[:3000].astype(float) - x[:3000].astype(float).mean(axis=0)) > 37.0
    for lo, hi in ((0, 10), (2990, 3010), (3000, 3001), (5000, 7000), (0, 7000)):  # rows either side of the tail
        assert np.array_equal(decode_rows(enc, lo, hi), y[lo:hi])
    # a tail at the level, or a short one, is coded as before (audio's trailing zeros keep their version)
    z = x.copy()
    z[3000:] = np.asarray(h["offsets"] if h["offsets"] is not None else np.zeros(5)).astype(dtype)
    assert chunk_info(codec.encode(z))["tail_rows"] == 0
    z = x0.copy()
    z[7000 - TAIL_ROWS + 1 :] = fill
    assert chunk_info(codec.encode(z))["tail_rows"] == 0


def decode_rows(enc, lo, hi):
    from tqa.arraycodec import decode_chunk

    return decode_chunk(enc, rows=(lo, hi))


def test_chunk_tails_are_checked():
    """Tails a writer never makes (an older version, as long as the chunk, shorter than TAIL_ROWS,
    past the dtype's range, cut short) are refused, with the CRC made right."""
    import struct
    import zlib

    x = np.rint(music(3000, 2, seed=41) * 300).astype(np.int16)
    x[1000:] = 5000
    enc = TQA().encode(x)
    h = chunk_info(enc)
    assert h["tail_rows"] == 2000
    end = h["payload_offset"] - 4
    head = bytearray(enc[:end])
    at = end - 8 - 8 * 2  # the tail's length

    def with_crc(hd):
        return bytes(hd) + struct.pack("<I", zlib.crc32(bytes(hd))) + enc[end + 4 :]

    assert chunk_info(with_crc(head))["tail"].tolist() == [5000, 5000]
    for bad in ({4: 4}, {at: 3000}, {at: 15}, {at + 8: 40000}):
        hd = bytearray(head)
        for pos, v in bad.items():
            if pos == 4:
                hd[4] = v
            else:
                hd[pos : pos + 8] = struct.pack("<q", v)
        with pytest.raises(ValueError, match="damaged chunk header"):
            chunk_info(with_crc(hd))
    with pytest.raises(ValueError, match="truncated or damaged"):
        chunk_info(enc[: at + 4])


def test_chunk_offsets_are_checked():
    """Offsets a writer never makes (an older version, past the dtype's range, NaN, cut short)
    are refused, with the CRC made right so that only the check can catch them."""
    import struct
    import zlib

    x = np.rint(music(3000, 3, seed=33) * 300 + 1000).astype(np.uint16)
    enc = TQA().encode(x)
    h = chunk_info(enc)
    end = h["payload_offset"] - 4  # the CRC's position
    head = bytearray(enc[:end])

    def with_crc(hd):
        return bytes(hd) + struct.pack("<I", zlib.crc32(bytes(hd))) + enc[end + 4 :]

    assert chunk_info(with_crc(head))["offsets"].tolist() == h["offsets"].tolist()
    signed = bytearray(head)
    signed[4:6] = bytes([4, 3])  # version 4, int16: the same bytes read as i64 offsets, within its range
    assert chunk_info(with_crc(signed))["offsets"].tolist() == h["offsets"].tolist()
    signed3 = bytearray(signed)
    signed3[4] = 3  # signed offsets in a version a stop-24 reader reads (it would call them damaged)
    negative = bytearray(signed)
    negative[end - 8 : end] = struct.pack("<q", -32768)
    assert chunk_info(with_crc(negative))["offsets"][-1] == -32768
    small = bytearray(signed)
    small[5] = 1  # int8: offsets of ~1000 are past its range
    low = bytearray(negative)
    low[end - 8 : end] = struct.pack("<q", -32769)
    flt = bytearray(head)
    flt[5] = 10  # float32, version 3
    fnan = bytearray(signed)
    fnan[5] = 10  # float32, version 4: f64 offsets, NaN refused
    fnan[end - 8 : end] = struct.pack("<d", float("nan"))
    fbig = bytearray(fnan)
    fbig[end - 8 : end] = struct.pack("<d", 1e39)  # past float32's range
    ok = bytearray(fnan)
    ok[end - 8 : end] = struct.pack("<d", -2.5)
    assert chunk_info(with_crc(ok))["offsets"][-1] == -2.5
    old = bytearray(head)
    old[4] = 2
    big = bytearray(head)
    big[end - 8 : end] = struct.pack("<Q", 70000)
    for bad in (signed3, small, low, flt, fnan, fbig, old, big):
        with pytest.raises(ValueError, match="offsets"):
            chunk_info(with_crc(bad))
    with pytest.raises(ValueError, match="truncated|damaged"):
        chunk_info(enc[: end - 8])


def test_more_channels_than_a_stream_holds():
    """Over 4096 channels per chunk: several streams of up to 4096 channels in one chunk."""
    x = (np.random.default_rng(17).normal(0, 1, (600, 5000)) * np.linspace(0.01, 1, 5000)).astype("f4")
    enc = TQA().encode(x)
    y = TQA().decode(enc)
    assert y.shape == x.shape and sqnr_db(x, y) > 36
    assert sqnr_db(x[:, 4096:], y[:, 4096:]) > 36


if __name__ == "__main__":  # pragma: no cover
    make_fixtures()


def test_channel_scaling_shortcuts_equal_plain_numpy():
    """channel_exponents (columns, einsum) and _ldexp_channels (columns, int32) give the values of
    the plain NumPy expressions, few channels and many, a negative peak and a silent channel too."""
    from tqa.arraycodec import _ldexp_channels, channel_exponents

    rng = np.random.default_rng(21)
    for c in (1, 2, 8, 9, 40):
        x = rng.normal(0, 1, (3001, c)) * np.exp2(rng.integers(-20, 20, c))
        x[5, 0] = -50 * np.abs(x[:, 0]).max()  # the peak of channel 0 is negative
        if c > 1:
            x[:, -1] = 0.0
        peak, rms = np.max(np.abs(x), axis=0), np.sqrt(np.mean(np.square(x), axis=0))
        want = np.maximum(np.frexp(np.where(rms > 0, rms, 1.0))[1], np.frexp(np.where(peak > 0, peak, 1.0))[1] - 4)
        e = channel_exponents(x)
        assert np.array_equal(e, want)
        assert np.array_equal(_ldexp_channels(x, -e.astype(np.int32), None), np.ldexp(x, -e.astype(np.int64)))


def test_scaled_transpose_equals_the_plain_broadcast():
    """tqa.stream._scaled_transposed (the decoder's rows scaled and transposed through a small
    buffer) writes the values of the one-call broadcast, -0.0 made +0.0, whatever the length."""
    from tqa.stream import TRANSPOSE_COLUMNS, _scaled_transposed

    rng = np.random.default_rng(22)
    for m in (1, TRANSPOSE_COLUMNS, 3 * TRANSPOSE_COLUMNS + 5):
        g = np.rint(rng.normal(0, 1e6, (40, m)))
        g[3, 0] = -0.0
        f = np.ldexp(1.0, rng.integers(-40, -10, 40))
        out = np.full((m, 50), np.nan)
        _scaled_transposed(g, f, out[:, 5:45])
        want = g.T * f + 0.0
        got = out[:, 5:45]
        assert np.array_equal(got, want) and not np.signbit(got[got == 0]).any()
        assert np.isnan(out[:, :5]).all() and np.isnan(out[:, 45:]).all()


def test_scaled_read_whatever_the_frames_a_call():
    """Decoder._read_scaled (the array codec's decode: working arrays up to half its output)
    gives read()'s values times f whether it decodes 2 frames a call or the whole stream at once."""
    x = music(20000, 8, seed=5)
    stream = tqa.encode(x, 48000, profile="spectral2", rate=3.0, hop=512)
    f = np.ldexp(1.0, np.arange(-3, 5))
    want = tqa.Decoder(stream).read(0, 20000, dtype="float64") * f + 0.0
    for budget in (1, None, 1 << 30):
        out = np.full((20000, 8), np.nan)
        tqa.Decoder(stream)._read_scaled(0, 20000, f, out, budget)
        np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("level", [0, 12000])
@pytest.mark.parametrize("scale", ["chunk", "channel"])
def test_int16_chunks_decode_in_one_compiled_pass_to_the_float_paths_values(scale, level, monkeypatch):
    """An int16 chunk's decode (scaled, offset, rounded, clipped and transposed by the compiled
    scaled_int16) gives the values of the float64 chunk and _from_float, full-scale clipping too,
    with and without offsets."""
    from tqa import arraycodec
    from tqa.sv2 import codec

    if codec.scaled_int16_kernel() is None:
        pytest.skip("no compiled decoder")
    rng = np.random.default_rng(23)
    x = np.clip(music(6000, 40, seed=6) * 40000 * rng.uniform(0.01, 1, 40) / (1 + level / 4000) + level, -32768, 32767).astype("i2")
    x[:, 3] = np.where(np.arange(6000) % 400 < 200, 32767, -32768)  # full-scale square: decoded past the range
    enc = TQA(profile="spectral2", rate=3.0, scale=scale).encode(x)
    assert (chunk_info(enc)["offsets"] is not None) == bool(level)
    y = TQA().decode(enc)
    monkeypatch.setattr(arraycodec, "_int16_kernel", lambda: None)
    want = TQA().decode(enc)
    assert y.dtype == want.dtype and y.flags.c_contiguous
    np.testing.assert_array_equal(y, want)
    assert (want[:, 3] == 32767).any() and (want[:, 3] == -32768).any()
