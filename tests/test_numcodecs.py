"""The numcodecs codec (id "tqa"): numcodecs' own checks, a zarr array of audio."""

import json

import numpy as np
import pytest

numcodecs = pytest.importorskip("numcodecs")
from numcodecs.tests.common import check_config, check_encode_decode  # noqa: E402

from tqa.metrics import sqnr_db  # noqa: E402
from tqa.numcodecs import TQA  # noqa: E402


def test_registered_through_the_entry_point():
    codec = numcodecs.get_codec({"id": "tqa", "bits": 5, "residual": "qjl", "qjl_rows": 64})
    assert isinstance(codec, TQA) and (codec.bits, codec.residual, codec.qjl_rows) == (5, "qjl", 64)


@pytest.mark.parametrize("kw", [{}, dict(bits=4, residual="none", block_size=64, seed=9, dtype="<i2", channels=2)])
def test_config_round_trip(kw):
    codec = TQA(**kw)
    check_config(codec)
    assert numcodecs.get_codec(json.loads(json.dumps(codec.get_config()))) == codec
    assert repr(codec).startswith("TQA(bits=")


def test_numcodecs_encode_decode_checks_float():
    x = np.random.default_rng(0).normal(0, 0.1, 20000).astype("<f4")
    check_encode_decode(x, TQA(dtype="<f4"), precision=1)  # lossy: compared to 0.1


@pytest.mark.parametrize("dtype, scale", [("<i2", 3000), ("<i4", 2.0**28), ("<f8", 0.2)])
def test_round_trip_shape_dtype_and_sqnr(dtype, scale):
    x = (np.random.default_rng(1).normal(0, 1, (30000, 3)) * scale).astype(dtype)
    codec = TQA(dtype=dtype, channels=3, sample_rate=44100)
    y = codec.decode(codec.encode(x))
    assert y.shape == x.shape and y.dtype == np.dtype(dtype)
    assert sqnr_db(x, y) > 37
    out = np.empty_like(x)
    codec.decode(codec.encode(x.tobytes()), out=out)
    np.testing.assert_array_equal(out, y)


def test_bad_config_and_data():
    for kw in (dict(bits=9), dict(dtype="u1"), dict(channels=0)):
        with pytest.raises(ValueError):
            TQA(**kw)
    with pytest.raises(TypeError):
        TQA().encode(np.array(["a", "b"], dtype=object))


def test_zarr_array_of_audio():
    zarr = pytest.importorskip("zarr")
    x = (np.random.default_rng(2).normal(0, 3000, (44100 * 3, 2))).astype("i2")
    codec = TQA(dtype="<i2", channels=2, sample_rate=44100)
    a = zarr.create_array(store={}, shape=x.shape, chunks=(44100, 2), dtype="i2", zarr_format=2, compressors=codec)
    a[:] = x
    assert sqnr_db(x, a[:]) > 37
    assert sqnr_db(x[50000:60000], a[50000:60000]) > 37  # chunked random access
