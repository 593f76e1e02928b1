"""spectral2 frame_floor (tqa.sv2.floor): a guaranteed SQNR per hop of the decoded output."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import tqa
from tqa import sv2
from tqa.sv2 import codec
from tqa.sv2 import floor as fl

SR = 44100
FLOOR = 40.0


def _grid(x: np.ndarray) -> np.ndarray:
    """16-bit samples (float, full scale 1) on the 2**23 grid."""
    return np.rint(np.clip(x, -1, 1 - 2**-15) * 2**15) * 256


def _loud_quiet(seed: int = 0) -> np.ndarray:
    """Loud tones and noise, a passage 54 dB quieter, a fade to near silence, digital silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(3 * SR) / SR
    x = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    env = np.ones(t.size)
    env[SR : 2 * SR] = 0.002
    env[2 * SR :] = np.geomspace(1, 1e-4, SR)
    x *= env
    x[int(2.9 * SR) :] = 0
    return _grid(x)


def _speech_like(seed: int = 1) -> np.ndarray:
    """Syllable bursts (voiced harmonics under a 4 Hz envelope) with pauses of room noise (~3 LSB
    RMS: exempt) and digital silence, stereo with the right channel 30 dB down."""
    rng = np.random.default_rng(seed)
    n = 3 * SR
    t = np.arange(n) / SR
    f0 = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
    ph = 2 * np.pi * np.cumsum(f0) / SR
    v = sum(np.sin(k * ph) / k for k in range(1, 12))
    gate = (np.sin(2 * np.pi * 4 * t) > 0) * (((t % 1.0) < 0.6))
    x = 0.2 * v * np.sin(np.pi * (t * 8 % 1)) * gate + 1e-4 * rng.standard_normal(n)
    x[int(2.6 * SR) :] = 0
    return _grid(np.stack([x, 0.03 * x], axis=1))


def _hop_sqnr(g: np.ndarray, y: np.ndarray, hop: int, floor: float = FLOOR) -> np.ndarray:
    """SQNR of each hop and channel whose source RMS is at least the quiet level (nan elsewhere)."""
    g = g.reshape(g.shape[0], -1)
    y = y.reshape(y.shape[0], -1)
    F = -(-g.shape[0] // hop)
    out = np.full((F, g.shape[1]), np.nan)
    for h in range(F):
        a, b = h * hop, min(g.shape[0], (h + 1) * hop)
        s = np.sum(g[a:b] ** 2, axis=0)
        e = np.sum((g[a:b] - y[a:b]) ** 2, axis=0)
        loud = s >= fl.quiet_level(floor) ** 2 * (b - a)
        with np.errstate(divide="ignore"):
            out[h, loud] = np.where(e[loud] > 0, 10 * np.log10(s[loud] / np.maximum(e[loud], 1e-300)), np.inf)
    return out


def _enc(g, **kw):
    kw.setdefault("sample_rate", SR)
    return sv2.encode(g, **kw)


@pytest.fixture(scope="module")
def coded():
    """(signal, plain stream, floor stream) at quality=45, of both test signals."""
    out = {}
    for name, g in (("loud_quiet", _loud_quiet()), ("speech", _speech_like())):
        out[name] = g, _enc(g, quality=45), _enc(g, quality=45, frame_floor=FLOOR)
    return out


@pytest.mark.parametrize("name", ["loud_quiet", "speech"])
def test_floor_holds_on_decoded_output_where_plain_quality_misses_it(coded, name):
    g, plain, floor = coded[name]
    hop = codec.parse_params(floor[0]).hop
    before = _hop_sqnr(g, sv2.decode(*plain), hop)
    after = _hop_sqnr(g, sv2.decode(*floor), hop)
    assert np.nanmin(before) < FLOOR - 5  # the quiet passages miss it without the floor
    assert np.nanmin(after) >= FLOOR
    assert np.count_nonzero(~np.isnan(after)) > 0.3 * after.size  # the check covers most hops
    # the stream's SQNR stays at least quality=
    assert 10 * np.log10(np.sum(g**2) / np.sum((g.reshape(len(g), -1) - sv2.decode(*floor)) ** 2)) >= 45 - 0.5


def test_near_silence_is_exempt(coded):
    g, plain, floor = coded["speech"]
    hop = codec.parse_params(floor[0]).hop
    G = g[: len(g) // hop * hop].reshape(-1, hop, 2)
    rms = np.sqrt(np.mean(G**2, axis=1)).max(axis=1)
    quiet = np.flatnonzero(rms < 0.5 * fl.quiet_level(FLOOR))
    quiet = quiet[(quiet > 0) & (quiet < len(rms) - 1)]
    quiet = quiet[(rms[quiet - 1] < 0.5 * fl.quiet_level(FLOOR)) & (rms[quiet + 1] < 0.5 * fl.quiet_level(FLOOR))]
    assert quiet.size > 10  # pauses and digital silence, away from speech
    refined = np.array([b[0] & fl.HDR_BIT > 0 for b in floor[1]])
    assert not refined[quiet].any()  # no bits spent on the pauses
    assert refined.any()
    y = sv2.decode(*floor)
    assert np.all(y[int(2.62 * SR) :] == 0)  # digital silence stays silent


def test_quiet_level_is_where_16_bit_rounding_misses_the_floor():
    assert fl.quiet_level(40) == pytest.approx(256 * 100 / np.sqrt(12))
    assert fl.quiet_level(30) / 256 == pytest.approx(9.13, abs=0.01)


def test_off_is_todays_stream_and_version_1():
    g = _loud_quiet()[: SR // 2]
    a = _enc(g, quality=45)
    assert _enc(g, quality=45, frame_floor=None) == a
    assert a[0][4] == codec.VERSION == 1 and not any(b[0] & fl.HDR_BIT for b in a[1])
    b = _enc(g, quality=45, frame_floor=FLOOR)
    assert b[0][4] == fl.VERSION == 3 and codec.parse_params(b[0]).floor


def test_refinement_factors_are_exact_quarter_octaves():
    r = np.arange(fl.RMAX + 1)
    np.testing.assert_allclose(fl.FACTOR, 2.0 ** (-r / 4), rtol=1e-15)
    assert fl.FACTOR[4] == 0.5 and fl.FACTOR[0] == 1.0


def test_both_decoder_paths_and_the_streaming_encoder_agree(coded, monkeypatch):
    from tqa.sv2 import _jit

    if not _jit.AVAILABLE:
        pytest.skip("numba not installed")
    g, _, floor = coded["speech"]
    monkeypatch.setattr(codec, "_DEC", [_jit])  # the compiled decoder whatever the stream's size
    ya = sv2.decode(*floor)
    monkeypatch.setattr(_jit, "AVAILABLE", False)  # the NumPy reference (decoder and encoder)
    yb = sv2.decode(*floor)
    np.testing.assert_array_equal(ya, yb)
    assert _enc(g, quality=45, frame_floor=FLOOR) == floor
    monkeypatch.setattr(_jit, "AVAILABLE", True)
    with sv2.Encoder(2, sample_rate=SR, quality=45, frame_floor=FLOOR) as enc:
        for lo in range(0, len(g), 10000):
            enc.push(g[lo : lo + 10000])
        params, frames = enc.finish()
        assert (params, list(frames)) == floor
        assert enc.floor_stats["min_sqnr"] >= FLOOR and enc.floor_stats["refined_frames"] > 0


def test_random_access_and_lost_frames(coded):
    g, _, (params, frames) = coded["loud_quiet"]
    y = sv2.decode(params, frames)
    p = codec.parse_params(params)
    for start, stop in ((0, 700), (SR - 3000, SR + 5000), (2 * SR + 17, 2 * SR + 4000)):
        np.testing.assert_array_equal(sv2.read(params, lambda i: frames[i], start, stop), y[start:stop])
    lost = list(frames)
    k = SR // p.hop + 2
    lost[k] = None
    z, lo = sv2.decode_frames(params, lost, 0)
    assert lo == 0
    np.testing.assert_array_equal(z[(k + 2) * p.hop : (k + 8) * p.hop], y[(k + 2) * p.hop : (k + 8) * p.hop])
    assert not np.array_equal(z[k * p.hop : (k + 1) * p.hop], y[k * p.hop : (k + 1) * p.hop])


def test_tqa_api_and_container(coded):
    g, _, _ = coded["loud_quiet"]
    x = (g / 256).astype(np.int16)
    data = tqa.encode(x, SR, profile="spectral2", quality=45, frame_floor=FLOOR)
    h = tqa.Decoder(data).header
    assert h.settings.frame_floor == FLOOR
    y, _ = tqa.decode(data, dtype="float64")
    s = _hop_sqnr(g, np.rint(y * 2**23), 1024)
    assert np.nanmin(s) >= FLOOR
    part, _ = tqa.decode(data, dtype="float64", start=SR + 100, frames=3000)
    np.testing.assert_array_equal(part, y[SR + 100 : SR + 3100])
    assert tqa.info(data)["frame_floor"] == FLOOR
    plain = tqa.encode(x, SR, profile="spectral2", quality=45)
    assert tqa.Decoder(plain).header.settings.frame_floor is None and tqa.info(plain)["frame_floor"] is None


def test_rate_mode_meets_the_rate_where_the_floor_is_cheap_and_the_floor_wins_where_not():
    g = _loud_quiet()
    n = g.size
    # cheap: a short quiet passage; the rate search makes room for its refinements
    cheap = g.copy()
    cheap[SR + SR // 4 : 2 * SR] = g[: 3 * SR // 4]  # loud again after a quarter second
    enc = sv2.Encoder(1, sample_rate=SR, rate=3.0, frame_floor=30)
    enc.push(cheap)
    params, frames = enc.finish()
    bits = 8 * (len(params) + frames.nbytes)
    assert bits <= 3.0 * n * 1.01 and not enc.floor_stats["rate_exceeded"]
    y = sv2.decode(params, list(frames))
    assert np.nanmin(_hop_sqnr(cheap, y, codec.parse_params(params).hop, 30)) >= 30
    enc.close()
    # dear: the floor wins, the stream is larger than the rate and says so
    enc = sv2.Encoder(1, sample_rate=SR, rate=0.6, frame_floor=60)
    enc.push(g)
    params, frames = enc.finish()
    assert enc.floor_stats["rate_exceeded"] and enc.floor_stats["bits_per_sample"] > 0.6 * 1.01
    y = sv2.decode(params, list(frames))
    assert np.nanmin(_hop_sqnr(g, y, codec.parse_params(params).hop, 60)) >= 60
    enc.close()


@pytest.mark.parametrize("bad", [0, 0.5, 121, 400, float("nan"), "40", True])
def test_bad_settings_rejected(bad):
    with pytest.raises(ValueError, match="frame_floor"):
        tqa.encode(np.zeros((100, 1), np.int16), SR, profile="spectral2", quality=40, frame_floor=bad)
    with pytest.raises(ValueError, match="frame_floor"):
        sv2.Encoder(1, quality=40, frame_floor=bad)


def test_floor_with_perceptual_tune_or_other_profiles_is_refused():
    with pytest.raises(ValueError, match="frame_floor.*tune='sqnr'"):
        tqa.encode(np.zeros((100, 1), np.int16), SR, profile="spectral2", rate=3, tune="perceptual", frame_floor=40)
    with pytest.raises(TypeError, match="frame_floor"):
        tqa.encode(np.zeros((100, 1), np.int16), SR, profile="time", frame_floor=40)


def test_malformed_refinements_raise_frame_error(coded):
    _, _, (params, frames) = coded["loud_quiet"]
    p = codec.parse_params(params)
    i = next(i for i, b in enumerate(frames) if b[0] & fl.HDR_BIT)
    for r in (0, fl.RMAX + 1, 255):
        bad = bytes([frames[i][0], r]) + frames[i][2:]
        with pytest.raises(sv2.FrameError, match=f"frame {i}: bad frame refinement"):
            codec.unpack_frames(p, [bad], np.array([i]))
    with pytest.raises(sv2.FrameError, match="bad frame refinement"):
        codec.unpack_frames(p, [frames[i][:1]], np.array([i]))
    # a version-1 reader (the params' version byte set back) refuses the refined frames
    p1 = codec.parse_params(params[:4] + bytes([1]) + params[5:])
    with pytest.raises(sv2.FrameError, match="bad frame header"):
        codec.unpack_frames(p1, [frames[i]], np.array([i]))


def test_container_flags_checked():
    from tqa.format import FormatError
    from tqa.profiles.spectral2 import SPECTRAL2, Spectral2Settings

    s = Spectral2Settings(quality=45.0, hop=1024, frame_floor=37.25)
    f = SPECTRAL2.pack_fields(s)
    assert f[1] & 32 and f[1] > 31  # readers before it refuse flags above 31
    assert SPECTRAL2.parse_fields(f).frame_floor == 37.25 and SPECTRAL2.parse_fields(f).quality == 45.0
    plain = SPECTRAL2.pack_fields(Spectral2Settings(quality=45.0, hop=1024))
    assert plain[1] & 32 == 0 and SPECTRAL2.parse_fields(plain).frame_floor is None
    bad = bytearray(f)
    bad[1] &= ~32  # a floor value without the flag
    with pytest.raises(FormatError):
        SPECTRAL2.parse_fields(bytes(bad))
    bad = bytearray(plain)
    bad[1] |= 32  # the flag without a value
    with pytest.raises(FormatError):
        SPECTRAL2.parse_fields(bytes(bad))


def test_cli_frame_floor(tmp_path):
    import soundfile as sf

    g = _speech_like()
    wav = tmp_path / "a.wav"
    sf.write(wav, (g / 256).astype(np.int16), SR, subtype="PCM_16")
    out = tmp_path / "a.tqa"

    def tqa_(*args):
        return subprocess.run([sys.executable, "-m", "tqa", *args], capture_output=True, text=True)

    r = tqa_("encode", str(wav), "-o", str(out), "--profile", "spectral2", "--quality", "45", "--frame-floor", "40")
    assert r.returncode == 0, r.stderr
    assert "frame floor 40.0" in tqa_("info", str(out)).stdout
    r = tqa_("encode", str(wav), "-o", str(tmp_path / "b.tqa"), "--profile", "spectral2", "--rate", "0.6",
             "--frame-floor", "60")  # fmt: skip
    assert r.returncode == 0 and "the floor wins" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    for bad in (["--frame-floor", "abc"], ["--frame-floor", "500"], ["--frame-floor", "40", "--tune", "perceptual"],
                ["--frame-floor", "40", "--profile", "time"]):  # fmt: skip
        args = ["encode", str(wav), "-o", str(tmp_path / "c.tqa"), "--profile", "spectral2", *bad]
        r = tqa_(*args)
        assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
        assert not (tmp_path / "c.tqa").exists()


def test_the_floor_pass_reads_long_streams_chunk_by_chunk(coded, monkeypatch):
    """hop_energies decodes DECODE_CHUNK frames at a time with their neighbours: any chunk
    size gives the same energies, so the same stream."""
    g, _, floor = coded["loud_quiet"]
    monkeypatch.setattr(sv2, "DECODE_CHUNK", 7)
    assert _enc(g, quality=45, frame_floor=FLOOR) == floor


def test_a_give_back_that_does_not_settle_keeps_the_stream_before_it(coded, monkeypatch):
    g, _, _ = coded["speech"]
    calls = []
    real = fl._converge

    def flaky(S, params, frames):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("did not settle")
        return real(S, params, frames)

    monkeypatch.setattr(fl, "_converge", flaky)
    with sv2.Encoder(2, sample_rate=SR, quality=45, frame_floor=FLOOR) as enc:  # payloads spooled to a file
        enc.push(g)
        params, frames = enc.finish()
        assert len(calls) == 2  # the give-back was tried, and dropped
        hop = codec.parse_params(params).hop
        assert np.nanmin(_hop_sqnr(g, sv2.decode(params, list(frames)), hop)) >= FLOOR


def test_container_streaming_encoder_and_damaged_frames(coded):
    import io
    import warnings

    g, _, _ = coded["speech"]
    x = (g / 256).astype(np.int16)
    whole = tqa.encode(x, SR, profile="spectral2", quality=45, frame_floor=FLOOR)
    buf = io.BytesIO()
    with tqa.Encoder(buf, SR, 2, profile="spectral2", source_format="int16", quality=45, frame_floor=FLOOR) as enc:
        for lo in range(0, len(x), 7000):
            enc.write(x[lo : lo + 7000])
    assert buf.getvalue() == whole
    y, _ = tqa.decode(whole, dtype="float64")
    # a damaged refined frame: its CRC catches it, the rest decodes as before
    dec = tqa.Decoder(whole)
    bad = bytearray(whole)
    mid = len(bad) // 2
    bad[mid] ^= 0xFF
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = tqa.Decoder(bytes(bad), on_error="silence").read(dtype="float64")
    same = np.all(z == y, axis=1)
    assert 0.8 * len(y) < same.sum() < len(y)  # one frame's samples (and its neighbours' overlap) lost
    assert dec.n_samples == len(x)
