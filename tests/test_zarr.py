"""zarr arrays of audio through TQA: zarr v3 (the ``tqa`` serializer) and v2 (the numcodecs
compressor), reopened in a fresh process that never imports tqa."""

import json
import subprocess
import sys

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
from tqa.metrics import sqnr_db  # noqa: E402

ZARR3 = int(zarr.__version__.split(".")[0]) >= 3
needs_zarr3 = pytest.mark.skipif(not ZARR3, reason="zarr v3 API")


def recording(n=100_000, channels=16, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 30000.0
    x = rng.normal(0, 1, (n, channels)) + np.sin(2 * np.pi * 7 * t)[:, None] * np.arange(1, channels + 1)
    return (x * 200).astype("i2")


def fresh_process_read(path, code="a[:]", *more):
    """Open ``path`` in a new interpreter that does not import tqa, return the array(s) read
    (one interpreter for all of ``code, *more``)."""
    codes = (code, *more)
    outs = [f"{path}.{i}.npy" for i in range(len(codes))]
    saves = "; ".join(f"np.save({o!r}, {c})" for o, c in zip(outs, codes))
    script = f"import numpy as np, sys, zarr; assert 'tqa' not in sys.modules; a = zarr.open_array({path!r}, mode='r'); {saves}"
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    arrays = [np.load(o) for o in outs]
    return arrays[0] if len(arrays) == 1 else arrays


@needs_zarr3
@pytest.mark.parametrize(
    "serializer",
    [{"name": "tqa", "configuration": {"bits": 6}}, "object", {"name": "tqa", "configuration": {"profile": "spectral", "quality": 30}},
     {"name": "tqa", "configuration": {"profile": "spectral", "rate": 6.0, "scale": "channel"}},
     {"name": "tqa", "configuration": {"profile": "spectral2", "rate": 4.5}}],
    ids=["dict", "object", "spectral", "spectral-channel", "spectral2"],
)
def test_zarr_v3_fresh_process(tmp_path, serializer):
    import tqa.zarr

    if serializer == "object":
        serializer = tqa.zarr.TQA(bits=6)
    x = recording()
    path = str(tmp_path / "rec.zarr")
    a = zarr.create_array(path, shape=x.shape, chunks=(7000, 5), dtype="int16", serializer=serializer, compressors=None)
    a[:] = x
    meta = json.loads((tmp_path / "rec.zarr" / "zarr.json").read_text())
    assert meta["codecs"][0]["name"] == "tqa" and "dtype" not in meta["codecs"][0].get("configuration", {})
    y, part = fresh_process_read(path, "a[:]", "a[12345:23456, 3:11]")
    assert y.dtype == np.int16 and y.shape == x.shape
    assert sqnr_db(x, y) > 29
    np.testing.assert_array_equal(y, a[:])  # the same bytes decode the same everywhere
    np.testing.assert_array_equal(part, y[12345:23456, 3:11])


@pytest.mark.parametrize("order", ["C", "F"])
def test_zarr_format_2_numcodecs_fresh_process(tmp_path, order):
    """zarr_format=2 (zarr 3's v2 support, or zarr 2.18 itself): the numcodecs compressor."""
    from tqa.numcodecs import TQA

    x = recording(60000, 16, seed=1)
    path = str(tmp_path / "rec.zarr")
    if not ZARR3:
        a = zarr.open_array(path, mode="w", shape=x.shape, chunks=(7000, 5), dtype="i2", compressor=TQA(), order=order)
    else:
        a = zarr.create_array(path, shape=x.shape, chunks=(7000, 5), dtype="i2", zarr_format=2, compressors=TQA(),
                              order=order)  # fmt: skip
    a[:] = x
    y = fresh_process_read(path)
    assert y.dtype == np.int16 and sqnr_db(x, y) > 36


def make_array(shape, chunks, dtype, zarr_format):
    """An in-memory array through tqa: the v3 serializer, or the v2 numcodecs compressor (zarr 2.18 or 3)."""
    if zarr_format == 3:
        import tqa.zarr

        return zarr.create_array({}, shape=shape, chunks=chunks, dtype=dtype, serializer=tqa.zarr.TQA(), compressors=None)
    from tqa.numcodecs import TQA

    v2 = {"zarr_format": 2} if ZARR3 else {}
    return zarr.create(shape=shape, chunks=chunks, dtype=dtype, compressor=TQA(), store={} if ZARR3 else None, **v2)


@pytest.mark.parametrize("zarr_format", [2, 3] if ZARR3 else [2])
@pytest.mark.parametrize("dtype", ["int16", "float32", "float64", "uint16", "int8", "float16"])
@pytest.mark.parametrize("shape, chunks", [((90000,), (30000,)), ((30000, 16), (7000, 5)), ((20000, 4, 6), (5000, 4, 3))])
def test_dtypes_and_chunk_shapes(dtype, shape, chunks, zarr_format):
    dt = np.dtype(dtype)
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, shape)
    if dt.kind == "f":
        x = (x * 1e-6).astype(dt) if dt.itemsize > 2 else (x * 0.1).astype(dt)  # volts: scale-free
    else:
        info = np.iinfo(dt)
        mid = (int(info.max) + int(info.min) + 1) // 2
        x = np.clip(np.rint(x * (info.max - mid) / 5 + mid), info.min, info.max).astype(dt)
    a = make_array(shape, chunks, dtype, zarr_format)
    a[:] = x
    y = a[:]
    assert y.dtype == dt and y.shape == x.shape
    off = 2.0 ** (8 * dt.itemsize - 1) if dt.kind == "u" else 0.0
    floor = 33 if dtype == "int8" else 36  # int8 at a fifth of full scale: 25 counts RMS (rounding costs ~1.5 dB)
    assert sqnr_db((x.astype(float) - off).reshape(shape[0], -1), (y.astype(float) - off).reshape(shape[0], -1)) > floor


@needs_zarr3
def test_float32_array_with_int16_like_settings_does_not_corrupt():
    """The config holds coding settings only; the dtype always comes from the chunk."""
    import tqa.zarr

    x = (np.random.default_rng(3).normal(0, 1e-4, (40000, 16))).astype("f4")
    a = zarr.create_array({}, shape=x.shape, chunks=(30000, 4), dtype="f4", serializer={"name": "tqa", "configuration": {"bits": 6}})
    a[:] = x
    assert isinstance(a.metadata.codecs[0], tqa.zarr.TQA)
    assert sqnr_db(x, a[:]) > 37


@needs_zarr3
@pytest.mark.parametrize("kw", [{}, {"profile": "time"}], ids=["default", "time"])
def test_float_array_with_nan_fill_writes_its_edge_chunk(kw):
    """fill_value=NaN: zarr pads the edge chunk with NaN rows, which the chunk keeps as its tail
    (before, the edge chunk was refused: "chunk contains nan"); reads past the data stay NaN."""
    import tqa.zarr

    x = (np.random.default_rng(4).normal(0, 1, (25000, 3))).astype("f4")
    a = zarr.create_array({}, shape=(25000, 3), chunks=(10000, 3), dtype="f4", fill_value=float("nan"),
                          serializer=tqa.zarr.TQA(**kw), compressors=None)  # fmt: skip
    a[:] = x
    y = a[:]
    assert np.isfinite(y).all() and sqnr_db(x, y) > 36
    a.resize((30000, 3))  # the rows after the data, inside the stored edge chunk: the fill
    assert np.isnan(a[25000:30000]).all()


@needs_zarr3
@pytest.mark.parametrize("dtype", ["bool", "complex64", "str"])
def test_zarr_v3_unsupported_dtype_refused(dtype):
    with pytest.raises(TypeError if dtype != "str" else (TypeError, ValueError)):  # str: zarr refuses it first
        zarr.create_array({}, shape=(100,), chunks=(10,), dtype=dtype, serializer={"name": "tqa"})


@needs_zarr3
def test_zarr_v3_codec_metadata_round_trip():
    import tqa.zarr
    from zarr.registry import get_codec_class

    assert get_codec_class("tqa") is tqa.zarr.TQA
    for c in (tqa.zarr.TQA(), tqa.zarr.TQA(bits=3, residual="qjl", qjl_rows=128), tqa.zarr.TQA(profile="spectral", rate=2.0, hop=512),
              tqa.zarr.TQA(profile="spectral", quality=30, scale="channel"), tqa.zarr.TQA(profile="spectral2"),
              tqa.zarr.TQA(profile="spectral2", quality=30, hop=512, stereo="lr", transients=False, scale="channel")):  # fmt: skip
        d = json.loads(json.dumps(c.to_dict()))
        assert d["name"] == "tqa" and tqa.zarr.TQA.from_dict(d) == c
    assert tqa.zarr.TQA(profile="spectral2", rate=3.0) != tqa.zarr.TQA(profile="spectral2", rate=3.0, stereo="ms")
    with pytest.raises(ValueError):
        tqa.zarr.TQA(profile="spectral2", hop=1000)
    with pytest.raises(ValueError):
        tqa.zarr.TQA(profile="spectral", stereo="ms")
    with pytest.raises(ValueError):
        tqa.zarr.TQA(bits=11)
    with pytest.raises(ValueError):
        tqa.zarr.TQA(profile="spectral", bits=4)


@needs_zarr3
@pytest.mark.parametrize("profile, slack", [("spectral", 1.005), ("spectral2", 1.0)])
def test_zarr_v3_spectral_rate_on_one_second_chunks(profile, slack):
    """rate= is the stored bits per sample of each 1-s chunk (no MDCT padding overshoot; spectral2:
    its tables, frame headers, index and the chunk header all inside)."""
    import tqa.zarr

    x = (np.random.default_rng(4).normal(0, 0.1, (48000 * 3, 4))).astype("f4")
    store = {}
    a = zarr.create_array(store, shape=x.shape, chunks=(48000, 4), dtype="f4", compressors=None,
                          serializer=tqa.zarr.TQA(profile=profile, rate=3.2))  # fmt: skip
    a[:] = x
    sizes = [len(v.to_bytes()) for k, v in store.items() if k.startswith("c/")]
    assert len(sizes) == 3 and all(3.2 * 0.98 < b * 8 / (48000 * 4) <= 3.2 * slack for b in sizes)


@needs_zarr3
def test_zarr_v3_inside_sharding():
    import tqa.zarr

    x = recording(60000, 8, seed=5)
    a = zarr.create_array({}, shape=x.shape, chunks=(6000, 8), shards=(30000, 8), dtype="i2", serializer=tqa.zarr.TQA())
    a[:] = x
    assert sqnr_db(x, a[:]) > 36


def test_dask_reads_zarr_chunks(tmp_path):
    da = pytest.importorskip("dask.array")
    from tqa.numcodecs import TQA

    x = recording(40000, 4, seed=6)
    path = str(tmp_path / "d.zarr")
    if ZARR3:
        import tqa.zarr

        a = zarr.create_array(path, shape=x.shape, chunks=(10000, 4), dtype="i2", serializer=tqa.zarr.TQA())
    else:
        a = zarr.open_array(path, mode="w", shape=x.shape, chunks=(10000, 4), dtype="i2", compressor=TQA())
    a[:] = x
    y = da.from_zarr(path).compute()
    assert sqnr_db(x, y) > 36


@needs_zarr3
@pytest.mark.parametrize("kw", [{}, dict(profile="spectral", rate=3.2), dict(scale="channel"), dict(profile="spectral2", rate=3.2)])
def test_zarr_v3_partial_decoding_reads_what_a_full_decode_does(kw, monkeypatch):
    """With compressors=None, zarr asks the serializer for a selection of a chunk: only the
    stream frames under its time rows are decoded, and every selection form gives full-decode values."""
    import tqa.arraycodec
    import tqa.zarr

    x = recording(44100 * 3, 3, seed=7)
    a = zarr.create_array({}, shape=x.shape, chunks=(44100, 3), dtype="i2", serializer=tqa.zarr.TQA(**kw), compressors=None)
    a[:] = x
    full = a[:]
    rows = []
    real = tqa.arraycodec.decode_chunk
    monkeypatch.setattr(tqa.zarr, "decode_chunk", lambda *args: rows.append(args[3]) or real(*args))
    for sel in [(slice(1000, 2000),), (5, 1), ([3, 50000, 70000], 0), (slice(100, 200, 3),), (slice(44000, 44200), slice(1, 3)), (-1,), (Ellipsis, 0)]:
        np.testing.assert_array_equal(a[sel], full[sel])
    assert rows[0] == (1000, 2000)  # partial: the rows asked for, not the whole chunk
    np.testing.assert_array_equal(a.vindex[[3, 50000, 70000], [0, 1, 2]], full[[3, 50000, 70000], [0, 1, 2]])
    np.testing.assert_array_equal(a.oindex[[3, 50000, 70000], [1]], full[[3, 50000, 70000]][:, [1]])
    m = np.zeros(len(x), bool)
    m[[7, 44100 * 2 + 5]] = True
    np.testing.assert_array_equal(a.oindex[m, :], full[m])
    z0 = zarr.create_array({}, shape=(), dtype="f4", serializer=tqa.zarr.TQA(**kw), compressors=None)
    z0[...] = 0.5
    assert z0[...] == 0.5 and z0[...].shape == ()
