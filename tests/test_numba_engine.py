"""Conformance of the compiled engine (optional extra tqa[fast]): the numpy engine's bytes and samples.

Deselected as a whole (pytest.importorskip) where numba is not installed: the engine
is an optional extra, and this is the only test file that may skip for it.
"""

import numpy as np
import pytest

pytest.importorskip("numba")

import tqa  # noqa: E402
from tqa.backends.numpy import NumpyEngine as ArrayAPIEngine  # noqa: E402
from tqa.backends.numba import NumbaEngine  # noqa: E402
from tqa.signals import adversarial  # noqa: E402

REF = ArrayAPIEngine()
NB = NumbaEngine()


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    np.testing.assert_array_equal(a, b)
    # bit patterns too (signed zeros)
    if a.dtype.kind == "f":
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("n", [16, 64, 256, 512, 2048, 8192])
@pytest.mark.parametrize("bits", [1, 4, 6, 8])
def test_kernels_match_numpy(n, bits):
    rng = np.random.default_rng(n * 10 + bits)
    rows = 23
    x = rng.integers(-(2**27), 2**27, size=(rows, n)).astype(np.float64)
    x[3] = 0.0  # a silent row
    s = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    cb = tqa.lloyd_max(bits).refined()
    scale = np.exp2(rng.uniform(10, 30, rows))
    scale[5] = 1.0
    y = REF.rotate(x, s)
    _same(NB.rotate(x, s), y)
    _same(NB.unrotate(y, s), REF.unrotate(y, s))
    codes = REF.quantize(y, scale, cb.boundaries)
    _same(NB.quantize(y, scale, cb.boundaries), codes)
    _same(NB.dequantize(codes, scale, cb.centroids), REF.dequantize(codes, scale, cb.centroids))
    for got, want in zip(NB.analyze(x, s, scale, cb.boundaries, cb.centroids),
                         REF.analyze(x, s, scale, cb.boundaries, cb.centroids)):  # fmt: skip
        _same(got, want)
    _same(NB.synthesize(codes, scale, cb.centroids, s), REF.synthesize(codes, scale, cb.centroids, s))


def test_layouts_and_dtypes():
    """Strided views, Fortran order, other code dtypes and empty batches give the same results."""
    rng = np.random.default_rng(7)
    x = rng.integers(-(2**20), 2**20, size=(40, 256)).astype(np.float64)
    s = np.where(rng.random(256) < 0.5, -1.0, 1.0)
    cb = tqa.lloyd_max(5)
    scale = np.exp2(rng.uniform(5, 20, 40))
    for view, sc in ((x[::3], scale[::3]), (np.asfortranarray(x), scale), (x[:0], scale[:0])):
        _same(NB.rotate(view, s), REF.rotate(view, s))
        y = REF.rotate(view, s)
        c = REF.quantize(y, sc, cb.boundaries)
        _same(NB.quantize(y, sc, cb.boundaries), c)
        for dt in (np.int16, np.uint8, np.int64):
            _same(NB.dequantize(c.astype(dt), sc, cb.centroids), REF.dequantize(c.astype(dt), sc, cb.centroids))
            _same(NB.synthesize(c.astype(dt), sc, cb.centroids, s), REF.synthesize(c.astype(dt), sc, cb.centroids, s))


@pytest.mark.parametrize("bits", range(1, 9))
def test_quantize_equals_searchsorted_definition(bits):
    """#{t <= y/scale}, thresholds, their neighbours and extreme values included."""
    rng = np.random.default_rng(bits)
    for cb in (tqa.lloyd_max(bits), tqa.lloyd_max(bits).refined()):
        t = cb.boundaries
        u = np.concatenate([rng.normal(0, 2, 4096), t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf),
                            [0.0, -0.0, 1e250, -1e250, 5e-324, -5e-324, 100.0, -100.0, np.inf, -np.inf]])  # fmt: skip
        u = np.pad(u, (0, -u.size % 64)).reshape(-1, 64)
        scale = np.exp2(rng.integers(-3, 30, u.shape[0]).astype(float))
        y = u * scale[:, None]
        ref = np.searchsorted(t, y / scale[:, None], side="right")
        np.testing.assert_array_equal(NB.quantize(y, scale, t), ref)
        # and a scale that is not a power of two: the division rounds, both engines the same way
        scale3 = scale * 3.0
        np.testing.assert_array_equal(NB.quantize(y, scale3, t), np.searchsorted(t, y / scale3[:, None], side="right"))


def test_rint_is_half_even():
    """dequantize rounds ties to even, like np.round."""
    levels = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.25, 2.0**52 + 1.0, 0.49999999999999994])
    codes = np.arange(levels.size)[None, :]
    _same(NB.dequantize(codes, np.array([1.0]), levels), REF.dequantize(codes, np.array([1.0]), levels))


def test_out_of_range_code_raises():
    lv = tqa.lloyd_max(3).centroids
    with pytest.raises(IndexError):
        NB.dequantize(np.array([[0, 8]]), np.array([1.0]), lv)
    with pytest.raises(IndexError):
        NB.synthesize(np.array([[-1] + [0] * 63]), np.array([1.0]), lv, np.ones(64))


SETTINGS = [
    dict(bits=b, residual=r, block_size=n)
    for b in (1, 3, 6, 8)
    for r in ("none", "sign", "qjl")
    for n in (64, 512, 4096)
] + [dict(bits=6, residual="qjl", block_size=512, qjl_rows=64)]


@pytest.mark.parametrize("kw", SETTINGS, ids=lambda kw: "-".join(map(str, kw.values())))
def test_time_streams_are_byte_identical(kw):
    sigs = adversarial(kw["block_size"])
    x = np.concatenate(list(sigs.values()))
    x = np.stack([x, np.roll(x, 777)], axis=1)
    ref = tqa.encode(x, 44100, engine="numpy", **kw)
    assert tqa.encode(x, 44100, engine="numba", **kw) == ref
    np.testing.assert_array_equal(tqa.decode(ref, engine="numba", dtype="float64")[0],
                                  tqa.decode(ref, engine="numpy", dtype="float64")[0])  # fmt: skip


@pytest.mark.parametrize("kw", [dict(rate=3.2), dict(rate=1.5, hop=256), dict(quality=30.0), dict(rate=6.0, hop=2048)],
                         ids=str)  # fmt: skip
def test_spectral_streams_are_byte_identical(kw):
    rng = np.random.default_rng(3)
    t = np.arange(44100 * 2) / 44100
    x = 0.3 * np.sin(2 * np.pi * 440 * t)[:, None] + rng.normal(0, 0.02, (t.size, 2))
    x[20000:20010] = 0.9  # a click
    x[50000:60000] = 0.0  # silence
    ref = tqa.encode(x, 44100, profile="spectral", engine="numpy", **kw)
    assert tqa.encode(x, 44100, profile="spectral", engine="numba", **kw) == ref
    np.testing.assert_array_equal(tqa.decode(ref, engine="numba", dtype="float64")[0],
                                  tqa.decode(ref, engine="numpy", dtype="float64")[0])  # fmt: skip


def test_int16_music_like_stream():
    rng = np.random.default_rng(11)
    x = (rng.normal(0, 3000, (100_000, 2))).clip(-32768, 32767).astype(np.int16)
    ref = tqa.encode(x, 44100, engine="tiled")
    assert tqa.encode(x, 44100, engine="numba") == ref
    np.testing.assert_array_equal(tqa.decode(ref, engine="numba", dtype="int16")[0],
                                  tqa.decode(ref, engine="tiled", dtype="int16")[0])  # fmt: skip


def test_registered_and_chosen_by_auto_once_loaded():
    from tqa import registry

    assert "numba" in tqa.engines()
    assert isinstance(registry.get_engine("numba"), NumbaEngine)
    assert registry.auto_engine(10) == "numba"  # loaded (its start-up paid): auto uses it
