"""sv2's perceptual tune (tqa.sv2.perceptual): params version 2 and its refusal by version-1
readers, tune="sqnr" unchanged, bit-exact decoding on the numba and NumPy paths, frame
independence, noise-fill levels, malformed records, and the profile / CLI option."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import tqa
from tqa import sv2
from tqa.sv2 import codec
from tqa.sv2 import perceptual as perc

from test_sv2 import _music  # the same test signal (tests/ is on the path, as for fmtspec)

SR = 44100


def _enc(x, **kw):
    kw.setdefault("rate", 2.5)
    return sv2.encode(x, sample_rate=SR, tune="perceptual", **kw)


def test_sqnr_tune_is_todays_stream():
    x = _music(SR // 3, 2, seed=1)
    a = sv2.encode(x, rate=3.0, sample_rate=SR)
    assert sv2.encode(x, rate=3.0, sample_rate=SR, tune="sqnr") == a
    assert a[0][4] == codec.VERSION == 1
    assert all(b[0] < 32 for b in a[1])
    assert sv2.info(a[0])["tune"] == "sqnr"


def test_perceptual_stream_is_version_2_and_round_trips():
    x = _music(SR // 2, 2, seed=2)
    params, frames = _enc(x)
    assert params[4] == perc.VERSION == 2
    info = sv2.info(params)
    assert info["tune"] == "perceptual" and len(info["weight_db"]) == info["hop"] // 16
    assert any(b[0] & perc.HDR_BIT for b in frames)  # noise records are sent
    y = sv2.decode(params, frames)
    assert y.shape == x.shape and np.all(y == np.rint(y))
    assert 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2)) > 15
    bits = (len(params) + sum(map(len, frames))) * 8 / x.size
    assert 0.95 * 2.5 <= bits <= 1.01 * 2.5


def test_version_1_readers_refuse_perceptual_streams(monkeypatch):
    x = _music(SR // 4, 1, seed=3)
    params, frames = _enc(x)
    # a version-1 reader (the check as it was): refuses the params
    monkeypatch.setattr(perc, "VERSION", 99)
    with pytest.raises(ValueError, match="magic/version"):
        codec.parse_params(params)
    monkeypatch.undo()
    # a noise-record frame under version-1 params: refused, not misdecoded
    p1 = bytearray(sv2.encode(x, rate=2.5, sample_rate=SR)[0])
    p = codec.parse_params(bytes(p1))
    i = next(i for i, b in enumerate(frames) if b[0] & perc.HDR_BIT)
    with pytest.raises(sv2.FrameError, match="bad frame header"):
        codec.unpack_frames(p, [frames[i]], np.array([i]))
    # unknown params versions are refused
    bad = bytearray(params)
    bad[4] = 4  # (3: frame_floor streams, tqa.sv2.floor)
    with pytest.raises(ValueError, match="magic/version"):
        codec.parse_params(bytes(bad))


def test_container_header_flags_refused_by_old_readers_and_checked():
    from tqa.profiles.spectral2 import SPECTRAL2, Spectral2Settings

    s = Spectral2Settings(rate=3.0, hop=1024, tune="perceptual")
    fields = SPECTRAL2.pack_fields(s)
    assert fields[1] & 16 and SPECTRAL2.parse_fields(fields).tune == "perceptual"
    assert fields[1] > 15  # readers before the tune refuse flags above 15
    bad = bytearray(fields)
    bad[1] |= 32
    with pytest.raises(tqa.format.FormatError):
        SPECTRAL2.parse_fields(bytes(bad))
    with pytest.raises(ValueError, match="tune"):
        Spectral2Settings(rate=3.0, tune="loud")


def test_tqa_encode_tune_perceptual_round_trips_and_header_agrees():
    x = (_music(SR // 2, 2, seed=4) / 256).astype(np.int16)
    data = tqa.encode(x, SR, profile="spectral2", rate=3.0, tune="perceptual")
    y, sr = tqa.decode(data, dtype="int16", always_2d=True)
    assert sr == SR and y.shape == x.shape
    assert tqa.Decoder(data).header.settings.tune == "perceptual"
    plain = tqa.encode(x, SR, profile="spectral2", rate=3.0)
    assert tqa.Decoder(plain).header.settings.tune == "sqnr"
    assert tqa.encode(x, SR, profile="spectral2", rate=3.0, tune="sqnr") == plain


def test_compiled_and_numpy_encoders_agree(monkeypatch):
    """The encoder with and without the compiled loops writes the same perceptual stream.  (Its
    frames always decode on the NumPy reference — codec.unpack_frames routes them there — so the
    decode half only checks that switching the compiled path off changes nothing.)"""
    from tqa.sv2 import _jit

    if not _jit.AVAILABLE:
        pytest.skip("numba not installed")
    x = _music(SR // 3, 2, seed=5)
    x[3000:3100] += 2**22
    a = _enc(x, rate=3.0)
    ya = sv2.decode(*a)
    monkeypatch.setattr(_jit, "AVAILABLE", False)
    assert _enc(x, rate=3.0) == a
    np.testing.assert_array_equal(sv2.decode(*a), ya)


def test_decode_with_jit_disabled_in_a_fresh_process(tmp_path):
    """TQA_SV2_JIT=0 (a process without the numba path) decodes the same samples."""
    x = _music(SR // 4, 2, seed=6)
    params, frames = _enc(x, rate=2.0)
    y = sv2.decode(params, frames)
    (tmp_path / "p.bin").write_bytes(params)
    np.save(tmp_path / "lens.npy", np.array([len(b) for b in frames]))
    (tmp_path / "f.bin").write_bytes(b"".join(frames))
    code = (
        "import sys, numpy as np; from tqa import sv2; d = sys.argv[1]\n"
        "p = open(d + '/p.bin', 'rb').read(); raw = open(d + '/f.bin', 'rb').read()\n"
        "ls = np.load(d + '/lens.npy'); offs = np.concatenate(([0], np.cumsum(ls)))\n"
        "fr = [raw[a:b] for a, b in zip(offs[:-1], offs[1:])]\n"
        "np.save(d + '/y.npy', sv2.decode(p, fr))\n"
    )
    env = dict(os.environ, TQA_SV2_JIT="0")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), y)


def test_frames_decode_alone_the_same_noise():
    """The noise fill depends on the absolute frame index only: random access gives the
    samples of the whole decode."""
    x = _music(SR, 2, seed=7)
    params, frames = _enc(x, rate=2.0)
    y = sv2.decode(params, frames)
    for start, stop in ((0, 3000), (15000, 21000), (x.shape[0] - 5000, x.shape[0])):
        got = sv2.read(params, lambda i: frames[i], start, stop)
        np.testing.assert_array_equal(got, y[start:stop])


def test_noise_fill_level_statistics():
    """White noise whose bands all quantize to zero below a loud low band: the decoder fills the
    empty bands at their energy (within 1 dB per region) with balanced signs; without the
    fill (nf_gain=0) they decode as holes."""
    rng = np.random.default_rng(8)
    n = 2 * SR
    t = np.arange(n) / SR
    x = np.sin(2 * np.pi * 300 * t)[:, None] * 0.5 * 2**23 + rng.normal(size=(n, 1)) * 2e-4 * 2**23
    x = np.rint(x)
    params, frames = _enc(x, rate=0.6, hop=1024, transients=False, mask=0.0, lmask=0.0, tmask=0.0, nf_zero=0)
    y = sv2.decode(params, frames)
    from scipy.signal import welch

    f, Px = welch(x[:, 0], SR, nperseg=2048)
    _, Py = welch(y[:, 0], SR, nperseg=2048)
    _, Pe = welch(y[:, 0] - x[:, 0], SR, nperseg=2048)
    for lo, hi in ((3000, 6000), (6000, 12000), (12000, 20000)):
        m = (f >= lo) & (f < hi)
        ratio = 10 * np.log10(Py[m].mean() / Px[m].mean())
        assert abs(ratio) < 1.0, (lo, hi, ratio)
        # filled with independent noise: the error is about twice the signal there (+3 dB)
        assert 1.0 < 10 * np.log10(Pe[m].mean() / Px[m].mean()) < 4.5
    y0 = sv2.decode(*sv2.encode(x, rate=0.6, sample_rate=SR, tune="perceptual", hop=1024, transients=False,
                                mask=0.0, lmask=0.0, tmask=0.0, nf_zero=0, nf_gain=0.0))  # fmt: skip
    _, P0 = welch(y0[:, 0], SR, nperseg=2048)
    m = (f >= 6000) & (f < 12000)
    assert P0[m].mean() < 0.1 * Px[m].mean()  # holes without the fill
    assert params[4] == 2


def test_post_step_fills_exact_levels():
    """The decoder's post-step: empty bands at exactly 2**((n - 9)/2) steps, signs from the
    hash (balanced, frame-dependent), weights applied; a record of the wrong length is refused."""
    F, ch, N = 3, 2, 256
    nb = N // 16
    rec = perc.Record(group=4, zero=0, wq=np.zeros(nb, np.int64))
    cls = np.zeros((F, ch * nb), np.int64)
    cls[:, 0] = 10  # band 0 of channel 0 coded
    X = np.zeros((F, ch, N))
    X[:, 0, :16] = 3.0
    G = nb // 4
    counts = [ch * G] * F  # every group holds an empty band
    levels = np.arange(ch * G) % 8
    body = np.packbits(((levels[:, None] >> np.arange(2, -1, -1)) & 1).astype(np.uint8).reshape(-1)).tobytes()
    out = perc.post(X, cls, [body] * F, np.zeros((F, 1 + nb // perc.LG), np.int64), rec, 2.0, 0, np.arange(5, 5 + F))
    assert np.all(out[:, 0, :16] == 3.0)
    lv = np.where(levels > 0, 2.0 ** ((levels - 9) / 2.0), 0.0).reshape(ch, G)
    want = np.repeat(lv, 64, axis=1)
    want[0, :16] = 3.0
    np.testing.assert_array_equal(np.abs(out), np.broadcast_to(np.where(want == 3.0, 3.0, want * 2.0), out.shape))
    s = perc.signs(0, np.arange(200), 2, 1024)
    assert abs(s.mean()) < 0.01 and not np.array_equal(s[0], s[1])
    assert np.array_equal(s[7], perc.signs(0, np.array([7]), 2, 1024)[0])
    assert not np.array_equal(perc.signs(1, np.array([7]), 2, 1024), s[7:8])
    with pytest.raises(ValueError, match="noise record"):
        perc.post(X, cls, [body[:-1]] + [None] * (F - 1), np.zeros((F, 1 + nb // perc.LG), np.int64), rec, 2.0, 0, np.arange(F))
    assert counts[0] == len(levels)


def test_malformed_perceptual_frames_raise_frame_error():
    x = _music(SR // 3, 2, seed=9)
    params, frames = _enc(x)
    i = next(i for i, b in enumerate(frames) if b[0] & perc.HDR_BIT and not b[0] & 17)
    b = bytearray(frames[i])
    b[1] += 1  # the noise record's length disagrees with the empty bands
    bad = list(frames)
    bad[i] = bytes(b)
    with pytest.raises(sv2.FrameError) as e:
        sv2.decode(params, bad)
    assert e.value.frame == i
    b = bytearray(frames[i])
    b[0] &= ~perc.HDR_BIT  # the record read as the gain byte and the rest
    bad[i] = bytes(b)
    with pytest.raises(sv2.FrameError):
        sv2.decode(params, bad)


def test_cli_tune_option(tmp_path):
    import soundfile as sf

    x = (_music(SR // 2, 2, seed=10) / 256).astype(np.int16)
    wav = tmp_path / "a.wav"
    sf.write(wav, x, SR, subtype="PCM_16")
    out = tmp_path / "a.tqa"
    from tqa import cli

    def main(*args):
        with pytest.raises(SystemExit) as e:
            cli.main(list(args))
        return e.value.code

    assert main("encode", str(wav), "-o", str(out), "--profile", "spectral2", "--rate", "3", "--tune", "perceptual", "-q") == 0
    assert tqa.Decoder(out.read_bytes()).header.settings.tune == "perceptual"
    assert main("encode", str(wav), "-o", str(tmp_path / "b.tqa"), "--profile", "time", "--tune", "perceptual", "-q") != 0
    assert not (tmp_path / "b.tqa").exists()


def test_streaming_encoder_gives_the_bytes_of_the_whole_stream_encoder():
    x = _music(SR // 2, 2, seed=11)
    want = _enc(x, rate=3.0)
    with sv2.Encoder(2, sample_rate=SR, rate=3.0, tune="perceptual") as enc:
        for lo in range(0, x.shape[0], 7001):
            enc.push(x[lo : lo + 7001])
        params, frames = enc.finish()
        assert (params, list(frames)) == (want[0], list(want[1]))


def test_quality_mode_is_refused_with_the_perceptual_tune():
    from tqa.profiles.spectral2 import Spectral2Settings

    with pytest.raises(ValueError, match="rate="):
        sv2.encode(_music(4096, 1), sample_rate=SR, quality=40.0, tune="perceptual")
    with pytest.raises(ValueError, match="rate="):
        Spectral2Settings(quality=40.0, tune="perceptual")


def test_flatness_gives_tonal_frames_finer_steps_noise_like_frames_alike():
    """The frame gain's tonality term (tqa.sv2.perceptual.frame_gains, ``tonal``): a frame of a
    few strong coefficients (a tone) gets a lower gain code (a finer step) than a noise frame of
    the same mean square; two noise-like frames (flatness above the -20 dB cap) get the same
    code; tonal=0 ignores the flatness."""
    rng = np.random.default_rng(11)
    N = 1024
    noise = rng.normal(size=N)
    shaped = noise * np.exp(-np.arange(N) / 300)  # a tilted noise: flatter than -20 dB still
    tone = np.zeros(N)
    tone[[40, 41, 90]] = (1.0, 0.5, 0.3)
    X = np.stack([v / np.sqrt(np.mean(v * v)) * 2**20 for v in (tone, noise, shaped)])[:, None, :]
    fl = perc.flatness(X) * 10 * np.log10(2)  # dB
    assert fl[0] < -40 and -20 < fl[2] < fl[1] < -3
    short = np.zeros(3, bool)
    g = perc.frame_gains(X, short, 0.6, 0.3, tonal=0.4)[:, 0]
    assert g[0] < g[1] - 5 and g[1] == g[2]
    g0 = perc.frame_gains(X, short, 0.6, 0.3, tonal=0.0)[:, 0]
    assert g0[0] == g0[1] == g0[2]


def test_tonal_setting_is_deterministic_and_round_trips():
    x = _music(SR // 2, 2, seed=12)
    a = _enc(x, rate=2.5)
    assert _enc(x, rate=2.5) == a
    b = _enc(x, rate=2.5, tonal=0.0)
    assert b != a  # the tonality term changes the frame gains the encoder picks
    for params, frames in (a, b):
        y = sv2.decode(params, frames)
        assert y.shape == x.shape and 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2)) > 15


def test_group_flatness_counts_the_band_above_a_low_nyquist_as_silent():
    """tqa.sv2.perceptual.group_flatness: equal groups read 0 dB at 44.1 and 48 kHz, one loud
    group far below; at 22.05 kHz the same equal groups span only half of 0..22.05 kHz and
    read peaked (below the lflat default)."""
    Eg = np.array([[4.0e10] * 16, [4.0e10] + [1.0e4] * 15])
    fl = perc.group_flatness(Eg, 44100) * 10 * np.log10(2)
    assert abs(fl[0]) < 1e-9 and fl[1] < -20
    assert np.allclose(perc.group_flatness(Eg, 48000), perc.group_flatness(Eg, 44100))
    lo = perc.group_flatness(Eg[:1], 22050)[0] * 10 * np.log10(2)
    assert lo < codec.Settings(rate=2.0).lflat < -3


def test_frames_of_a_flat_coarse_spectrum_use_lnoise():
    """frame_gains' ``lnoise``: a frame whose groups are within a few dB of each other (coarse
    flatness above lflat) gets its group codes from lnoise, a tilted one from lmask; short
    frames none; lnoise=None: lmask everywhere."""
    rng = np.random.default_rng(14)
    N = 1024
    gl = np.repeat(np.exp2(rng.uniform(-2, 2, N // 64)), 64)  # groups ±6 dB: flat coarsely
    tilt = np.repeat(np.exp2(-np.arange(N // 64) * 0.8), 64)  # 2.4 dB per group down
    X = np.stack([rng.normal(size=N) * e * 2**20 for e in (gl, tilt, gl)])[:, None, :]
    Eg = np.mean(X.reshape(3, -1, 64) ** 2, axis=2)
    fl = perc.group_flatness(Eg, SR) * 10 * np.log10(2)
    assert fl[0] > -16 > fl[1]
    short = np.array([False, False, True])
    g = perc.frame_gains(X, short, 0.6, 0.3, 0.4, lnoise=0.1, lflat=-16.0, sample_rate=SR)
    hi = perc.frame_gains(X, short, 0.6, 0.3, 0.4)
    lo = perc.frame_gains(X, short, 0.6, 0.1, 0.4)
    assert not np.array_equal(hi[0], lo[0]) and not np.array_equal(hi[1], lo[1])
    assert np.array_equal(g[0], lo[0]) and np.array_equal(g[1], hi[1])
    assert np.array_equal(g[:, 0], hi[:, 0]) and not g[2, 1:].any()  # frame gains untouched
    # at 22.05 kHz the first frame's groups span half the band: lmask
    g22 = perc.frame_gains(X, short, 0.6, 0.3, 0.4, lnoise=0.1, lflat=-16.0, sample_rate=22050)
    assert np.array_equal(g22[0], hi[0])


def test_lnoise_setting_changes_the_frames_and_round_trips():
    rng = np.random.default_rng(15)
    x = np.rint(rng.normal(size=(SR // 2, 2)) * 2**18)  # white noise: coarsely flat frames
    a = _enc(x, rate=2.5)
    b = _enc(x, rate=2.5, lnoise=None)
    assert b != a
    for params, frames in (a, b):
        y = sv2.decode(params, frames)
        assert y.shape == x.shape and 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2)) > 5


def test_error_before_an_attack_stays_below_the_signal():
    """A quiet tone, then a loud noise burst: in the 10 ms before the attack the coding error
    (pre-echo) stays below the quiet signal there."""
    rng = np.random.default_rng(13)
    n, at = SR // 2, SR // 4 + 300
    t = np.arange(n) / SR
    x = 0.002 * np.sin(2 * np.pi * 330 * t)
    x[at:] += 0.5 * rng.normal(size=n - at) * np.exp(-np.arange(n - at) / 3000)
    g = np.rint(x * 2**23)[:, None]
    params, frames = _enc(g, rate=2.0)
    y = sv2.decode(params, frames)
    pre = slice(at - SR // 100, at)
    assert np.mean((g[pre] - y[pre]) ** 2) < 0.5 * np.mean(g[pre] ** 2)


def _stop(into_silence: bool = False):
    """A loud tone cut off mid-frame (hop 1024, frame 10) into 1-LSB noise (or digital silence)."""
    rng = np.random.default_rng(16)
    n, stop = SR // 2, 10 * 1024 + 600
    t = np.arange(n) / SR
    x = np.where(np.arange(n) < stop, 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.normal(size=n), 0.0)
    g = np.rint(x * 2**23)
    if not into_silence:
        g[stop:] = np.rint(rng.normal(size=n - stop) * 256)  # RMS 1 LSB of 16-bit audio
    return g[:, None], stop


def test_detect_releases_finds_a_hard_stop_not_a_fade_silence_or_the_end():
    e = np.full(8 * 8, 1e9)
    e[3 * 8 + 5 :] = 1e4  # frame 3, sub-block 4 the last loud one
    assert np.flatnonzero(codec.detect_releases(e, 100.0, e.size)).tolist() == [3]
    assert not codec.detect_releases(e, 100.0, 3 * 8 + 5 + 7).any()  # its quiet reaches past the signal
    z = e.copy()
    z[3 * 8 + 9] = 0.0  # one digitally silent sub-block after it: the silence maps' case
    assert not codec.detect_releases(z, 100.0, e.size).any()
    f = np.full(8 * 8, 1e9) * 0.7 ** np.arange(64)  # a fade: 8 sub-blocks fall ~12 dB
    assert not codec.detect_releases(f, 100.0, e.size).any()
    last = e.copy()
    last[: 3 * 8 + 8] = 1e9
    last[3 * 8 + 8 :] = 1e4  # the stop in a frame's last sub-block: the next frame's overlap holds it too
    assert np.flatnonzero(codec.detect_releases(last, 100.0, e.size)).tolist() == [3, 4]


def test_hard_stop_gets_short_blocks_and_less_post_echo():
    """loops_sonicpi at 21.1 s: a long block over a hard stop spread its noise into the 1-LSB
    quiet after it; tune=perceptual codes that frame in short blocks (sqnr: unchanged)."""
    g, stop = _stop()
    f = stop // 1024
    a = _enc(g, rate=3.0, hop=1024)
    b = _enc(g, rate=3.0, hop=1024, release=0.0)
    assert a[1][f][0] & 1 and not b[1][f][0] & 1  # frame header bit 0: short blocks
    assert not sv2.encode(g, rate=3.0, sample_rate=SR, hop=1024)[1][f][0] & 1
    after = slice(stop + 64, stop + SR // 50)  # 20 ms after the cut, past a short block's overlap
    err = [np.mean((g[after] - sv2.decode(*s)[after]) ** 2) for s in (a, b)]
    assert err[0] < 0.25 * err[1]


def test_stop_into_digital_silence_keeps_its_long_block():
    g, stop = _stop(into_silence=True)
    f = stop // 1024
    a = _enc(g, rate=3.0, hop=1024)
    assert not a[1][f][0] & 1
    assert a == _enc(g, rate=3.0, hop=1024, release=0.0)


def test_hard_stop_streams_and_engines_agree(monkeypatch):
    """The stop test looks 8 sub-blocks ahead: a stream pushed in pieces, and the encoder without
    the compiled loops, write the bytes of the whole-array encoder."""
    from tqa.sv2 import _jit

    g, stop = _stop()
    want = _enc(g, rate=3.0, hop=1024)
    assert want[1][stop // 1024][0] & 1
    with sv2.Encoder(1, sample_rate=SR, rate=3.0, hop=1024, tune="perceptual") as enc:
        for lo in range(0, g.shape[0], 5003):
            enc.push(g[lo : lo + 5003])
        params, frames = enc.finish()
        assert (params, list(frames)) == (want[0], list(want[1]))
    if _jit.AVAILABLE:
        monkeypatch.setattr(_jit, "AVAILABLE", False)
        assert _enc(g, rate=3.0, hop=1024) == want
