"""The spectral profile: MDCT, allocation, rate control, engines, random access, damage."""

import io
import struct
import zlib

import numpy as np
import pytest
from scipy.signal import lfilter

import tqa
from tqa import mdct
from tqa.format import FormatError

from conftest import header as parse_header
from tqa.metrics import sqnr_db

from conftest import CountingIO


def ar1(n, rho, channels=1, seed=0, scale=0.1):
    """AR(1) noise: a known, smooth spectrum (the spectral profile's home ground)."""
    e = np.random.default_rng(seed).normal(0, scale * np.sqrt(1 - rho**2), (n, channels))
    return lfilter([1.0], [1.0, -rho], e, axis=0)


@pytest.mark.parametrize("hop", [256, 1024])
@pytest.mark.parametrize("n", [0, 1, 255, 256, 257, 5000])
def test_mdct_perfect_reconstruction(hop, n):
    x = np.random.default_rng(n).normal(0, 1, (n, 2))
    c = mdct.forward(x, hop)
    assert c.shape == (2, mdct.n_frames(n, hop), hop)
    np.testing.assert_allclose(mdct.inverse(c, n), x, atol=1e-12)
    assert np.sum(c**2) == pytest.approx(np.sum(x**2), rel=1e-12)  # orthogonal lapped transform
    if n > 3 * hop:  # any run of frames reconstructs the samples it covers
        np.testing.assert_allclose(mdct.inverse_range(c[:, 1:4], 1), x[hop : 3 * hop], atol=1e-12)


@pytest.mark.parametrize("n", [0, 1, 1023, 1024, 1025, 10_000])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_exact_lengths_channels_and_dtypes(n, channels):
    x = (ar1(n, 0.9, channels) * 32767).astype(np.int16)
    data = tqa.encode(x, 44100, profile="spectral", rate=3.2)
    y, sr = tqa.decode(data, dtype="int16")
    assert sr == 44100 and y.dtype == np.int16
    assert y.shape == ((n,) if channels == 1 else (n, channels))
    inf = tqa.info(data)
    assert (inf["profile"], inf["mode"], inf["frames"], inf["channels"]) == ("spectral", "cbr", n, channels)


@pytest.mark.parametrize("rate", [2.0, 3.2, 4.0])
def test_cbr_frames_are_exactly_the_promised_size(rate):
    x = ar1(30_000, 0.95, 2)
    data = tqa.encode(x, 48000, profile="spectral", rate=rate)
    h = parse_header(data)
    size = int(np.ceil(rate * 1024 * 2 / 8))
    assert h.frame_size(0) == size
    assert len(data) == h.header_size + h.n_frames * size
    assert tqa.info(data)["bits_per_sample"] == pytest.approx(rate, abs=0.03 + 8 * h.header_size / x.size + 2 * rate * 1024 / 30_000)


@pytest.mark.parametrize("quality", [25.0, 40.0, 55.0])
@pytest.mark.parametrize("rho", [0.5, 0.95])
def test_quality_frames_within_half_a_db(quality, rho):
    x = ar1(40_000, rho, 2, seed=int(quality))
    data = tqa.encode(x, 48000, profile="spectral", quality=quality)
    y, _ = tqa.decode(data, dtype="float64")
    assert sqnr_db(x, y) == pytest.approx(quality, abs=0.5)
    # frame by frame, in the MDCT domain (orthogonal: the SQNR there is the signal's)
    dec = tqa.Decoder(data)
    got = dec._dec._coeffs(0, dec.reader.payloads(0, dec.header.n_frames))
    ref = mdct.forward(np.rint(x * 2.0**23), 1024).transpose(1, 0, 2)
    e = np.sum(ref**2, axis=(1, 2))
    live = e > 0
    frame_snr = 10 * np.log10(e[live] / np.sum((ref - got) ** 2, axis=(1, 2))[live])
    assert np.all(np.abs(frame_snr[1:-1] - quality) < 0.5), frame_snr.round(2)


def test_beats_the_time_domain_profile_on_correlated_noise():
    x = ar1(60_000, 0.98, 1)
    spectral = tqa.encode(x, 48000, profile="spectral", rate=3.2)
    time = tqa.encode(x, 48000, bits=3, residual="sign")  # ~4.05 bits/sample
    assert tqa.info(spectral)["bits_per_sample"] < tqa.info(time)["bits_per_sample"]
    s_snr = sqnr_db(x, tqa.decode(spectral, dtype="float64")[0])
    t_snr = sqnr_db(x, tqa.decode(time, dtype="float64")[0])
    assert s_snr > t_snr + 6  # measured: +8 dB, at 3.2 against 4.05 bits/sample


@pytest.mark.parametrize("kw", [dict(rate=3.2), dict(rate=6.0), dict(quality=45.0)])
def test_engines_identical_bytes_and_samples(kw):
    rng = np.random.default_rng(3)
    x = np.concatenate([ar1(20_000, 0.9, 2), rng.normal(0, 0.3, (5000, 2)), np.zeros((8000, 2))])
    x[:, 1] = 0.7 * x[:, 0] + 0.3 * x[:, 1]  # correlated channels: mid/side kicks in
    streams = {e: tqa.encode(x, 44100, profile="spectral", engine=e, **kw) for e in tqa.engines()}
    assert len(set(streams.values())) == 1
    decoded = [tqa.decode(streams["numpy"], engine=e, dtype="float64")[0] for e in tqa.engines()]
    for d in decoded[1:]:
        np.testing.assert_array_equal(d, decoded[0])
    assert not decoded[0][-5000:].any()  # silence (beyond the last frame that overlaps sound) stays silence


@pytest.mark.parametrize("kw", [dict(rate=3.2), dict(quality=40.0)])
def test_random_access(kw):
    x = ar1(200_000, 0.9, 2)
    data = tqa.encode(x, 44100, profile="spectral", **kw)
    full, _ = tqa.decode(data)
    f = CountingIO(data)
    part, _ = tqa.decode(f, start=123_456, frames=3000)
    np.testing.assert_array_equal(part, full[123_456:126_456])
    assert f.bytes_read < 8192 + 8 * len(data) // parse_header(data).n_frames + 8 * (parse_header(data).n_frames + 2)
    for start, frames in [(0, 10), (199_990, 100), (1023, 2), (250_000, 5)]:
        np.testing.assert_array_equal(tqa.decode(data, start=start, frames=frames)[0], full[start : start + frames])


@pytest.mark.parametrize("kw", [dict(rate=3.2), dict(quality=40.0)])
def test_damaged_frames_named_and_recovered(kw):
    x = ar1(50_000, 0.9, 1)
    data = bytearray(tqa.encode(x, 44100, profile="spectral", **kw))
    ref, _ = tqa.decode(bytes(data))
    h = parse_header(bytes(data))
    off = tqa.Decoder(bytes(data)).reader.span(10)[0] + 20
    data[off] ^= 0x40
    with pytest.raises(FormatError, match="frame 10 is damaged") as e:
        tqa.decode(bytes(data))
    assert e.value.frame == 10
    assert [i for i, _ in tqa.verify(bytes(data))] == [10]
    with pytest.warns(tqa.DamagedFramesWarning):
        y, _ = tqa.decode(bytes(data), on_error="silence")
    hop = h.settings.hop
    np.testing.assert_array_equal(y[: 9 * hop], ref[: 9 * hop])  # undamaged frames' samples are intact
    np.testing.assert_array_equal(y[11 * hop :], ref[11 * hop :])


def test_profile_ids_and_unknown_profiles():
    data = tqa.encode(ar1(3000, 0.5), 8000, profile="spectral")
    assert data[5] == 1 and parse_header(data).profile is tqa.profiles.get("spectral")
    assert tqa.encode(ar1(3000, 0.5), 8000, profile="time")[5] == 0
    assert tqa.encode(ar1(3000, 0.5), 8000)[5] == 2  # the default profile: spectral2
    bad = bytearray(data)
    bad[5] = 9
    with pytest.raises(FormatError, match=r"unknown profile 9 \(this reader knows \[0, 1, 2\]\)"):
        tqa.decode(bytes(bad))


def test_settings_are_validated():
    x = np.zeros(100)
    for kw, match in [(dict(rate=0.1), "rate"), (dict(rate=3, quality=40), "not both"), (dict(quality=500), "quality")]:
        with pytest.raises(ValueError, match=match):
            tqa.encode(x, 8000, profile="spectral", **kw)
    with pytest.raises(ValueError, match="profile"):
        tqa.encode(x, 8000, profile="mdct")
    with pytest.raises(TypeError, match="profile 'time' takes no setting rate"):
        tqa.encode(x, 8000, profile="time", rate=3.2)
    with pytest.raises(TypeError, match="profile 'spectral' takes no setting bits"):
        tqa.encode(x, 8000, profile="spectral", bits=4)


@pytest.mark.parametrize("kw", [dict(rate=3.2), dict(quality=40.0)])
def test_streaming_encoder_any_chunking_same_bytes(kw, monkeypatch):
    x = (ar1(70_001, 0.9, 2) * 32767).astype(np.int16)
    ref = tqa.encode(x, 44100, profile="spectral", **kw)
    buf = io.BytesIO()
    monkeypatch.setattr(tqa.stream, "WORKING_SET", 1 << 17)  # batches of 1 MDCT frame, chunks of 8192 samples
    enc = tqa.Encoder(buf, 44100, 2, profile="spectral", source_format="int16", **kw)
    assert enc._coder.batch == 1
    pos = 0
    for size in [1, 999, 5000, 20_000, 1023, 50_000]:
        enc.write(x[pos : pos + size])
        pos += size
    enc.close()
    assert pos >= len(x) and buf.getvalue() == ref


def test_cli_spectral_encode_decode_and_errors(tmp_path, capsys):
    """In process through tqa.cli.main (the real entry points are smoke-tested in test_cli_smoke.py)."""
    import soundfile as sf

    from tqa.cli import main

    def run(*a):
        with pytest.raises(SystemExit) as e:
            main([str(v) for v in a])
        out = capsys.readouterr()
        return e.value.code, out.out, out.err

    x = (ar1(30_000, 0.95, 2) * 32767).astype(np.int16)
    sf.write(str(tmp_path / "a.wav"), x, 44100, subtype="PCM_16")
    code, _, err = run("encode", tmp_path / "a.wav", "-o", tmp_path / "a.tqa", "--profile", "spectral", "--rate", "3.2",
                       "--hop", "512")  # fmt: skip
    assert code == 0, err
    assert "profile spectral (MDCT hop 512" in run("info", tmp_path / "a.tqa")[1]
    assert run("decode", tmp_path / "a.tqa", "-o", tmp_path / "b.wav")[0] == 0
    y = sf.read(str(tmp_path / "b.wav"), dtype="int16")[0]
    assert y.shape == x.shape and sqnr_db(x, y) > 20  # AR(1), rho 0.95: ~24 dB at 3.2 bits/sample
    for args, needle in [(["--profile", "spectral", "--rate", "0.1"], "--rate"), (["--profile", "time", "--rate", "3"], "--profile spectral"),
                         (["--profile", "spectral", "--hop", "1000"], "--hop"), (["--profile", "mdct"], "--profile")]:  # fmt: skip
        code, _, err = run("encode", tmp_path / "a.wav", "-o", tmp_path / "c.tqa", *args)
        assert code == 2 and needle in err and not (tmp_path / "c.tqa").exists(), err


def test_rate_with_more_digits_than_the_header_keeps():
    x = ar1(20_000, 0.9, 2)
    data = tqa.encode(x, 44100, profile="spectral", rate=3.1254)  # 800.1 bytes a frame; the header keeps 3.125: 800
    assert tqa.info(data)["rate"] == 3.125
    assert tqa.decode(data)[0].shape == x.shape


def test_crafted_frame_with_valid_crc_is_named():
    import struct
    import zlib

    data = bytearray(tqa.encode(ar1(20_000, 0.9, 2), 44100, profile="spectral", rate=3.2))
    h = parse_header(bytes(data))
    size = h.frame_size(0)
    lo = h.header_size + 7 * size
    data[lo + 4] = 5  # flags byte: only bit 0 is defined
    struct.pack_into("<I", data, lo + size - 4, zlib.crc32(bytes(data[lo : lo + size - 4])))
    with pytest.raises(FormatError, match="frame 7: malformed spectral frame") as e:
        tqa.decode(bytes(data))
    assert e.value.frame == 7
