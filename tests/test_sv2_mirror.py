"""spectral2 reading a 16-bit PCM WAV's samples back from the input file (sv2._Spool.mirror,
tqa.stream.Encoder.mirror_input, tqa.audio's data-chunk walk) instead of spooling a copy: the
same bytes as the copy, a fallback to the copy wherever the file's bytes are not the samples,
and an error where the file changes during the encode."""

from __future__ import annotations

import hashlib
import os
import struct

import numpy as np
import pytest
import soundfile as sf

import tqa
from tqa import audio, sv2
from tqa.profiles.base import InputChanged

SR = 44100


def _samples(n: int = 3 * SR // 2, channels: int = 2, seed: int = 0) -> np.ndarray:
    """int16 tones, noise and an attack (short frames)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None] / SR
    x = 6000 * np.sin(2 * np.pi * 330 * (1 + np.arange(channels)) * t) + 300 * rng.normal(size=(n, channels))
    x[n // 2 : n // 2 + 300] += rng.normal(0, 12000, (300, channels))
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


@pytest.fixture
def seals(monkeypatch):
    """(mirrored, bytes spooled) of every spool sealed while the test runs."""
    seen, real = [], sv2._Spool.seal

    def spy(self):
        seen.append((self.mirrored, os.fstat(self._f.fileno()).st_size))
        real(self)

    monkeypatch.setattr(sv2._Spool, "seal", spy)
    return seen


def _encode(src, dst, **kw) -> bytes:
    audio.encode_file(src, dst, profile="spectral2", rate=3.0, **kw)
    return dst.read_bytes()


def _copied(src, tmp_path, monkeypatch) -> bytes:
    """The stream of the spooled-copy path (no mirroring)."""
    with monkeypatch.context() as m:
        m.setattr(audio, "_mirror_wav", lambda *a: None)
        return _encode(src, tmp_path / "copied.tqa")


def _offset(path, channels: int) -> int | None:
    with open(path, "rb") as raw:
        return audio.pcm16_data_offset(raw, channels)


def _riff(chunks: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(cid + struct.pack("<I", len(b)) + b + b"\0" * (len(b) & 1) for cid, b in chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def _fmt(channels: int, bits: int = 16, tag: int = 1) -> bytes:
    return struct.pack("<HHIIHH", tag, channels, SR, SR * channels * bits // 8, channels * bits // 8, bits)


@pytest.mark.parametrize("kind", ["plain", "mono", "tags", "wavex", "odd_chunk"])
def test_a_pcm16_wav_is_read_back_from_itself(kind, tmp_path, monkeypatch, seals):
    """A 16-bit WAV (plain, mono, with a tags chunk, WAVE_FORMAT_EXTENSIBLE, an odd-sized chunk
    before its data) is encoded without a spooled copy, to the bytes of the copy's path; the
    input is left as it was."""
    x = _samples(channels=1 if kind == "mono" else 2)
    src = tmp_path / "in.wav"
    if kind == "odd_chunk":  # a 3-byte chunk (padded to 4) between fmt and data
        src.write_bytes(_riff([(b"fmt ", _fmt(2)), (b"odd ", b"abc"), (b"data", x.astype("<i2").tobytes())]))
        assert _offset(src, 2) == 12 + 24 + 12 + 8
    else:
        sf.write(src, x, SR, subtype="PCM_16", format="WAVEX" if kind == "wavex" else "WAV")
        if kind == "tags":
            with sf.SoundFile(src, "r+") as f:
                f.title, f.artist = "a title", "an artist" * 20
    before = (hashlib.sha256(src.read_bytes()).hexdigest(), os.stat(src).st_mtime_ns)
    got = _encode(src, tmp_path / "out.tqa")
    assert seals == [(True, 0)]  # mirrored: nothing spooled
    assert got == _copied(src, tmp_path, monkeypatch) and seals[1] == (False, x.nbytes)
    assert (hashlib.sha256(src.read_bytes()).hexdigest(), os.stat(src).st_mtime_ns) == before


@pytest.mark.parametrize("kind", ["rf64", "float", "pcm24", "wrong_offset", "fmt_lies"])
def test_other_inputs_are_spooled_as_they_come(kind, tmp_path, monkeypatch, seals):
    """RF64, float and 24-bit WAVs are not mirrored; a data offset that is wrong (its bytes are not
    the samples soundfile reads) falls back to the spool at the first write: the same bytes."""
    x = _samples()
    src = tmp_path / "in.wav"
    fmt = {"rf64": ("RF64", "PCM_16"), "float": ("WAV", "FLOAT"), "pcm24": ("WAV", "PCM_24")}.get(kind, ("WAV", "PCM_16"))
    sf.write(src, x if fmt[1] == "PCM_16" else x / 32768.0, SR, subtype=fmt[1], format=fmt[0])
    if kind == "wrong_offset":
        monkeypatch.setattr(audio, "pcm16_data_offset", lambda raw, ch: 46)
    if kind == "fmt_lies":  # a fmt chunk of another channel count than soundfile reports: no offset
        assert _offset(src, 1) is None
        monkeypatch.setattr(audio, "pcm16_data_offset", lambda raw, ch, real=audio.pcm16_data_offset: real(raw, 1))
    got = _encode(src, tmp_path / "out.tqa")
    spooled = x.nbytes if kind in ("rf64", "wrong_offset", "fmt_lies") else None
    assert len(seals) == 1 and not seals[0][0] and (spooled is None or seals[0][1] == spooled)
    if kind in ("rf64", "wrong_offset", "fmt_lies"):
        assert _offset(src, 2) is None or kind == "wrong_offset"
        assert got == _copied(src, tmp_path, monkeypatch)


def test_data_offset_walk():
    """pcm16_data_offset: the data chunk after a 16-bit PCM fmt (plain or extensible), else None."""
    import io

    guid = struct.pack("<H", 1) + bytes.fromhex("000000001000800000aa00389b71")
    ext = _fmt(2, tag=0xFFFE) + struct.pack("<HHI", 22, 16, 3) + guid
    cases = [
        (_riff([(b"fmt ", _fmt(2)), (b"data", b"\0" * 8)]), 2, 44),
        (_riff([(b"JUNK", b"\0" * 5), (b"fmt ", _fmt(2)), (b"data", b"\0" * 8)]), 2, 12 + 14 + 24 + 8),
        (_riff([(b"fmt ", ext), (b"data", b"\0" * 8)]), 2, 12 + 48 + 8),
        (_riff([(b"fmt ", ext[:-1] + b"\1"), (b"data", b"\0" * 8)]), 2, None),  # another subformat
        (_riff([(b"fmt ", _fmt(2)), (b"data", b"\0" * 8)]), 1, None),  # other channels
        (_riff([(b"fmt ", _fmt(2, 24)), (b"data", b"\0" * 8)]), 2, None),  # 24-bit
        (_riff([(b"fmt ", _fmt(2, tag=3)), (b"data", b"\0" * 8)]), 2, None),  # float
        (_riff([(b"data", b"\0" * 8), (b"fmt ", _fmt(2))]), 2, None),  # data before fmt
        (_riff([(b"fmt ", _fmt(2))]), 2, None),  # no data
        (b"RIFX" + _riff([(b"fmt ", _fmt(2)), (b"data", b"")])[4:], 2, None),
        (b"RIFF\0\0", 2, None),
    ]
    for blob, ch, want in cases:
        assert audio.pcm16_data_offset(io.BytesIO(blob), ch) == want


def _raw(tmp_path, x: np.ndarray, head: int = 10):
    p = tmp_path / "raw.bin"
    p.write_bytes(b"h" * head + x.astype("<i2").tobytes())
    return p


def _spooled(x: np.ndarray, pushes) -> tuple:
    with sv2.Encoder(x.shape[1], rate=3.0, sample_rate=SR) as enc:
        for how, part in pushes:
            getattr(enc, how)(part)
        params, frames = enc.finish()
        return params, list(frames)


def test_mirror_falls_back_where_the_pushes_differ(tmp_path):
    """sv2.Encoder.mirror: pushes that stop matching the file (other samples, grid samples) copy the
    file's rows so far into the spool and go on spooling: the bytes of spooling them all.  The
    first CHECK_ALL rows are compared whole (one sample off in them is seen), later pushes at
    their ends."""
    x = _samples(2 * SR)
    y, z, w = x.copy(), x.copy(), x.copy()
    y[SR + 5 :] //= 2
    z[-1, 1] += 1  # the last sample of a push beyond the first CHECK_ALL rows
    w[50000, 0] += 1  # one sample inside the first CHECK_ALL rows
    assert sv2._Spool.CHECK_ALL < 70000 < x.shape[0] - 2 * sv2._Spool.CHECK_ROWS
    p = _raw(tmp_path, x)
    a = 40000
    for stays, pushes in ((True, [("push_int16", x[:a]), ("push_int16", x[a:])]),
                          (True, [("push_int16", x[:70000]), ("push_int16", x[70000:])]),
                          (False, [("push_int16", x[:a]), ("push_int16", y[a:])]),
                          (False, [("push_int16", x[:70000]), ("push_int16", z[70000:])]),
                          (False, [("push_int16", w[:a]), ("push_int16", w[a:])]),
                          (False, [("push_int16", x[:a]), ("push", 256.0 * x[a:])]),
                          (False, [("push_int16", x[:a]), ("push_int16", x[a + 1 :])])):  # fmt: skip
        with sv2.Encoder(2, rate=3.0, sample_rate=SR) as enc, open(p, "rb") as f:
            assert enc.mirror(f.fileno(), 10)
            for how, part in pushes:
                getattr(enc, how)(part)
            mirrored = enc._src.mirrored
            params, frames = enc.finish()
            assert (params, list(frames)) == _spooled(x, pushes)
        assert mirrored == stays
    with sv2.Encoder(2, rate=3.0, sample_rate=SR) as enc, open(p, "rb") as f:
        enc.push_int16(x[:10])
        assert not enc.mirror(f.fileno(), 10)  # samples first: not mirrored
    enc = tqa.Encoder(open(tmp_path / "o.tqa", "wb"), SR, 2, profile="spectral2", source_format="int16")
    enc.write(x[:10])
    with pytest.raises(ValueError, match="first write"), open(p, "rb") as f:
        enc.mirror_input(f.fileno(), 10)
    enc.close()


@pytest.mark.parametrize("change", ["append", "touch", "rewrite"])
def test_a_mirrored_file_that_changes_is_an_error(change, tmp_path):
    """A mirrored file whose size, modification or status-change time changes before the coding
    passes are done: InputChanged (a ValueError), not a stream of other samples."""
    x = _samples()
    p = _raw(tmp_path, x)
    with sv2.Encoder(2, rate=3.0, sample_rate=SR) as enc, open(p, "rb") as f:
        assert enc.mirror(f.fileno(), 10)
        enc.push_int16(x)
        if change == "append":
            with open(p, "ab") as w:
                w.write(b"\0\0\0\0")
        elif change == "touch":
            st = os.stat(p)
            os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # the same mtime, a new ctime
        else:
            with open(p, "r+b") as w:
                w.seek(20)
                w.write(b"\1\2")
        with pytest.raises(InputChanged, match="changed"):
            enc.finish()


def test_encode_file_names_an_input_that_changed(tmp_path, monkeypatch):
    """tqa.audio.encode_file: an input changed while it is read back is an AudioError naming it,
    and no output is left."""
    src = tmp_path / "in.wav"
    sf.write(src, _samples(), SR, subtype="PCM_16")
    real = sv2._Spool.seal

    def seal(self):
        with open(src, "ab") as w:
            w.write(b"\0\0")
        real(self)

    monkeypatch.setattr(sv2._Spool, "seal", seal)
    with pytest.raises(audio.AudioError, match="in.wav: .*changed during the encode"):
        audio.encode_file(src, tmp_path / "out.tqa", profile="spectral2", rate=3.0)
    assert not (tmp_path / "out.tqa").exists()
