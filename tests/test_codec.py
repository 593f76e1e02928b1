"""The codec through the public API: contract, quality, hard blocks, random access."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tqa
from tqa.blockcodec import Settings
from tqa.metrics import sqnr_db
from tqa.signals import adversarial, hadamard_blocks

from conftest import CountingIO, block_sqnr


def _as_dtype(x, dtype):
    if dtype == "int16":
        return np.clip(np.rint(x * 32767), -32768, 32767).astype(np.int16)
    if dtype == "int32":
        return np.clip(np.rint(x * 2.0**31), -(2**31), 2**31 - 1).astype(np.int32)
    return x.astype(dtype)


@settings(max_examples=40, deadline=None)
@given(
    n=st.one_of(st.sampled_from([0, 1, 63, 64, 65, 511, 512, 513, 4095, 4096, 4097]), st.integers(0, 9000)),
    channels=st.integers(1, 4),
    dtype=st.sampled_from(["int16", "int32", "float32", "float64"]),
    block_size=st.sampled_from([64, 512, 2048]),
    mono_1d=st.booleans(),
    rate=st.sampled_from([8000, 44100, 384000]),
)
def test_round_trip_shape_dtype_rate(n, channels, dtype, block_size, mono_1d, rate):
    rng = np.random.default_rng(n)
    x = _as_dtype(rng.uniform(-0.5, 0.5, (n, channels)), dtype)
    if channels == 1 and mono_1d:
        x = x[:, 0]
    data = tqa.encode(x, rate, block_size=block_size)
    y, sr = tqa.decode(data, dtype=dtype)
    assert sr == rate and y.dtype == np.dtype(dtype)
    assert y.shape == ((n,) if channels == 1 else (n, channels))
    inf = tqa.info(data)
    assert (inf["frames"], inf["channels"], inf["source_format"]) == (n, channels, dtype)
    if n >= 64:
        assert sqnr_db(x.reshape(y.shape), y) > 30


@pytest.mark.parametrize("residual", ["none", "sign", "qjl"])
@pytest.mark.parametrize("bits", range(1, 9))
def test_sqnr_on_gaussian_noise_matches_theory(bits, residual):
    x = np.random.default_rng(bits).normal(0, 0.1, (65536, 1))
    y, _ = tqa.decode(tqa.encode(x, 8000, bits=bits, residual=residual), dtype="float64")
    theory = Settings(512, bits, residual).nominal_sqnr_db
    assert sqnr_db(x[:, 0], y) == pytest.approx(theory, abs=0.5)


@pytest.mark.parametrize("rows", [64, 256])
def test_qjl_rows_theory(rows):
    x = np.random.default_rng(rows).normal(0, 0.1, 65536)
    y, _ = tqa.decode(tqa.encode(x, 8000, residual="qjl", qjl_rows=rows), dtype="float64")
    assert sqnr_db(x, y) == pytest.approx(Settings(512, 6, "qjl", 0, rows).nominal_sqnr_db, abs=0.5)


def test_qjl_beats_no_residual_and_sign_beats_qjl():
    x = np.random.default_rng(0).normal(0, 0.1, 65536)
    q = {r: sqnr_db(x, tqa.decode(tqa.encode(x, 8000, residual=r), dtype="float64")[0]) for r in ("none", "sign", "qjl")}
    assert q["none"] + 4 < q["qjl"] < q["sign"]


def test_silence_is_exact_and_silent_blocks_stay_exact():
    assert not tqa.decode(tqa.encode(np.zeros((5000, 2)), 8000, profile="time"))[0].any()
    x = np.random.default_rng(1).normal(0, 0.3, 4096)
    x[1024:2048] = 0.0  # two whole silent blocks inside a loud signal
    y = tqa.decode(tqa.encode(x, 8000, profile="time"))[0]
    assert np.array_equal(y[1024:2048], np.zeros(1024, np.float32))


@pytest.mark.parametrize("residual", ["none", "sign", "qjl"])
@pytest.mark.parametrize("n", [64, 512])
def test_hadamard_rows_do_not_collapse(n, residual):
    """Every block D·h_k (all k) stays within 3 dB of the nominal SQNR."""
    x = hadamard_blocks(n)
    for bits in (1, 2, 4, 6, 8):
        y, _ = tqa.decode(tqa.encode(x, 8000, bits=bits, residual=residual, block_size=n), dtype="float64")
        per_block, _ = block_sqnr(x, y, n)
        nominal = Settings(n, bits, residual).nominal_sqnr_db
        assert per_block.min() > nominal - 3, (bits, per_block.min(), nominal)


def test_seed_failure_would_be_caught():
    """Without the hard-block modes the same check fails: the test can fail."""
    from tqa import blockcodec

    x = hadamard_blocks(512)
    old = blockcodec.HARD_BLOCK_DB
    try:
        blockcodec.HARD_BLOCK_DB = 300.0  # never retry
        y, _ = tqa.decode(tqa.encode(x, 8000, engine="numpy", profile="time"), dtype="float64")
    finally:
        blockcodec.HARD_BLOCK_DB = old
    assert block_sqnr(x, y, 512)[0].min() < 10


@pytest.mark.parametrize("residual", ["none", "sign", "qjl"])
@pytest.mark.parametrize("bits", [1, 3, 6, 8])
def test_adversarial_blocks_within_3db(bits, residual):
    nominal = Settings(512, bits, residual).nominal_sqnr_db
    for name, x in adversarial(512).items():
        y, _ = tqa.decode(tqa.encode(x, 8000, bits=bits, residual=residual), dtype="float64")
        assert y.shape == x.shape
        per_block, silent_err = block_sqnr(x, y, 512)
        assert not silent_err.any(), name
        if per_block.size:
            assert per_block.min() > nominal - 3, (name, per_block.min(), nominal)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf_named_by_index_and_channel(bad):
    x = np.zeros((100, 3), np.float32)
    x[42, 2] = bad
    with pytest.raises(ValueError, match=r"sample 42, channel 2"):
        tqa.encode(x, 8000, profile="time")


def test_headroom():
    x = np.random.default_rng(0).normal(0, 3.0, 4096).clip(-16, 16)
    y, _ = tqa.decode(tqa.encode(x, 8000, profile="time"), dtype="float64")
    assert sqnr_db(x, y) > 35
    with pytest.raises(ValueError, match="sample 7, channel 0.*16"):
        tqa.encode(np.r_[np.zeros(7), 16.5], 8000, profile="time")


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(bits=9), "bits"),
        (dict(bits=0), "bits"),
        (dict(block_size=500), "block_size"),
        (dict(residual="qj"), "residual"),
        (dict(seed=-1), "seed"),
        (dict(residual="qjl", qjl_rows=12), "qjl_rows"),
        (dict(qjl_rows=64), "qjl_rows"),
    ],
)
def test_bad_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        tqa.encode(np.zeros(10), 8000, profile="time", **kw)


@pytest.mark.parametrize(
    "x, exc",
    [
        (np.zeros(4, complex), TypeError),
        (np.zeros(4, bool), TypeError),
        (np.zeros(4, object), TypeError),
        (np.zeros(4, np.uint16), TypeError),
        (np.zeros((2, 2, 2)), ValueError),
        (np.zeros((4, 0)), ValueError),
        ("abc", TypeError),
    ],
)
def test_bad_arrays(x, exc):
    with pytest.raises(exc, match="samples"):
        tqa.encode(x, 8000, profile="time")


def test_lists_strided_and_big_endian_inputs():
    x = np.random.default_rng(2).normal(0, 0.1, (3000, 2))
    ref = tqa.encode(x, 8000, profile="time")
    assert tqa.encode(x.tolist(), 8000, profile="time") == ref
    assert tqa.encode(x.astype(">f8"), 8000, profile="time") == ref
    wide = np.zeros((3000, 4))
    wide[:, ::2] = x
    assert tqa.encode(wide[:, ::2], 8000, profile="time") == ref
    assert tqa.encode(np.asfortranarray(x), 8000, profile="time") == ref


def test_random_access_reads_only_needed_frames():
    x = np.random.default_rng(3).normal(0, 0.1, (200_000, 2)).astype(np.float32)
    data = tqa.encode(x, 44100, profile="time")
    full, _ = tqa.decode(data)
    f = CountingIO(data)
    part, _ = tqa.decode(f, start=123_456, frames=1000)
    np.testing.assert_array_equal(part, full[123_456:124_456])
    assert f.bytes_read < 4096 + 3 * tqa.api.Decoder(data).header.frame_size(0)
    for start, frames in [(0, 0), (199_999, 10), (250_000, 5), (4095, 2), (0, None)]:
        got, _ = tqa.decode(data, start=start, frames=frames)
        stop = None if frames is None else start + frames
        np.testing.assert_array_equal(got, full[start:stop])
    with pytest.raises(ValueError, match="start"):
        tqa.decode(data, start=-1)


def test_decode_in_a_fresh_process(tmp_path):
    """Bytes written by one process decode identically in another."""
    enc = textwrap.dedent(
        f"""
        import numpy as np, tqa
        x = np.random.default_rng(11).normal(0, 0.2, (20000, 2)).astype(np.float32)
        open({str(tmp_path / 'a.tqa')!r}, 'wb').write(tqa.encode(x, 48000, residual='qjl', seed=99))
        y, _ = tqa.decode(open({str(tmp_path / 'a.tqa')!r}, 'rb').read())
        np.save({str(tmp_path / 'y.npy')!r}, y)
        """
    )
    dec = textwrap.dedent(
        f"""
        import numpy as np, tqa
        y, sr = tqa.decode(open({str(tmp_path / 'a.tqa')!r}, 'rb').read())
        assert sr == 48000
        assert np.array_equal(y, np.load({str(tmp_path / 'y.npy')!r}))
        x = np.random.default_rng(11).normal(0, 0.2, (20000, 2)).astype(np.float32)
        snr = 10 * np.log10(np.sum(x.astype(float)**2) / np.sum((x.astype(float) - y)**2))
        assert snr > 34, snr
        print("ok", round(snr, 1))
        """
    )
    # cwd: a checkout's own tqa/ folder (without backends/) must not shadow the installed package
    subprocess.run([sys.executable, "-c", enc], check=True, cwd=tmp_path)
    out = subprocess.run([sys.executable, "-c", dec], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.startswith("ok")


def test_info_counts_every_byte():
    x = np.zeros((44100, 2), np.int16)
    x[:, 0] = (np.random.default_rng(0).normal(0, 3000, 44100)).astype(np.int16)
    data = tqa.encode(x, 44100, profile="time")
    inf = tqa.info(data)
    assert inf["bytes"] == len(data)
    assert inf["bits_per_sample"] == pytest.approx(len(data) * 8 / (44100 * 2))
    assert inf["ratio"] == pytest.approx(44100 * 2 * 2 / len(data))
    assert 7.0 < inf["bits_per_sample"] < 7.2  # 6 + 1 bits, side info and frames on top
    assert inf["duration"] == pytest.approx(1.0)


def test_int16_exact_dtype_round_trip_quality():
    x = (np.random.default_rng(4).normal(0, 4000, (10000, 2))).astype(np.int16)
    y, _ = tqa.decode(tqa.encode(x, 44100, bits=8), dtype="int16")
    assert y.dtype == np.int16 and sqnr_db(x, y) > 48


def test_decoded_arrays_are_c_ordered():
    x = np.random.default_rng(0).normal(0, 0.1, (5000, 3))
    data = tqa.encode(x, 8000, profile="time")
    for dtype in ("float32", "float64", "int16", "int32"):
        y, _ = tqa.decode(data, dtype=dtype)
        assert y.flags.c_contiguous, dtype


@pytest.mark.parametrize("engine", ["numpy", "tiled"])
def test_hard_blocks_batched_across_codec_calls_give_the_same_stream(engine, monkeypatch):
    """The time encoder recodes hard blocks in batches over several codec calls (frames wait for
    them): the bytes are those of recoding every call's hard blocks at once, and of segments."""
    from tqa.profiles import time as time_profile
    from tqa.stream import WORKING_SET

    per_call = WORKING_SET // 16  # samples per channel a stereo codec call takes
    rng = np.random.default_rng(21)
    x = rng.normal(0, 6000, (3 * per_call + 1234, 2))
    x[:: per_call // 3] = 32000  # impulses: hard blocks in every call
    x[per_call : per_call + 20000] = rng.integers(-2, 3, (20000, 2))  # quantization on the grid: more of them
    x = x.clip(-32768, 32767).astype(np.int16)
    batched = tqa.encode(x, 44100, engine=engine, profile="time")
    real_init = time_profile._Encoder.__init__

    def at_once(self, *a, **kw):
        real_init(self, *a, **kw)
        self._max_job_rows = 1  # every call's hard blocks recoded before its frames, as one codec call would

    monkeypatch.setattr(time_profile._Encoder, "__init__", at_once)
    assert tqa.encode(x, 44100, engine=engine, profile="time") == batched
    monkeypatch.undo()
    head = tqa.stream.header_bytes(44100, 2, len(x), source_format="int16", profile="time")
    fs = tqa.info(batched)["frame_samples"]
    cut = 5 * fs
    seg = tqa.stream.encode_segment(head, x[:cut], 0, engine=engine) + tqa.stream.encode_segment(head, x[cut:], 5,
                                                                                                   engine=engine)
    assert head + seg == batched
