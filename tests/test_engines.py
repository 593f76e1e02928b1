"""Engine conformance: every engine gives the same bytes and the same samples."""

import numpy as np
import pytest

import tqa
from tqa.backends.numpy import NumpyEngine as ArrayAPIEngine
from tqa.registry import get_engine

from tqa.signals import adversarial

ENGINES = tqa.engines()


def test_all_three_engines_are_available():
    assert {"numpy", "scipy", "tiled"} <= set(ENGINES)


@pytest.mark.parametrize("n", [64, 256, 2048, 8192])
def test_kernels_agree(n):
    rng = np.random.default_rng(n)
    x = rng.integers(-(2**27), 2**27, size=(37, n)).astype(np.float64)
    s = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    cb = tqa.lloyd_max(6).refined()
    scale = np.exp2(rng.uniform(10, 30, 37))
    out = {}
    for name in ENGINES:
        e = get_engine(name)
        y = e.rotate(x, s)
        codes = e.quantize(y, scale, cb.boundaries)
        out[name] = (y, e.unrotate(y, s), codes, e.dequantize(codes, scale, cb.centroids))
    for name in ENGINES[1:]:
        for a, b in zip(out[ENGINES[0]], out[name]):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_values_exactly_on_thresholds():
    """A coefficient equal to a threshold goes to the upper cell in every engine."""
    cb = tqa.lloyd_max(4)
    scale = np.array([2.0**20, 3.0])
    # row 0: threshold * 2**20 is exact (a power-of-two scale), so y / scale == t exactly
    t = cb.boundaries
    y = np.stack([t * 2.0**20, np.nextafter(t * 3.0, -np.inf)])
    y = np.pad(y, ((0, 0), (0, 64 - t.size)))
    for name in ENGINES:
        codes = np.asarray(get_engine(name).quantize(y, scale, t))
        np.testing.assert_array_equal(codes[0, : t.size], np.arange(1, t.size + 1))
        # just below threshold x scale: whatever fl(y / 3) rounds to, the count of t <= it
        np.testing.assert_array_equal(codes[1], np.searchsorted(t, y[1] / 3.0, side="right"))
        # the zero threshold of an even codebook: 0 goes up as well
        assert codes[0, -1] == t.size // 2 + 1


SETTINGS = [
    dict(bits=b, residual=r, block_size=n)
    for b in (1, 3, 6, 8)
    for r in ("none", "sign", "qjl")
    for n in (64, 512, 4096)
] + [dict(bits=6, residual="qjl", block_size=512, qjl_rows=64)]


@pytest.mark.parametrize("kw", SETTINGS, ids=lambda kw: "-".join(map(str, kw.values())))
def test_streams_are_byte_identical(kw):
    sigs = adversarial(kw["block_size"])
    x = np.concatenate(list(sigs.values()))
    x = np.stack([x, np.roll(x, 777)], axis=1)
    streams = {e: tqa.encode(x, 44100, engine=e, **kw) for e in ENGINES}
    ref = streams[ENGINES[0]]
    for e in ENGINES[1:]:
        assert streams[e] == ref, f"engine {e} wrote different bytes"
    decoded = {e: tqa.decode(ref, engine=e, dtype="float64")[0] for e in ENGINES}
    for e in ENGINES[1:]:
        np.testing.assert_array_equal(decoded[e], decoded[ENGINES[0]])


def test_numpy_engine_runs_on_any_array_namespace(xp):
    """The array-API engine gives the same codes and samples on NumPy, array_api_strict and torch."""
    eng = ArrayAPIEngine()
    rng = np.random.default_rng(5)
    xn = rng.integers(-(2**20), 2**20, size=(9, 128)).astype(np.float64)
    s = np.where(rng.random(128) < 0.5, -1.0, 1.0)
    cb = tqa.lloyd_max(5).refined()
    t, lv = np.array(cb.boundaries), np.array(cb.centroids)  # writable copies (torch warns on read-only)
    scale = np.exp2(rng.uniform(5, 15, 9))
    ref_y = eng.rotate(xn, s)
    ref_c = eng.quantize(ref_y, scale, t)
    ref_d = eng.dequantize(ref_c, scale, lv)
    ref_x = eng.synthesize(ref_c, scale, lv, s)

    x = xp.asarray(xn)
    y = eng.rotate(x, xp.asarray(s))
    c = eng.quantize(y, xp.asarray(scale), xp.asarray(t))
    d = eng.dequantize(c, xp.asarray(scale), xp.asarray(lv))
    u = eng.unrotate(y, xp.asarray(s))
    back = eng.synthesize(c, xp.asarray(scale), xp.asarray(lv), xp.asarray(s))
    assert type(y) is type(x) and type(back) is type(x)
    for got, ref in ((y, ref_y), (c, ref_c), (d, ref_d), (u, 128 * xn), (back, ref_x)):
        np.testing.assert_array_equal(np.asarray(got), ref)


def test_registry_errors_list_engines():
    with pytest.raises(ValueError, match="numpy.*scipy.*tiled"):
        tqa.encode(np.zeros(10), 8000, engine="nope", profile="time")
    with pytest.raises(ValueError, match="available engines"):
        tqa.set_engine("cuda")


def test_set_engine_scoped_and_global(monkeypatch):
    calls = []
    for name in ENGINES:
        eng = get_engine(name)
        for kernel in ("rotate", "analyze", "encode_blocks"):
            orig = getattr(eng, kernel)
            monkeypatch.setattr(eng, kernel, lambda *a, _o=orig, _n=name: calls.append(_n) or _o(*a))
    x = np.random.default_rng(0).normal(0, 0.1, 2048)
    with tqa.set_engine("tiled"):
        tqa.encode(x, 8000, profile="time")
        assert calls and set(calls) == {"tiled"}
    calls.clear()
    tqa.encode(x, 8000, engine="numpy", profile="time")
    assert set(calls) == {"numpy"}
    calls.clear()
    token = tqa.set_engine("scipy")  # plain call sets the default
    try:
        tqa.encode(x, 8000, profile="time")
        assert set(calls) == {"scipy"}
    finally:
        token.__exit__(None, None, None)


@pytest.mark.parametrize("bits", range(1, 9))
def test_quantize_equals_searchsorted_definition(bits):
    """The lookup-table quantizer is exactly #{t <= y/scale}, edges included."""
    rng = np.random.default_rng(bits)
    for cb in (tqa.lloyd_max(bits), tqa.lloyd_max(bits).refined()):
        t = cb.boundaries
        u = np.concatenate([rng.normal(0, 2, 4096), t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf),
                            [0.0, -0.0, 1e250, -1e250, 5e-324, 100.0, -100.0]])  # fmt: skip
        u = np.pad(u, (0, -u.size % 64)).reshape(-1, 64)
        scale = np.exp2(rng.integers(-3, 30, u.shape[0]).astype(float))
        y = u * scale[:, None]  # exact: power-of-two scales
        ref = np.searchsorted(t, y / scale[:, None], side="right")
        for name in ENGINES:
            np.testing.assert_array_equal(np.asarray(get_engine(name).quantize(y, scale, t)), ref)


def test_auto_rule_picks_by_batch_and_gives_the_same_bytes(monkeypatch):
    import sys

    from tqa import registry

    monkeypatch.setattr(registry, "_instances", {k: v for k, v in registry._instances.items() if k != "numba"})
    assert registry.auto_engine(registry.TILED_FROM_SAMPLES) == "tiled"
    monkeypatch.setitem(sys.modules, "scipy.linalg", sys.modules.get("scipy.linalg", object()))
    assert registry.auto_engine(1000) == "scipy"
    monkeypatch.delitem(sys.modules, "scipy.linalg")
    assert registry.auto_engine(1000) == "tiled"
    x = np.random.default_rng(0).normal(0, 0.1, (5000, 2))
    assert tqa.encode(x, 8000, profile="time") == tqa.encode(x, 8000, engine="scipy", profile="time") == tqa.encode(x, 8000, engine="tiled", profile="time")


class _Toy(tqa.Engine):
    """A third-party engine: wraps the numpy engine's kernels and counts its calls."""

    name = "toy"
    calls = 0

    def __init__(self):
        from tqa.backends.numpy import NumpyEngine

        self._e = NumpyEngine()

    def rotate(self, x, s):
        _Toy.calls += 1
        return self._e.rotate(x, s)

    def unrotate(self, y, s):
        return self._e.unrotate(y, s)

    def quantize(self, y, scale, t):
        return self._e.quantize(y, scale, t)

    def dequantize(self, c, scale, levels):
        return self._e.dequantize(c, scale, levels)


@pytest.mark.parametrize("kw", [dict(profile="time"), dict(profile="spectral", rate=3.0)])
def test_register_engine_toy_gives_identical_streams(kw, monkeypatch):
    from tqa import registry

    monkeypatch.setattr(registry, "_factories", dict(registry._factories))
    tqa.register_engine("toy", _Toy)
    assert "toy" in tqa.engines()
    with pytest.raises(ValueError, match="already registered"):
        tqa.register_engine("toy", _Toy)
    x = np.random.default_rng(2).normal(0, 0.1, (9000, 2))
    _Toy.calls = 0
    toy = tqa.encode(x, 8000, engine="toy", **kw)
    assert _Toy.calls > 0 and toy == tqa.encode(x, 8000, engine="numpy", **kw)
    np.testing.assert_array_equal(tqa.decode(toy, engine="toy")[0], tqa.decode(toy, engine="tiled")[0])
    registry._instances.pop("toy", None)


def test_entry_point_group_registers_engines(monkeypatch):
    from importlib import metadata

    from tqa import registry

    class EP:
        name = "plugged"

        def load(self):
            return _Toy()

    monkeypatch.setattr(registry, "_factories", dict(registry._factories))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [EP()] if group == "tqa.engines" else [])
    assert "plugged" in tqa.engines()
    assert tqa.encode(np.zeros(600), 8000, engine="plugged", profile="time") == tqa.encode(np.zeros(600), 8000, profile="time")
    registry._instances.pop("plugged", None)


def test_bad_factories_are_refused():
    with pytest.raises(ValueError, match="non-empty"):
        tqa.register_engine("auto", _Toy)
    with pytest.raises(TypeError, match="callable"):
        tqa.register_engine("x", 3)


def test_global_default_and_scoped_override():
    from tqa import registry

    try:
        tqa.set_global_engine("numpy")
        assert registry.current() == "numpy" and get_engine().name == "numpy"
        with tqa.set_engine("tiled"):
            assert get_engine().name == "tiled"
        assert get_engine().name == "numpy"
    finally:
        tqa.set_global_engine("auto")
    assert registry.current() == "auto"
    with pytest.raises(ValueError, match="available engines"):
        tqa.set_global_engine("cuda")


def test_works_from_a_checkout_without_the_backends_subpackage(tmp_path):
    """`python -c "import tqa"`, `python -m tqa` and `python -m pytest` from the repository root
    find `backends/` beside `tqa/` even when no installed tqa.backends is importable."""
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parent.parent
    # hide any installed/editable tqa: only the checkout on sys.path[0] (the working directory)
    prelude = "import sys; sys.meta_path[:] = [m for m in sys.meta_path if 'editable' not in repr(m).lower()]; "
    code = prelude + "import tqa, numpy as np; print(tqa.engines(), len(tqa.encode(np.zeros(100), 8000)))"
    p = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "['numpy', 'scipy', 'tiled'" in p.stdout
    p = subprocess.run([sys.executable, "-c", prelude + "import runpy; sys.argv = ['tqa', 'engines']; runpy.run_module('tqa', run_name='__main__')"],
                       cwd=root, capture_output=True, text=True)  # fmt: skip
    assert p.returncode == 0 and "tiled" in p.stdout, p.stderr
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                        "tests/test_rotation.py"], cwd=root, capture_output=True, text=True)  # fmt: skip
    assert p.returncode == 0 and "tests collected" in p.stdout, p.stdout + p.stderr


@pytest.mark.parametrize("bits,residual,n", [(6, "sign", 512), (6, "none", 512), (3, "sign", 64), (8, "sign", 128),
                                             (8, "none", 256), (1, "sign", 4096), (5, "sign", 2048)])  # fmt: skip
def test_fused_block_kernels_match_the_default(bits, residual, n):
    """encode_blocks / decode_blocks of every engine against the Engine defaults: records, energies,
    error sums and decoded blocks, with silent rows and rows of modes 2 and 3 in the batch."""
    from tqa.blockcodec import _CUTS, _LEVELS, _SCALES, BlockCodec
    from tqa.engine import Engine
    from tqa.profiles.settings import TimeSettings

    s = TimeSettings(block_size=n, bits=bits, residual=residual)
    rng = np.random.default_rng(n + bits)
    x = np.rint(rng.normal(0, 2.0**20, (300, n)) * rng.uniform(0, 1, (300, 1)) ** 4)
    x[3] = 0.0
    x[10, 5] = 2.0**26
    x[11] = 0.0
    x[11, 0] = 1.0
    ref = get_engine("numpy")
    bc = BlockCodec(s, ref)
    split = residual == "sign"
    args = (bc._signs[1], bc._thresholds, bc._levels, _CUTS, _SCALES, bits, split)
    want = np.empty((len(x), s.record_bytes), np.uint8)
    e_ref, d_ref = Engine.encode_blocks(ref, x, *args, want)
    side = want[:, 0:2].copy().view("<u2")[:, 0]
    mode = (side >> 12).astype(np.int64)
    mode[[5, 17, 40]] = 2
    mode[[6, 41]] = 3
    k = side & 0x0FFF
    scale = _LEVELS[np.where(mode == 0, 0, k)]
    dec_ref = Engine.decode_blocks(ref, want, scale, bc._levels, bc._signs[1], bits, split, np.empty(x.shape), mode,
                                   bc._signs[2])  # fmt: skip
    for name in ENGINES:
        eng = get_engine(name)
        got = np.empty_like(want)
        e, d = eng.encode_blocks(x, *args, got)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.asarray(e), e_ref)
        np.testing.assert_array_equal(np.asarray(d), d_ref)
        out = eng.decode_blocks(want, scale, bc._levels, bc._signs[1], bits, split, np.empty(x.shape), mode,
                                bc._signs[2])  # fmt: skip
        np.testing.assert_array_equal(np.asarray(out), dec_ref)


def test_tiled_from_grid_int16_matches_the_reference():
    from tqa.samples import from_grid

    rng = np.random.default_rng(5)
    eng = get_engine("tiled")
    for c in (1, 2, 3):
        for n in (0, 1, 1000, 70001):
            buf = np.rint(rng.normal(0, 2.0**23, (c, n)))
            buf[:, ::7] *= 64  # beyond the int16 range: clipped
            buf[:, ::11] = -0.0
            buf[:, 1::13], buf[:, 2::13], buf[:, 3::13] = 128.0, -128.0, 384.0  # halves: round half to even
            for g in (buf.T, np.ascontiguousarray(buf.T)):
                want = from_grid(g, "int16")
                got = eng.from_grid(g, "int16")
                assert got.dtype == want.dtype and got.flags.c_contiguous
                np.testing.assert_array_equal(got, want)
                into = np.empty((n, c), np.int16)
                eng.from_grid(g, "int16", out=into)
                np.testing.assert_array_equal(into, want)
