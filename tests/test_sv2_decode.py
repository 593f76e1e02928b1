"""The sv2 decoder's compiled path (tqa.sv2._jit.unpack_frames, tqa.sv2.transform.synthesize;
JIT, and the same built ahead of time by tqa.sv2._aot where built) against its NumPy reference
(codec._unpack_frames_numpy, transform.inverse): the same values, bit for bit, on streams with
short blocks, escapes, silence runs, M/S, rotation and many channels, decoded whole, by ranges
with lost frames, and through the container; the same frames named on damage."""

from __future__ import annotations

import numpy as np
import pytest

import tqa
from tqa import sv2
from tqa.sv2 import _aot, _jit, codec, transform

SR = 44100
pytestmark = pytest.mark.skipif(not _jit.AVAILABLE, reason="numba not installed")


def _decoders():
    aot = _aot.load(build="no") if _jit.AVAILABLE else None
    skip = pytest.mark.skipif(aot is None or not hasattr(aot, "unpack_frames"), reason="ahead-of-time loops not built")
    return [pytest.param(_jit, id="jit"), pytest.param(aot, id="aot", marks=skip)]


@pytest.fixture(params=_decoders())
def compiled(request, monkeypatch):
    """The decoder's compiled loops for this test: the JIT ones or those built ahead of time."""
    monkeypatch.setattr(codec, "_DEC", [request.param])
    return request.param


def _signal(n: int, ch: int, seed: int) -> np.ndarray:
    """Tones, noise bursts with sharp attacks, a loud click (escapes), digital silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    x = np.stack([0.2 * np.sin(2 * np.pi * 330 * (c + 1) * t + 2 * np.sin(2 * np.pi * 4 * t)) for c in range(ch)], 1)
    x += 0.002 * rng.normal(size=x.shape)
    for hit in rng.integers(n // 8, n - n // 8, 3):
        x[hit:] += 0.4 * rng.normal(size=(n - hit, ch)) * np.exp(-np.arange(n - hit) / 900)[:, None]
    x[n // 3 : n // 3 + 40] += 0.9  # escapes at fine steps
    x[n // 2 : n // 2 + 6000] = 0.0  # digital silence (a silence map)
    if ch > 1:
        x[:, -1] *= 0.3 + 0.7 * (seed % 2)
    return np.rint(np.clip(x, -1, 1) * 2**23)


CASES = [
    dict(ch=2, hop=1024, rate=3.0, stereo="auto"),
    dict(ch=2, hop=2048, rate=6.0, stereo="ms"),
    dict(ch=2, hop=256, rate=2.0, stereo="lr", rotate=True),
    dict(ch=2, hop=512, quality=35.0, rotate=True, stereo="ms"),
    dict(ch=1, hop=1024, rate=8.0),
    dict(ch=3, hop=512, rate=4.0),
]


@pytest.fixture(scope="module", params=range(len(CASES)))
def stream(request):
    kw = dict(CASES[request.param])
    ch = kw.pop("ch")
    x = _signal(int(0.7 * SR) + 123 * request.param, ch, request.param)
    params, frames = sv2.encode(x, sample_rate=SR, seed=request.param + 1, **kw)
    return params, frames, CASES[request.param]


def _both(fn, monkeypatch):
    """fn() on the compiled path, then on the NumPy path."""
    monkeypatch.setattr(_jit, "AVAILABLE", True)
    a = fn()
    monkeypatch.setattr(_jit, "AVAILABLE", False)
    b = fn()
    monkeypatch.setattr(_jit, "AVAILABLE", True)
    return a, b


def test_the_streams_exercise_every_feature(stream):
    params, frames, case = stream
    p = codec.parse_params(params)
    heads = np.array([b[0] for b in frames])
    assert (heads & 1).any() and (heads & 16).any()  # short frames, silence maps
    assert bool(np.all(heads & 8)) == (case.get("stereo") == "ms") and p.rotate == case.get("rotate", False)
    X, *_ = codec._unpack_frames_numpy(p, frames, np.arange(len(frames)))
    assert np.abs(X).max() / p.step > 14  # escapes


def test_unpack_frames_equals_the_numpy_reference(compiled, stream):
    params, frames, _ = stream
    p = codec.parse_params(params)
    idx = np.arange(len(frames))
    ref = codec._unpack_frames_numpy(p, frames, idx)
    assert codec._compiled_decode(p) is compiled
    got = codec.unpack_frames(p, frames, idx)
    for a, b in zip(got, ref):
        assert a.shape == b.shape and a.tobytes() == np.ascontiguousarray(b, a.dtype).tobytes()


def test_whole_decode_equals_on_both_paths(compiled, stream, monkeypatch):
    a, b = _both(lambda: sv2.decode(*stream[:2]), monkeypatch)
    assert a.tobytes() == b.tobytes()


def test_ranges_with_lost_frames_equal_on_both_paths(compiled, stream, monkeypatch):
    params, frames, _ = stream
    rng = np.random.default_rng(len(frames))
    for _ in range(6):
        lo = int(rng.integers(0, len(frames) - 2))
        hi = int(rng.integers(lo + 1, min(len(frames), lo + 40) + 1))
        part = [None if rng.random() < 0.2 else b for b in frames[lo:hi]]
        (ya, sa), (yb, sb) = _both(lambda: sv2.decode_frames(params, part, lo), monkeypatch)
        assert sa == sb and ya.tobytes() == np.ascontiguousarray(yb).tobytes()


def test_container_decode_equals_on_both_paths(compiled, monkeypatch):
    x = _signal(int(1.3 * SR), 2, 7) / 2**23
    data = tqa.encode(x, SR, profile="spectral2", rate=3.0, hop=512)
    a, b = _both(lambda: tqa.decode(data, dtype="float64")[0], monkeypatch)
    assert a.tobytes() == b.tobytes()
    (ra, _), (rb, _) = _both(lambda: tqa.decode(data, start=3000, frames=20000, dtype="int16"), monkeypatch)
    assert ra.tobytes() == rb.tobytes() and np.array_equal(ra, tqa.decode(data, dtype="int16")[0][3000:23000])


def test_synthesize_equals_inverse_on_random_frames(compiled):
    rng = np.random.default_rng(3)
    for n in (256, 2048):
        for _ in range(4):
            F = int(rng.integers(1, 12))
            short = rng.random(F) < 0.4
            r = transform.overlaps(short, n, bool(rng.integers(2)), bool(rng.integers(2)))
            r[1:-1][~(short[:-1] | short[1:])] = rng.choice([n // 2, n // 16], int(np.sum(~(short[:-1] | short[1:]))))
            coef = rng.normal(size=(int(rng.integers(1, 4)), F, n)) * 10.0 ** rng.uniform(0, 6)
            coef[:, :, n // 2 :] *= rng.random() < 0.5  # exact zeros (signs of zero)
            ref = np.rint(transform.inverse(coef, short, r))
            got = transform.synthesize(coef.copy(), short, r, compiled)
            assert got is not None and got.tobytes() == ref.tobytes()


def test_synthesize_never_takes_scipy_fft_path(compiled, monkeypatch):
    """Frames long and short in one call: every DCT-IV goes straight to pocketfft (a one-shot
    decode that reached tqa.mdct._dct4 imported scipy.fft, ~0.2 s of CPU), same values."""
    if codec._pocketfft() is None:
        pytest.skip("scipy's pocketfft extension not found")
    rng = np.random.default_rng(4)
    short = np.array([False, True, False, False, True, True, False])
    r = transform.overlaps(short, 1024)
    coef = rng.normal(size=(2, short.size, 1024)) * 1e4
    ref = np.rint(transform.inverse(coef, short, r))

    def refuse(x):
        raise AssertionError(f"scipy.fft's DCT for an array of shape {x.shape}")

    monkeypatch.setattr(transform.mdct, "_dct4", refuse)
    got = transform.synthesize(coef.copy(), short, r, compiled)
    assert got is not None and got.tobytes() == ref.tobytes()


def test_overlaps_no_encoder_writes_fall_back_to_the_reference():
    short = np.array([False, True, False])
    r = np.array([0, 1024, 1024, 0])  # n/2 around a short frame
    assert transform.synthesize(np.zeros((1, 3, 2048)), short, r, _jit) is None


@pytest.mark.parametrize("seed", range(3))
def test_damaged_frames_named_alike_on_both_paths(compiled, stream, monkeypatch, seed):
    params, frames, _ = stream
    rng = np.random.default_rng(seed)
    for trial in range(25):
        bad = list(frames)
        for i in sorted(rng.choice(len(frames), 1 + trial % 2, replace=False)):
            b = bytearray(bad[i])
            kind = (trial + seed) % 4
            if kind == 0:
                b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
            elif kind == 1:
                b = b[: int(rng.integers(len(b)))]
            elif kind == 2:
                b = bytearray(rng.integers(0, 256, int(rng.integers(1, 200))).astype(np.uint8).tobytes())
            else:
                b += bytes(int(rng.integers(1, 9)))
            bad[i] = bytes(b)

        def run():
            try:
                return sv2.decode(params, bad).tobytes()
            except sv2.FrameError as exc:
                return exc.frame

        a, b = _both(run, monkeypatch)
        assert a == b or (isinstance(a, int) and isinstance(b, int))  # both refuse (frames: see below)
        if isinstance(a, int) and trial % 2 == 0:  # one damaged frame: both name it
            assert a == b


def test_decode_chunk_frames_bounds():
    assert sv2.decode_chunk_frames(2, 2048) == 128
    assert sv2.decode_chunk_frames(1, 256) == 256
    assert sv2.decode_chunk_frames(255, 2048) == 2


def test_numba_is_loaded_for_long_streams_only(tmp_path):
    """A one-shot process decoding a short stream does not pay numba's start-up (~0.7 s of CPU):
    without the ahead-of-time loops (TQA_SV2_AOT=0) it decodes through NumPy unless TQA_SV2_JIT=1;
    with them (where built) through those, whatever the stream, and never imports numba."""
    import os
    import subprocess
    import sys

    data = tqa.encode(_signal(SR // 2, 2, 1) / 2**23, SR, profile="spectral2", rate=3.0)
    path = tmp_path / "a.tqa"
    path.write_bytes(data)
    code = ("import sys, tqa; from tqa.sv2 import codec; y, _ = tqa.decode(sys.argv[1]); "
            "print('numba' in sys.modules, y.shape[0], str(getattr(codec._DEC[0], '__name__', None))[:12])")
    env = {k: v for k, v in os.environ.items() if k not in ("TQA_SV2_JIT", "TQA_SV2_AOT")}
    cases = [({"TQA_SV2_AOT": "0"}, "False None"), ({"TQA_SV2_AOT": "0", "TQA_SV2_JIT": "1"}, "True None")]
    aot = _aot.load(build="no")
    if aot is not None and hasattr(aot, "unpack_frames"):
        cases += [({}, "False _tqa_sv2enc_"), ({"TQA_SV2_JIT": "1"}, "False _tqa_sv2enc_")]
    for extra, want in cases:
        out = subprocess.run([sys.executable, "-c", code, str(path)], env={**env, **extra}, capture_output=True,
                             text=True, check=True)  # fmt: skip
        loaded, n, name = out.stdout.split()
        assert (loaded, n, name) == (want.split()[0], str(SR // 2), want.split()[1]), extra


@pytest.mark.parametrize("frames_per_call", [14, 4])
def test_grids_take_the_rest_from_a_call_that_reached_the_last_frame(frames_per_call):
    """A decode step whose frames run through the stream's last one yields every sample to the end
    (a 30000-sample chunk of 15 frames at 14 frames a call: one decode, not a second of frames
    13-14); the values are those of smaller steps and of read()."""
    x = _signal(30000, 4, 3) / 2**23
    s = tqa.encode(x, SR, profile="spectral2", rate=3.0, hop=2048)
    dec = tqa.Decoder(s)
    calls = []
    orig = dec._dec.decode
    dec._dec.decode = lambda first, payloads: calls.append((first, len(payloads))) or orig(first, payloads)
    budget = frames_per_call * 8 * 4 * 2048 // 2  # tqa.sv2.decode_chunk_frames: frames_per_call frames a call
    assert sv2.decode_chunk_frames(4, 2048, budget) == frames_per_call
    f = np.array([1.0, 2.0, 0.5, 4.0])
    out = np.empty((30000, 4))
    dec._read_scaled(0, 30000, f, out, budget=budget)
    assert calls[-1][0] + calls[-1][1] == 15 and sum(1 for c in calls if c[0] + c[1] == 15) == 1
    if frames_per_call == 14:
        assert calls == [(0, 15)]
    ref = tqa.Decoder(s).read(dtype="float64", always_2d=True) * f + 0.0
    np.testing.assert_array_equal(out, ref)
    part = np.empty((30000 - 1234, 4))
    tqa.Decoder(s)._read_scaled(1234, 30000, f, part, budget=budget)
    np.testing.assert_array_equal(part, ref[1234:])


def test_coarse_lut_repeat_matches_the_sorted_search():
    """codec._coarse_lut's fast path (symbols repeated by frequency) gives the sorted search's
    symbols, zero-frequency symbols (absent codes) included; tables not summing to PROB take the search."""
    from tqa.sv2 import rans

    rng = np.random.default_rng(5)
    codes = rng.integers(0, 31, (33, 63))
    codes[rng.random(codes.shape) < 0.4] = rans.ABSENT
    codes[3] = rans.ABSENT
    codes[3, 7] = 0  # a single-symbol table
    f = rans.freqs_from_codes(codes)
    c = rans.cum_of(f)

    def search(f, c):
        T, S = f.shape
        off = (np.arange(T) * 2 * rans.PROB)[:, None]
        slots = np.arange(0, rans.PROB, 16)[None, :] + off
        return (np.searchsorted((c + off).ravel(), slots.ravel(), side="right").reshape(T, -1) - 1
                - np.arange(T)[:, None] * S).astype(np.uint8)  # fmt: skip

    got = codec._coarse_lut(f, c)
    assert got.dtype == np.uint8 and got.shape == (33, rans.PROB // 16) and got.flags.c_contiguous  # (the kernels take u1[:, ::1])
    np.testing.assert_array_equal(got, search(f, c))
    assert np.all(got[3] == 7)
    g = f.copy()
    g[0, 0] += 16  # not a table freqs_from_codes makes: the sorted search
    np.testing.assert_array_equal(codec._coarse_lut(g, rans.cum_of(g)), search(g, rans.cum_of(g)))


def test_ahead_of_time_loops_release_the_gil():
    """The loops built ahead of time let other Python threads run while they work, as the JIT
    ones (nogil=True) do: zarr decodes a crop's chunks in threads.  A call of ~0.3-1 s (zero-stride
    arrays: no memory) runs in a thread; the main thread, asleep 50 ms after it started, must wake
    before it returns (a loop holding the GIL keeps it asleep to the end)."""
    import threading
    import time

    aot = _aot.load(build="no")
    if aot is None or not hasattr(aot, "scaled_int16"):
        pytest.skip("ahead-of-time loops not built")
    ch, m = 64, 4_000_000
    g = np.broadcast_to(np.float64(3.0), (ch, m))
    out = np.lib.stride_tricks.as_strided(np.empty((1, ch), np.int16), shape=(m, ch), strides=(0, 2))
    started, times = threading.Event(), {}

    def work():
        started.set()
        aot.scaled_int16(g, np.ones(ch), np.zeros(ch), out)
        times["end"] = time.perf_counter()

    t = threading.Thread(target=work)
    t.start()
    started.wait()
    time.sleep(0.05)
    woke = time.perf_counter()
    t.join()
    assert np.all(out[0] == 3)
    assert woke < times["end"], "the main thread waited for the compiled loop: it held the GIL"
