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
    ref = tqa.encode(x, 44100, engine="tiled", profile="time")
    assert tqa.encode(x, 44100, engine="numba", profile="time") == ref
    np.testing.assert_array_equal(tqa.decode(ref, engine="numba", dtype="int16")[0],
                                  tqa.decode(ref, engine="tiled", dtype="int16")[0])  # fmt: skip


def test_registered_and_chosen_by_auto_once_loaded():
    from tqa import registry

    assert "numba" in tqa.engines()
    assert isinstance(registry.get_engine("numba"), NumbaEngine)
    assert registry.auto_engine(10) == "numba"  # loaded (its start-up paid): auto uses it


def _grid_blocks(n, rng):
    """Grid blocks (rows, n) that stress the fused encoder: every adversarial signal at int16,
    float and headroom scale, silence, lone impulses, full-scale and 2**27-grid rows (sums past
    2**53: the rows the compiled pass hands back to the reference), random integers."""
    from tqa.samples import GRID

    sigs = adversarial(n)
    rows = [np.rint(np.resize(v, (len(v) // n, n)) * g) for v in sigs.values() for g in (GRID, 256.0 * 3.0)]
    rows.append(np.zeros((2, n)))
    spike = np.zeros((3, n))
    spike[0, 0], spike[1, n - 1], spike[2, n // 2] = 1.0, -256.0, 2.0**26
    rows.append(spike)
    rows.append(np.full((1, n), 2.0**27 - 1))  # energy >= 2**53
    rows.append(np.full((1, n), -(2.0**23)))  # int16 full scale
    rows.append(rng.integers(-(2**23), 2**23, size=(7, n)).astype(np.float64))
    rows.append(rng.integers(-3, 4, size=(5, n)).astype(np.float64))  # tiny: quantization on the integer grid
    return np.concatenate(rows)


@pytest.mark.parametrize("n", [64, 512, 4096])
@pytest.mark.parametrize("bits,split", [(1, True), (3, False), (4, True), (6, True), (6, False), (7, True), (8, False),
                                        (8, True)])  # fmt: skip
def test_fused_block_methods_match_the_reference(n, bits, split):
    """encode_blocks / decode_blocks: the records bit for bit, the sums and decoded blocks exactly."""
    from tqa.blockcodec import _CUTS, _LEVELS, _SCALES
    from tqa.engine import Engine

    rng = np.random.default_rng(n + 10 * bits + split)
    x = _grid_blocks(n, rng)
    s = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    cb = tqa.lloyd_max(bits).refined() if split else tqa.lloyd_max(bits)
    width = 2 + n * bits // 8 + (n // 8 if split else 0)
    want = np.empty((x.shape[0], width), np.uint8)
    e_ref, d_ref = Engine.encode_blocks(REF, x, s, cb.boundaries, cb.centroids, _CUTS, _SCALES, bits, split, want)
    got = np.full_like(want, 0xA5)
    e, d = NB.encode_blocks(x, s, cb.boundaries, cb.centroids, _CUTS, _SCALES, bits, split, got)
    _same(got, want)
    _same(e, e_ref)
    _same(d, d_ref)
    assert np.any(e_ref >= 2.0**53)  # the hand-back path ran
    # decode: the records just written and random bytes (every code value), silent rows included
    recs = np.concatenate([want, rng.integers(0, 256, size=(9, width), dtype=np.uint8)])
    k = recs[:, 0].astype(np.int64) | (recs[:, 1].astype(np.int64) & 0x0F) << 8
    scale = np.where(np.arange(len(recs)) % 5 == 0, 0.0, _LEVELS[np.minimum(k, 1024 + 16 * 30)])
    ref = Engine.decode_blocks(REF, recs, scale, cb.centroids, s, bits, split, np.empty((len(recs), n)))
    _same(NB.decode_blocks(recs, scale, cb.centroids, s, bits, split, np.empty((len(recs), n))), ref)
    mode = rng.integers(0, 4, len(recs))  # every mode: the fallback rotation and identity rows in the same pass
    fallback = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    ref = Engine.decode_blocks(REF, recs, scale, cb.centroids, s, bits, split, np.empty((len(recs), n)), mode, fallback)
    _same(NB.decode_blocks(recs, scale, cb.centroids, s, bits, split, np.empty((len(recs), n)), mode, fallback), ref)


def test_fused_methods_with_other_tables_fall_back():
    """Levels that do not fit the codes: the compiled pass leaves them to the reference (and its errors)."""
    from tqa.blockcodec import _CUTS, _SCALES
    from tqa.engine import Engine

    n = 64
    x = np.arange(2 * n, dtype=np.float64).reshape(2, n) * 256
    cb = tqa.lloyd_max(3)
    s = np.ones(n)
    a, b = np.empty((2, 2 + 24), np.uint8), np.empty((2, 2 + 24), np.uint8)
    Engine.encode_blocks(REF, x, s, cb.boundaries, cb.centroids, _CUTS, _SCALES, 3, False, a)
    NB.encode_blocks(x, s, cb.boundaries, cb.centroids, _CUTS, _SCALES, 3, False, b)
    _same(a, b)
    with pytest.raises(IndexError):
        NB.decode_blocks(np.full((1, 2 + 24), 255, np.uint8), np.ones(1), cb.centroids[:4], s, 3, False, np.empty((1, n)))


def test_grid_conversions_match_the_reference():
    """to_grid / from_grid: the reference's values and dtypes, bit for bit, in any layout."""
    from tqa.engine import Engine
    from tqa.samples import GRID

    rng = np.random.default_rng(5)
    ints = rng.integers(-32768, 32768, size=(999, 3)).astype(np.int16)
    ints[:4] = [[-32768, 32767, 0], [-1, 1, 0], [32767, -32768, 1], [0, 0, 0]]
    i32 = rng.integers(-(2**31), 2**31, size=(500, 2)).astype(np.int32)
    f32 = rng.uniform(-16, 16, (300, 2)).astype(np.float32)
    f32[:3] = [[2.0**-25, -(2.0**-24)], [0.0, -0.0], [16.0, -16.0]]
    f64 = np.concatenate([f32.astype(np.float64), rng.normal(0, 1, (7, 2)), [[0.5 / GRID, -0.5 / GRID]]])
    for x in (ints, ints[::2], np.asfortranarray(ints), i32, f32, f64):
        _same(NB.to_grid(x), Engine.to_grid(REF, x))
        buf = np.empty((x.shape[1], x.shape[0])).T  # a transposed (channels, samples) buffer
        ref = np.empty((x.shape[1], x.shape[0])).T
        NB.to_grid(x, out=buf)
        Engine.to_grid(REF, x, out=ref)
        _same(buf, ref)
    g = np.concatenate([np.rint(rng.normal(0, 2**23, (400, 2))), [[0.0, -0.0], [-(2.0**31), 2.0**31], [128.0, -128.0],
                        [384.0, -384.0], [2.0**27, -(2.0**27)], [GRID, -GRID - 1]]])  # fmt: skip
    for view in (g, g.T.copy().T, g[::3]):
        for dt in ("int16", "int32", "float32", "float64"):
            _same(NB.from_grid(view, dt), Engine.from_grid(REF, view, dt))
            out = np.empty((view.shape[1], view.shape[0]), dt).T
            NB.from_grid(view, dt, out=out)
            _same(np.ascontiguousarray(out), Engine.from_grid(REF, view, dt))
            ref_out = np.empty((view.shape[1], view.shape[0]), dt).T  # the reference written in place too
            Engine.from_grid(REF, view, dt, out=ref_out)
            _same(np.ascontiguousarray(ref_out), Engine.from_grid(REF, view, dt))


def test_hard_blocks_retried_in_compiled_code_give_the_reference_stream(monkeypatch):
    """try_modes: the blocks it takes (and those it hands back: sums past 2**53) code as the driver's retries do."""
    from tqa.signals import hadamard_blocks

    n = 512
    rng = np.random.default_rng(8)
    quiet = rng.integers(-3, 4, size=(20 * n, 2))  # quantization on the integer grid: many hard blocks
    had = np.repeat((hadamard_blocks(n, rows=[3, 77, 200]) * 30000)[:, None], 2, axis=1)
    loud = np.zeros((4 * n, 2))
    loud[::n] = 32767  # impulses at full scale
    x = np.concatenate([quiet, had, loud, rng.normal(0, 8000, (8 * n, 2))]).clip(-32768, 32767).astype(np.int16)
    taken = []
    real = NumbaEngine.try_modes

    def spy(self, *a):
        done = real(self, *a)
        taken.append(int(done.sum()))
        return done

    monkeypatch.setattr(NumbaEngine, "try_modes", spy)
    for kw in (dict(profile="time"), dict(residual="none", bits=4), dict(block_size=64, bits=8)):
        assert tqa.encode(x, 44100, engine="numba", **kw) == tqa.encode(x, 44100, engine="numpy", **kw)
    assert sum(taken) > 0
