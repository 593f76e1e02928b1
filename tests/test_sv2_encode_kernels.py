"""The sv2 encoder's compiled loops (tqa.sv2._jitenc, JIT; tqa.sv2._aot, the same built ahead of
time) give the NumPy reference's values to the last bit: kernel by kernel on random inputs
(short blocks, every overlap kind, escapes, silence maps, M/S, rotation, multichannel, rho) and
whole streams (rate= and quality=)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from tqa import sv2
from tqa.sv2 import codec, transform

_jit = pytest.importorskip("tqa.sv2._jit")
if not _jit.AVAILABLE:
    pytest.skip("numba not installed", allow_module_level=True)
from tqa.sv2 import _aot, _jitenc  # noqa: E402

SR = 44100


def _modules():
    mods = [pytest.param(_jitenc, id="jit")]
    aot = _aot.load(build="no")
    mods.append(pytest.param(aot, id="aot", marks=pytest.mark.skipif(aot is None, reason="ahead-of-time loops not built")))
    return mods


@pytest.fixture(params=_modules())
def kernels(request, monkeypatch):
    """Run codec with these compiled loops (request.param) or the NumPy reference (None)."""

    def use(mod):
        monkeypatch.setattr(_jit, "AVAILABLE", mod is not None)
        monkeypatch.setattr(codec, "_ENC", [mod] if mod is not None else [])

    return request.param, use


def _segments(rng, ch, F, N, scale=1e6):
    seg = rng.normal(0, scale, (ch, F, 2 * N)) * rng.uniform(0, 1, (ch, F, 1))
    seg[:, F // 3, : N // 2] = 0.0  # a quiet stretch before an attack
    return np.rint(seg)


def _kinds(rng, F, N):
    short = rng.random(F) < 0.3
    r = transform.overlaps(short, N, first_edge=bool(rng.integers(2)), last_edge=bool(rng.integers(2)))
    # long frames may also meet a hard edge or a short overlap on either side
    long_ = np.flatnonzero(~short)
    rl, rr = r[:-1].copy(), r[1:].copy()
    pick = rng.integers(0, 3, (2, long_.size))
    choice = np.array([0, N // 16, N // 2])
    rl[long_], rr[long_] = choice[pick[0]], choice[pick[1]]
    return short, rl, rr


def _analyses(use, mod, seg, short, rl, rr, st):
    use(None)
    ref = codec.analyze(seg, short, rl, rr, st)
    use(mod)
    got = codec.analyze(seg, short, rl, rr, st)
    return ref, got


def _same(a, b):
    if a is None or b is None:
        assert a is None and b is None
        return
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)
    assert np.array_equal(np.signbit(a), np.signbit(b)) if a.dtype.kind == "f" else True


@pytest.mark.parametrize("ch,N,stereo,rotate", [(2, 2048, "auto", False), (2, 256, "auto", False), (1, 1024, "auto", False),
                                                (3, 512, "auto", False), (2, 512, "lr", False), (2, 1024, "auto", True)])  # fmt: skip
def test_analysis_and_quantization_match_numpy(kernels, ch, N, stereo, rotate):
    mod, use = kernels
    rng = np.random.default_rng(ch * 7 + N)
    F = 12
    seg = _segments(rng, ch, F, N)
    short, rl, rr = _kinds(rng, F, N)
    assert short.any() and (~short).any()
    st = codec.Settings(rate=3.0, hop=N, stereo=stereo, rotate=rotate, seed=3)
    guard = rng.random((F, transform.SHORT)) < 0.5
    use(None)
    ref = codec.analyze(seg, short, rl, rr, st, guard)
    use(mod)
    got = codec.analyze(seg, short, rl, rr, st, guard)
    for name in ("X", "XM", "EB", "EBM", "e_lo", "e_blk", "guard", "short"):
        _same(getattr(ref, name), getattr(got, name))
    rms = float(np.sqrt(np.mean(ref.X**2)))
    for step, rho, divide in ((rms / 8, 0.5, None), (rms / 200, 0.5, True), (rms * 3, 0.3, False), (rms / 5000, 0.5, None)):
        for s2 in (st, codec.Settings(rate=3.0, hop=N, stereo=stereo, rotate=rotate, rho=rho, preecho=divide is not False)):
            use(None)
            qa = codec.quantize(ref, step, s2, divide)
            k1 = codec.counts(qa)
            ka = codec.counts(qa, codec.counts(qa))  # continued sums
            kn = codec.counts(qa, None, centroids=False)
            use(mod)
            qb = codec.quantize(ref, step, s2, divide)
            kb = codec.counts(qb, codec.counts(qb))
            kc = codec.counts(qb, None, centroids=False)
            for name in ("q", "cls", "ms", "e", "v", "Y"):
                _same(getattr(qa, name), getattr(qb, name))
            for k in ("d", "c", "cn", "cd", "raw"):
                np.testing.assert_array_equal(ka[k], kb[k])
                np.testing.assert_array_equal(kn[k], kc[k])
            for k in ("d", "c", "raw"):  # what a step search needs is the same without the centroid sums
                np.testing.assert_array_equal(k1[k], kc[k])
            assert not kc["cn"].any() and k1["cn"].sum() == np.count_nonzero(qa.q[np.repeat(qa.cls, codec.BAND, -1) > 0])


@pytest.mark.parametrize("ch,N", [(2, 2048), (1, 256), (3, 1024), (20, 256)])  # 20: fold_block's many-channel sweep
def test_analysis_from_samples_matches_numpy(kernels, ch, N):
    """Consecutive frames analysed straight from their samples (no segments array)."""
    mod, use = kernels
    rng = np.random.default_rng(N + ch)
    F = 10
    block = np.rint(rng.normal(0, 1e6, ((F + 1) * N, ch)) * rng.uniform(0, 1, ((F + 1) * N, 1)))
    short, rl, rr = _kinds(rng, F, N)
    seg = codec._block_segments(block, np.arange(F), F)
    st = codec.Settings(rate=3.0, hop=N)
    use(None)
    ref = codec.analyze(seg, short, rl, rr, st)
    alt = codec.analyze(None, short, rl, rr, st, block=block)  # NumPy from the samples too
    use(mod)
    got = codec.analyze(None, short, rl, rr, st, block=block)
    for name in ("X", "XM", "EB", "EBM", "e_lo", "e_blk", "guard", "short"):
        _same(getattr(ref, name), getattr(got, name))
        _same(getattr(ref, name), getattr(alt, name))
    # an int16 spool's quotients (fold_block16: windows times 256) give the grid's values
    q = np.clip(np.rint(block / 64), -32768, 32767).astype(np.int16)
    use(None)
    ref16 = codec.analyze(codec._block_segments(q * 256.0, np.arange(F), F), short, rl, rr, st)
    alt16 = codec.analyze(None, short, rl, rr, st, block=q)
    use(mod)
    got16 = codec.analyze(None, short, rl, rr, st, block=q)
    for name in ("X", "XM", "EB", "EBM", "e_lo", "e_blk", "guard", "short"):
        _same(getattr(ref16, name), getattr(got16, name))
        _same(getattr(ref16, name), getattr(alt16, name))


def test_packing_matches_numpy(kernels):
    mod, use = kernels
    rng = np.random.default_rng(5)
    for ch, N in ((2, 2048), (1, 256), (4, 512)):
        F = 9
        nb = N // codec.BAND
        q = np.rint(rng.laplace(0, 3, (F, ch, N)) * rng.uniform(0, 4, (F, ch, 1))).astype(np.int64)
        q[1, 0, 5] = 3_000_000  # escapes, long Exp-Golomb codes
        q[2, -1, -3:] = -70_000
        q[3] = 0  # a silent frame
        cls = rng.integers(0, codec.C, (F, ch, nb))
        cls[q.reshape(F, ch, nb, codec.BAND).any(-1) & (cls == 0)] = 9
        cls[1, 0, 0] = cls[2, -1, -1] = codec.C - 1
        cls[3] = 0
        ms = rng.random(F) < 0.5 if ch == 2 else np.zeros(F, bool)
        short = rng.random(F) < 0.4
        e = np.where(short[:, None], rng.integers(0, codec.EMAX + 1, (F, transform.SHORT)), 0)
        r = transform.overlaps(short, N)
        zmap = np.zeros((F, ch, N), bool)
        zmap[4, 0, 100:300] = zmap[4, -1, :64] = zmap[6, 0, N - 80 :] = True
        qz = codec.Quantized(1.0, q, cls, ms, e, None, None)
        counts = {"d": np.ones((2, codec.DS), np.int64), "c": np.ones((codec.C, 16), np.int64), "raw": 0.0,
                  "cn": np.ones(3 * codec.C, np.int64), "cd": np.zeros(3 * codec.C)}  # fmt: skip
        counts["c"][:, 15] = 5
        skewed = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in counts.items()}
        skewed["c"][:, 0] = skewed["d"][:, codec.C - 1] = 10**6  # symbols of frequency > 2048 of 4096
        for tab, zm in ((codec.tables_of_counts(counts), None), (codec.tables_of_counts(counts), zmap),
                        (codec.tables_of_counts(skewed), None)):  # fmt: skip
            use(None)
            a = codec.pack_frames(qz, tab, short, r, zm)
            use(mod)
            b = codec.pack_frames(qz, tab, short, r, zm)
            assert a == b
            q16 = np.clip(q, -30000, 30000)  # int16 indices with escapes: the packer's int16 version
            use(None)
            a16 = codec.pack_frames(codec.Quantized(1.0, q16, cls, ms, e, None, None), tab, short, r, zm)
            use(mod)
            assert codec.pack_frames(codec.Quantized(1.0, q16.astype(np.int16), cls, ms, e, None, None), tab, short, r, zm) == a16


def test_rans_reciprocals_divide_exactly():
    """The packer's rANS step takes x // freq as (((x * m) >> 32) + x) >> sh without a correction:
    exact for every frequency of a 12-bit table at the states that need it most (just below the
    renormalization bound freq << 20, and remainders freq - 1)."""
    fr = np.arange(1, 4097, dtype=np.int64)
    tab = _jitenc._rans_table(fr[None, :], np.zeros((1, fr.size), np.int64)).reshape(-1, 4)
    assert np.array_equal(tab[:, 0], (fr << 20).astype(np.uint64))
    m, sh = tab[:, 1], tab[:, 2]
    assert int(m.max()) < 2**32 and int(sh.max()) <= 12
    rng = np.random.default_rng(3)
    for x in ((fr << 20) - 1, (fr << 20) - fr, ((fr << 20) - 1) // fr * fr - 1, np.full(fr.size, 1 << 16),
              (1 << 16) + fr - 1, rng.integers(1 << 16, fr << 20)):  # fmt: skip
        xu = x.astype(np.uint64)
        q = (((xu * m) >> np.uint64(32)) + xu) >> sh
        np.testing.assert_array_equal(q.astype(np.int64), x // fr)
    low = m - (m > 0).astype(np.uint64)  # one less (rounded down): short of the multiples of freq
    xu = ((fr << 20) - fr).astype(np.uint64)
    q = (((xu * low) >> np.uint64(32)) + xu) >> sh
    assert not np.array_equal(q.astype(np.int64), (1 << 20) - 1)


def test_zero_map_matches_numpy(kernels):
    mod, use = kernels
    rng = np.random.default_rng(8)
    for ch, n in ((2, 2048), (3, 256), (12, 256)):  # 12: counted row by row
        x = rng.normal(0, 1e4, (5 * n, ch))
        x[rng.random(x.shape) < 0.05] = 0.0  # isolated zeros
        x[10:200, 0] = 0.0
        x[n - 64 : n + 64, -1] = -0.0  # runs across a frame boundary: 64 each side
        x[2 * n + 7 : 2 * n + 70, 0] = 0.0  # 63: too short
        x[4 * n :, :] = 0.0
        use(None)
        a = codec.zero_map(x, n)
        use(mod)
        b = codec.zero_map(x, n)
        np.testing.assert_array_equal(a, b)
        assert a.any()
        x16 = np.clip(np.rint(x / 64), -(2**15), 2**15 - 1).astype(np.int16)  # an int16 spool's samples
        g16 = 256.0 * x16
        for m in (None, mod):
            use(m)
            assert codec.zero_map(x16, n).tobytes() == codec.zero_map(g16, n).tobytes()


def test_spool_zero_rows_are_the_zeros_of_its_samples(tmp_path):
    """The silence maps read an int16 spool's samples as they are: zero where read() is, inside
    and outside the stream."""
    rng = np.random.default_rng(14)
    x = 256.0 * rng.integers(-3, 3, (5000, 2)).astype(np.float64)
    for g in (x, x + 1.0 * (np.arange(5000) % 7 == 0)[:, None]):  # int16, then int32 spool
        with sv2.Encoder(2, tmpdir=str(tmp_path), rate=3.0) as enc:
            enc.push(g)
            enc._src.seal()
            for a, b in ((-100, 300), (0, 5000), (4900, 5300), (5100, 5200)):
                z, r = enc._src.zero_rows(a, b), enc._src.read(a, b)
                assert z.shape == r.shape and np.array_equal(z == 0, r == 0)
                assert z.dtype == (np.int16 if enc._src.short else np.float64)


def test_spool_conversion_matches_numpy(kernels):
    """The spool's int32 samples and its integer check: the compiled pass against astype + array_equal."""
    mod, use = kernels
    rng = np.random.default_rng(11)
    g = np.rint(rng.normal(0, 1e6, (2, 3000)))
    g[0, :4] = [-(2.0**31), 2.0**31 - 1, -0.0, 0.0]
    for bad in (0.5, 2.0**31, -(2.0**31) - 1, np.nan, np.inf, -np.inf, 1e300, -2.5):
        for k in range(2):
            x = g.copy()
            x[k, 1234] = bad
            with np.errstate(invalid="ignore"):
                ref = x.T.astype(np.int32, order="C")
            ok_ref = np.array_equal(ref, x.T)
            assert not ok_ref
            q = np.empty((3000, 2), np.int32)
            assert not mod.to_int32(x, q)
            for m in (None, mod):
                use(m)
                with sv2.Encoder(2, rate=3.0) as enc, pytest.raises(ValueError, match="integers"):
                    enc.push(x.T)
    q = np.empty((3000, 2), np.int32)
    assert mod.to_int32(g, q)
    np.testing.assert_array_equal(q, g.T.astype(np.int32))
    for x in (g.T, np.ascontiguousarray(g.T), g[:1].T):  # the CLI's transposed view, C order, mono
        spooled = []
        for m in (None, mod):
            use(m)
            enc = sv2.Encoder(x.shape[1], rate=3.0)
            enc.push(x)
            enc._src.seal()
            spooled.append(enc._src.read(0, enc.n))
            enc.close()
        np.testing.assert_array_equal(spooled[0], spooled[1])
        np.testing.assert_array_equal(spooled[0], x)


def test_spool_int16_conversion_matches_numpy(kernels):
    """A 16-bit source's grid spooled as int16 quotients: the compiled pass (stopping at the first
    sample that is not one) against the NumPy reference, on good grids and on each kind of bad one."""
    mod, use = kernels
    rng = np.random.default_rng(12)
    g = 256.0 * rng.integers(-(2**15), 2**15, (2, 3000)).astype(np.float64)
    g[0, :4] = [-(2.0**23), 256.0 * (2**15 - 1), -0.0, 0.0]
    for m in (None, mod):
        use(m)
        for x in (g.T, np.ascontiguousarray(g.T), g[:1].T):  # the CLI's transposed view, C order, mono
            q = sv2._as_int16(x)
            assert q is not None and q.dtype == np.int16 and q.flags.c_contiguous
            np.testing.assert_array_equal(q, x / 256)
        for bad in (1.0, 128.0, 255.0, 2.0**23, -(2.0**23) - 256, 0.5, np.nan, np.inf, -np.inf, 1e300):
            for k in range(2):
                x = g.copy()
                x[k, 2345] = bad
                assert sv2._as_int16(x.T) is None, (m, bad)


def test_spool_is_int16_for_16_bit_grids_and_widens_to_int32(kernels, tmp_path):
    """16-bit grids spool at 2 bytes a sample; a later sample that is not one widens the file to
    int32; the samples read back (and so the bytes coded) are the same either way."""
    mod, use = kernels
    rng = np.random.default_rng(13)
    x = 256.0 * np.rint(rng.normal(0, 3000, (20000, 2)))
    y = x.copy()
    y[15000:, 1] += 1.0  # from here on, not a 16-bit grid
    for m in (None, mod):
        use(m)
        for sig, wide in ((x, False), (y, True)):
            enc = sv2.Encoder(2, tmpdir=str(tmp_path), rate=3.0)
            enc._src.WIDEN_ROWS = 999  # widened in several pieces
            for lo in range(0, sig.shape[0], 4000):
                enc.push(sig[lo : lo + 4000])
            enc._src.seal()
            assert enc._src.short is (not wide)
            assert os.fstat(enc._src._f.fileno()).st_size == sig.size * (4 if wide else 2)
            back = enc._src.read(-5, sig.shape[0] + 5)
            np.testing.assert_array_equal(back[5:-5], sig)
            assert not back[:5].any() and not back[-5:].any()
            enc.close()
    use(mod)
    assert sv2.encode(y, rate=3.0) == _streamed_bytes(y, 3000)


def _streamed_bytes(x: np.ndarray, k: int):
    with sv2.Encoder(x.shape[1], rate=3.0) as enc:
        for lo in range(0, x.shape[0], k):
            enc.push(x[lo : lo + k])
        params, frames = enc.finish()
        return params, list(frames)


def _signal(ch: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    x = np.stack([np.sin(2 * np.pi * (220 + 110 * c) * t) * 2e6 for c in range(ch)], axis=1)
    x += rng.normal(0, 2e4, (n, ch))
    for at in range(SR // 5, n, SR // 3):  # attacks: short blocks, the pre-echo guard
        x[at : at + 600] += rng.normal(0, 3e6, (min(600, n - at), ch))
    x[SR // 2 : SR // 2 + 5000] = 0.0  # digital silence
    x[100:140, 0] += 2**26  # escapes
    return np.rint(x)


@pytest.mark.parametrize("ch,kw", [(2, dict(rate=3.0)), (1, dict(rate=2.0, hop=256)), (2, dict(quality=42.0)),
                                   (5, dict(rate=2.5, hop=512)), (2, dict(rate=4.0, rotate=True, seed=2, hop=1024)),
                                   (2, dict(rate=3.0, stereo="ms", hop=2048, rho=0.4)),
                                   (2, dict(rate=3.0, tune="perceptual")),
                                   (1, dict(rate=2.0, hop=256, tune="perceptual"))])  # fmt: skip
def test_whole_streams_match_numpy(kernels, ch, kw, monkeypatch):
    mod, use = kernels
    monkeypatch.setattr(sv2, "SUBSET_FRAMES", 16)  # short signals through every search path
    monkeypatch.setattr(sv2, "CHUNK", 8)
    x = _signal(ch, SR + 12345, ch)
    kw = dict(kw, sample_rate=SR, frame_overhead=8)
    use(None)
    a = sv2.encode(x, **kw)
    use(mod)
    b = sv2.encode(x, **kw)
    assert a == b
    with sv2.Encoder(ch, **kw) as enc:  # the streaming encoder (kept int16 indices, spools)
        enc.push(x[:5000])
        enc.push(x[5000:])
        p, fr = enc.finish()
        assert (p, list(fr)) == a


@pytest.mark.parametrize("order", ["C", "F"])
def test_energy_slice_matches_numpy(kernels, order):
    """The attack detector's sub-block energies (compiled, einsum's summation order over each
    sub-block's (sample, channel) run) against codec.energy_slice_numpy, to the last bit: any
    layout (the CLI hands in a transposed view), channel counts, sub-block sizes (odd runs: the
    two-lane tail), loud and quiet stretches."""
    mod, use = kernels
    rng = np.random.default_rng(21)
    for ch, m, n in ((1, 32, 32 * 9), (2, 128, 128 * 7), (3, 64, 64 * 5), (5, 3, 3 * 11), (1, 3, 12), (2, 64, 0),
                     (2, 4, 4 * 5), (2, 12, 12 * 3), (2, 6, 6 * 4)):  # stereo: the unbuffered loop (m % 4 == 0), else the buffered one
        x = np.rint(rng.standard_normal((n, ch)) * np.exp(rng.uniform(0, 22, (n, 1))))
        x = np.asfortranarray(x) if order == "F" else x
        prev = np.rint(rng.standard_normal((1, ch)) * 1e6)
        out = np.empty(n // m)
        mod.energy_slice(x, prev, m, out)
        ref = codec.energy_slice_numpy(x, prev, m)
        assert out.tobytes() == ref.tobytes(), (ch, m)
        for k in (None, mod):
            use(k)
            assert codec.energy_slice(x, prev, m).tobytes() == ref.tobytes()
        # an int16 spool's quotients (energy_slice16: read as 256·q) give the grid's values
        q = rng.integers(-32768, 32768, (n, ch)).astype(np.int16)
        q = np.asfortranarray(q) if order == "F" else q
        q0 = rng.integers(-32768, 32768, (1, ch)).astype(np.int16)
        ref16 = codec.energy_slice_numpy(q * 256.0, q0 * 256.0, m)
        out = np.empty(n // m)
        mod.energy_slice16(q, q0, m, out)
        assert out.tobytes() == ref16.tobytes(), (ch, m)
        for k in (None, mod):
            use(k)
            assert codec.energy_slice(q, q0, m).tobytes() == ref16.tobytes()
    assert codec._energy_order_ok(mod)


def test_the_energy_order_check_can_fail():
    class Wrong:
        @staticmethod
        def energy_slice(blk, prev, m, out):
            out[...] = np.sum(np.diff(blk, axis=0, prepend=prev).reshape(-1, m * blk.shape[1]) ** 2, axis=1) / m  # pairwise

    assert codec._energy_order_ok(_jitenc)
    assert not codec._energy_order_ok(Wrong)


def test_the_einsum_order_check_can_fail():
    class Wrong:
        @staticmethod
        def band_energies(X, out):
            out[...] = np.sum(X.reshape(X.shape[0], -1, codec.BAND) ** 2, axis=-1)  # pairwise: not einsum's order

    assert codec._einsum_order_ok(_jitenc)
    assert not codec._einsum_order_ok(Wrong)


def test_dct4_without_scipy_fft_is_scipys():
    import scipy.fft

    rng = np.random.default_rng(2)
    for shape in ((3, 2, 2048), (4, 1, 8, 32), (1, 256)):
        x = rng.normal(0, 1e5, shape)
        np.testing.assert_array_equal(codec._dct4(x.copy()), scipy.fft.dct(x, type=4, norm="ortho", axis=-1))


@pytest.mark.long
def test_ahead_of_time_build_in_a_fresh_cache(tmp_path):
    """Builds the ahead-of-time module into an empty cache (~15 s of CPU) and encodes with it in
    a process that never imports numba: the bytes of the NumPy encoder."""
    env = dict(os.environ, TQA_CACHE_DIR=str(tmp_path))
    subprocess.run([sys.executable, "-m", "tqa.sv2._aot"], env=env, check=True, timeout=900)
    code = ("import sys, hashlib, numpy as np; from tqa import sv2; from tqa.sv2 import codec; "
            "x = np.rint(np.random.default_rng(1).normal(0, 1e6, (30000, 2))); p, f = sv2.encode(x, rate=3.0); "
            "m = codec._compiled_enc(); print(type(m).__name__, m.__name__ if m else None, 'numba' in sys.modules, "
            "hashlib.sha256(p + b''.join(f)).hexdigest())")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout.split()
    ref = subprocess.run([sys.executable, "-c", code], env=dict(env, TQA_SV2_JIT="0"), check=True, capture_output=True,
                         text=True).stdout.split()  # fmt: skip
    assert out[1].startswith("_tqa_sv2enc_") and out[2] == "False"
    assert out[3] == ref[3]


def test_a_failed_build_is_recorded_and_not_retried_on_its_own(tmp_path, monkeypatch):
    """A build that fails (say, no C compiler for pycc) leaves a marker: later processes use the
    JIT without starting another ~12 s build each; ``python -m tqa.sv2._aot`` retries."""
    monkeypatch.setenv("TQA_CACHE_DIR", str(tmp_path))
    name = _aot.module_name()
    path = _aot._path(name)

    def broken(n, p):
        raise RuntimeError("no compiler")

    monkeypatch.setattr(_aot, "build", broken)
    with pytest.raises(RuntimeError):
        _aot._locked_build(name, path)
    assert "no compiler" in path.with_suffix(".failed").read_text() and not path.with_suffix(".lock").exists()
    started = []
    monkeypatch.setattr(_aot, "_build_in_child", lambda *a, **k: started.append(a))
    monkeypatch.setattr(_aot, "_loaded", [])
    assert _aot.load(build="background") is None and started == []
    monkeypatch.setattr(_aot, "build", lambda n, p: p.write_bytes(b""))  # a retry that succeeds clears it
    _aot._locked_build(name, path)
    assert not path.with_suffix(".failed").exists()


def test_the_foreground_build_makes_the_cache_folder(tmp_path, monkeypatch):
    """``python -m tqa.sv2._aot`` on a new machine: the cache folder does not exist yet (it once
    failed there with FileNotFoundError on the lock file)."""
    monkeypatch.setenv("TQA_CACHE_DIR", str(tmp_path / "new" / "tqa"))
    name = _aot.module_name()
    path = _aot._path(name)
    built = []
    monkeypatch.setattr(_aot, "build", lambda n, p: built.append(p) or p.write_bytes(b""))
    _aot._locked_build(name, path)
    assert built == [path] and path.exists() and not path.with_suffix(".lock").exists()


def test_numba_version_read_without_importlib_metadata(tmp_path, monkeypatch):
    """The module's name takes numba's version from its generated _version.py (importlib.metadata's
    import costs a one-shot process 30-80 ms): the metadata's version; where that file is not the
    generated one (a source checkout), the metadata's look-up."""
    from importlib import metadata
    import importlib.util

    assert _aot._numba_version() == metadata.version("numba")
    fake = tmp_path / "numba"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "_version.py").write_text("def get_versions():\n    return {'version': '9.9'}\n")
    spec = importlib.util.spec_from_file_location("numba", fake / "__init__.py")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: spec if name == "numba" else None)
    monkeypatch.setattr(_aot, "_version", lambda dist: "from-metadata")
    assert _aot._numba_version() == "from-metadata"
    (fake / "_version.py").write_text('version_json = """\n{\n "version": "9.9.1"\n}\n"""\n')
    assert _aot._numba_version() == "9.9.1"


def test_one_shot_processes_skip_the_costly_imports(tmp_path):
    """Start-up: with the ahead-of-time loops, an encode and a decode import neither
    importlib.metadata (the module's name), numpy.random (the order checks' inputs) nor
    scipy.fft (the DCT-IV, short and long frames alike)."""
    if _aot.load(build="no") is None:
        pytest.skip("ahead-of-time loops not built")
    import tqa

    path = tmp_path / "a.tqa"
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.01, (3 * SR, 2))
    x[SR : SR + 300] += rng.normal(0, 0.5, (300, 2))  # an attack: short frames among long ones
    path.write_bytes(tqa.encode(x, SR, profile="spectral2", rate=3.0))
    mods = "('importlib.metadata', 'numpy.random', 'scipy.fft')"
    for run in ("tqa.decode(sys.argv[1])", "tqa.encode(np.zeros((9000, 2)), 44100, profile='spectral2', rate=3.0)"):
        code = f"import sys, numpy as np, tqa; {run}; print([m for m in {mods} if m in sys.modules])"
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "[]", run


def test_perceptual_lanes_come_from_the_encoders_module(kernels):
    """Perceptual frames are coded by the encoder's own module where it has the lanes (the
    ahead-of-time one: a one-shot encode imports no numba), else by the JIT's; NumPy without
    either.  (test_whole_streams_match_numpy checks their bytes.)"""
    mod, use = kernels
    use(mod)
    want = mod.encode_lanes if hasattr(mod, "encode_lanes") else _jit.encode_lanes
    assert codec._lanes_encoder() is want
    use(None)
    assert codec._lanes_encoder() is None
