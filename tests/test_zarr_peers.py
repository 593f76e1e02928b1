"""wavpack-numcodecs' own test file (0.3.0, tests/test_wavpack_codec.py), adapted to TQA: the same
signals, shapes and chunkings, through the numcodecs codec and the zarr v3 serializer.  Lossy, so
"decodes equal" became "decodes to the settings' SQNR"; "compresses" stayed."""

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
from tqa.metrics import sqnr_db  # noqa: E402
from tqa.numcodecs import TQA  # noqa: E402

ZARR3 = int(zarr.__version__.split(".")[0]) >= 3
DTYPES = ["int8", "int16", "int32", "float32"]


def make_noisy_sin_signals(shape=(30000,), sin_f=100, sin_amp=50, noise_amp=5, sample_rate=30000, dtype="int16", rng=None):
    rng = rng or np.random.default_rng(0)
    if len(shape) == 1:
        y = np.sin(2 * np.pi * sin_f * np.arange(shape[0]) / sample_rate) * sin_amp + rng.normal(0, noise_amp, shape[0])
        return y.astype(dtype)
    y = np.zeros(shape, dtype=dtype)
    for idx in np.ndindex(*shape[1:]):
        y[(slice(None),) + idx] = make_noisy_sin_signals((shape[0],), sin_f, sin_amp, noise_amp, sample_rate, dtype, rng)
    return y


@pytest.fixture(scope="module", params=DTYPES)
def signals(request):
    d = request.param
    shapes = [(3001,), (20000,), (3011, 10), (10001, 20), (3000, 300), (1003, 5, 5)]  # theirs: 200000, 200001x20
    return [make_noisy_sin_signals(s, dtype=d) for s in shapes]


def _ok(x, y, floor):
    ref = x.astype(float).reshape(len(x), -1)
    # the peers' signals are 50 +- 5 counts: rounding to whole int8 counts costs a few dB
    assert y.shape == x.shape and y.dtype == x.dtype and sqnr_db(ref, y.astype(float).reshape(len(x), -1)) > floor


# spectral: rate= is the chunk's rate, and a 1003-sample chunk needs two 1024-hop MDCT frames,
# so its frames get half the bits (22.8 dB here against 26+ on the long chunks)
@pytest.mark.parametrize("kw, floor", [({}, 33), (dict(bits=4), 22), (dict(profile="spectral", rate=3.0), 20)])
def test_numcodecs_run_option(signals, kw, floor):
    cod = TQA(**kw)
    for x in signals:
        enc = cod.encode(x)
        dec = cod.decode(enc)
        assert len(enc) < dec.nbytes
        _ok(x, dec, floor)


def _slices(x):
    return (slice(0, 100),) + tuple(slice(0, 2 if x.ndim == 3 else 10) for _ in range(x.ndim - 1))


@pytest.mark.skipif(not ZARR3, reason="zarr v3 API")
@pytest.mark.parametrize("kw", [{}, dict(profile="spectral", rate=3.0)])
def test_zarr_v3(signals, kw):
    import tqa.zarr

    for x in signals:
        store = zarr.storage.MemoryStore()
        if x.ndim == 1:
            chunkings = [x.shape, (1000,)]
        elif x.ndim == 2:
            chunkings = [x.shape, (1000, x.shape[1]), (x.shape[0], 10)]
        else:
            chunkings = [x.shape, (1000, 2, x.shape[2]), (x.shape[0], 2, 3)]
        for i, chunks in enumerate(chunkings):
            z = zarr.create_array(name=f"a{i}", data=x, store=store, chunks=chunks, serializer=tqa.zarr.TQA(**kw))
            assert z[:].shape == x.shape and z[_slices(x)].shape == x[_slices(x)].shape
            if i == 0 and x.dtype.itemsize > 1:  # int8 at the default 7.1 bits/sample + zarr.json: not smaller
                assert z.nbytes > z.nbytes_stored()
            _ok(x, z[:], 33 if not kw else 20)


def test_zarr_v2(signals):
    for x in signals:
        chunkings = [None] + {1: [(1000,)], 2: [(1000, None), (None, 10)], 3: [(1000, 2, None), (None, 2, 3)]}[x.ndim]
        for chunks in chunkings:
            if ZARR3:
                ch = x.shape if chunks is None else tuple(s if c is None else c for c, s in zip(chunks, x.shape))
                z = zarr.create_array({}, shape=x.shape, chunks=ch, dtype=x.dtype, zarr_format=2, compressors=TQA())
                z[:] = x
            else:
                z = zarr.array(x, chunks=chunks if chunks is not None else True, compressor=TQA())
            assert z[:].shape == x.shape and z[_slices(x)].shape == x[_slices(x)].shape
            _ok(x, z[:], 33)
