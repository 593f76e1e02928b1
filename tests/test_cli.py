"""End-to-end tests of the installed commands, in subprocesses, on files written here."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import tqa

TQA = shutil.which("tqa")
pytestmark = pytest.mark.skipif(TQA is None, reason="the tqa command is not installed")


def run(*args, ok=True, cmd="tqa", **kw):
    p = subprocess.run([shutil.which(cmd), *map(str, args)], capture_output=True, text=True, **kw)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def write(path, frames, channels, subtype, sr=44100, seed=0):
    x = np.random.default_rng(seed).normal(0, 0.15, (frames, channels)).clip(-1, 1)
    sf.write(str(path), x, sr, subtype=subtype)
    return sf.read(str(path), dtype="float64", always_2d=True)[0]


CASES = [
    ("a16.wav", "PCM_16", 1, 44100, 10007),
    ("a24.wav", "PCM_24", 2, 48000, 5001),
    ("af.wav", "FLOAT", 6, 22050, 3000),
    ("a.flac", "PCM_16", 2, 8000, 4097),
    ("a24.flac", "PCM_24", 1, 96000, 777),
]


@pytest.mark.parametrize("name, subtype, channels, sr, frames", CASES)
def test_encode_decode_preserves_format(tmp_path, name, subtype, channels, sr, frames):
    src = tmp_path / name
    x = write(src, frames, channels, subtype, sr)
    run("encode", src, tmp_path / "a.tqa", "--quiet")
    out = tmp_path / ("out" + src.suffix)
    run("decode", tmp_path / "a.tqa", out, "--quiet")
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (sr, channels, frames, subtype)
    assert info.format == sf.info(str(src)).format
    y = sf.read(str(out), dtype="float64", always_2d=True)[0]
    snr = 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2))
    assert snr > 36


def test_subtype_override_and_format_by_extension(tmp_path):
    write(tmp_path / "a.wav", 3000, 2, "FLOAT")
    run("encode", tmp_path / "a.wav", tmp_path / "a.tqa")
    run("decode", tmp_path / "a.tqa", tmp_path / "o.flac")  # float source -> FLAC keeps 24 bits
    assert sf.info(str(tmp_path / "o.flac")).subtype == "PCM_24"
    run("decode", tmp_path / "a.tqa", tmp_path / "o.wav", "--subtype", "PCM_16")
    assert sf.info(str(tmp_path / "o.wav")).subtype == "PCM_16"
    p = run("decode", tmp_path / "a.tqa", tmp_path / "p.flac", "--subtype", "FLOAT", ok=False)
    assert p.returncode == 2 and "FLOAT" in p.stderr and not (tmp_path / "p.flac").exists()


def test_decode_range_reads_seconds(tmp_path):
    write(tmp_path / "a.wav", 44100 * 3, 2, "PCM_16")
    run("encode", tmp_path / "a.wav", tmp_path / "a.tqa")
    run("decode", tmp_path / "a.tqa", tmp_path / "part.wav", "--start", "1.5", "--duration", "0.5")
    full = tqa.decode((tmp_path / "a.tqa").read_bytes(), dtype="int16")[0]
    part = sf.read(str(tmp_path / "part.wav"), dtype="int16")[0]
    np.testing.assert_array_equal(part, full[66150:88200])


def test_json_outputs_are_json_only(tmp_path):
    write(tmp_path / "a.wav", 5000, 2, "PCM_16")
    enc = json.loads(run("encode", tmp_path / "a.wav", tmp_path / "a.tqa", "--json").stdout)
    assert enc["frames"] == 5000 and enc["channels"] == 2
    inf = json.loads(run("info", tmp_path / "a.tqa", "--json").stdout)
    assert inf["bytes"] == os.path.getsize(tmp_path / "a.tqa")
    assert inf["ratio"] == pytest.approx(5000 * 2 * 2 / inf["bytes"])
    r = json.loads(run("run", "-i", tmp_path / "a.wav", "-o", tmp_path / "b.wav", "--json").stdout)
    assert r["sqnr_db"] > 36 and len(r["sqnr_db_per_channel"]) == 2
    c = json.loads(run("compare", "-f1", tmp_path / "a.wav", "-f2", tmp_path / "b.wav", "--json").stdout)
    assert c["sqnr_db"] == pytest.approx(r["sqnr_db"], abs=1e-6)
    for key in ("mse", "segmental_snr_db", "correlation", "peak_delta", "envelope_correlation", "log_spectral_distance_db"):
        assert key in c
    eng = json.loads(run("engines", "--json").stdout)
    assert set(eng["engines"]) >= {"numpy", "scipy", "tiled"}


def test_run_report_and_keep(tmp_path):
    write(tmp_path / "a.wav", 20000, 2, "PCM_16")
    p = run("run", "-i", tmp_path / "a.wav", "-o", tmp_path / "b.wav", "--keep", tmp_path / "k.tqa", "--backend", "tiled")
    for word in ("ratio", "bits/sample", "SQNR", "per channel", "real time"):
        assert word in p.stdout
    assert (tmp_path / "k.tqa").exists() and sf.info(str(tmp_path / "b.wav")).frames == 20000
    assert run("run", "-i", tmp_path / "a.wav", "-o", tmp_path / "c.wav", "--quiet").stdout == ""


def test_seed_entry_points(tmp_path):
    write(tmp_path / "a.wav", 8000, 2, "PCM_16")
    p = run("run", "-i", tmp_path / "a.wav", "-o", tmp_path / "b.wav", cmd="tqa-cli")
    assert "SQNR" in p.stdout
    p = run("compare", "-f1", tmp_path / "a.wav", "-f2", tmp_path / "b.wav", cmd="tqa-cli")
    assert "correlation" in p.stdout and "envelope" in p.stdout
    p = run("--type", "square", "--frequency", "440", "--duration", "2.0", "--spikes", "5", cmd="tqa-sim")
    assert "SQNR" in p.stdout and p.stdout.count("->") == 5


@pytest.mark.parametrize("kind", ["sine", "square", "noise", "transient", "chirp", "hadamard"])
def test_sim_writes_and_reports(tmp_path, kind):
    run("sim", "--type", kind, "-o", tmp_path / "s.wav", "--sr", 16000, "--duration", 0.5)
    assert sf.info(str(tmp_path / "s.wav")).frames == 8000
    rep = json.loads(run("sim", "--type", kind, "--json").stdout)
    assert rep["sqnr_db"] > 30


def test_demo_runs_without_input(tmp_path):
    p = run("demo", cwd=tmp_path)
    assert "SQNR" in p.stdout and "ratio" in p.stdout
    assert list(tmp_path.iterdir()) == []
    run("demo", "--output", tmp_path / "d", "--quiet")
    assert {f.name for f in (tmp_path / "d").iterdir()} == {"demo.wav", "demo.tqa", "demo_decoded.wav"}


def test_plot_or_hint(tmp_path):
    write(tmp_path / "a.wav", 8000, 1, "PCM_16")
    run("run", "-i", tmp_path / "a.wav", "-o", tmp_path / "b.wav")
    p = run("compare", "-f1", tmp_path / "a.wav", "-f2", tmp_path / "b.wav", "--plot", tmp_path / "r.png", ok=False)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert p.returncode == 2 and "pip install 'tqa[plot]'" in p.stderr
    else:
        assert p.returncode == 0 and (tmp_path / "r.png").stat().st_size > 1000


BAD = [
    (["encode", "{a}", "{d}/x.tqa", "--bits", "9"], "--bits"),
    (["encode", "{a}", "{d}/x.tqa", "--bits", "4x"], "--bits"),
    (["encode", "{a}", "{d}/x.tqa", "--block-size", "500"], "--block-size"),
    (["encode", "{a}", "{d}/x.tqa", "--engine", "nope"], "--engine"),
    (["encode", "{a}", "{d}/x.tqa", "--residual", "qj"], "--residual"),
    (["encode", "{a}", "{d}/x.tqa", "--bitz", "3"], "--bitz"),
    (["decode", "{t}", "{d}/x.wav", "--duration", "-1"], "--duration"),
    (["decode", "{t}", "{d}/x.wav", "--start", "-2"], "--start"),
    (["encode", "{d}/missing.wav", "{d}/x.tqa"], "missing.wav"),
    (["encode", "{d}", "{d}/x.tqa"], "directory"),
    (["encode", "{txt}", "{d}/x.tqa"], "notes.txt"),
    (["decode", "{a}", "{d}/x.wav"], "not a .tqa file"),
    (["decode", "{bad}", "{d}/x.wav"], "frame 1"),
    (["decode", "{t}", "{d}/x.mp9"], "extension"),
    (["encode", "{a}", "{a}"], "over the input"),
    (["encode", "{a}", "{d}/nofolder/x.tqa"], "does not exist"),
    (["info", "{a}"], "not a .tqa file"),
    (["compare", "-f1", "{a}", "-f2", "{other_rate}"], "sample rates differ"),
    (["compare", "-f1", "{a}", "-f2", "{stereo}"], "channel counts differ"),
    (["sim", "--type", "triangle"], "--type"),
    (["run", "-o", "{d}/x.wav"], "-i INPUT"),
]


@pytest.fixture
def files(tmp_path):
    f = {"d": tmp_path, "a": tmp_path / "a.wav", "t": tmp_path / "a.tqa", "txt": tmp_path / "notes.txt",
         "bad": tmp_path / "bad.tqa", "other_rate": tmp_path / "r.wav", "stereo": tmp_path / "s.wav"}  # fmt: skip
    write(f["a"], 20000, 1, "PCM_16")
    write(f["other_rate"], 1000, 1, "PCM_16", sr=8000)
    write(f["stereo"], 1000, 2, "PCM_16")
    f["txt"].write_text("hello")
    run("encode", f["a"], f["t"])
    data = bytearray(f["t"].read_bytes())
    h = tqa.Decoder(bytes(data)).header
    data[h.frame_offset(1) + 10] ^= 0xFF
    f["bad"].write_bytes(bytes(data))
    return f


@pytest.mark.parametrize("args, needle", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_one_line_exit_2_no_output(files, args, needle):
    before = {p.name: p.stat().st_mtime_ns for p in files["d"].iterdir()}
    p = run(*[a.format(**files) for a in args], ok=False)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tqa: error:") and needle in lines[0], p.stderr
    assert "Traceback" not in p.stderr
    after = {p.name: p.stat().st_mtime_ns for p in files["d"].iterdir()}
    assert after == before  # nothing written, nothing clobbered, no temp files left


def test_failed_decode_keeps_existing_output(files):
    out = files["d"] / "keep.wav"
    out.write_bytes(b"precious")
    p = run("decode", files["bad"], out, ok=False)
    assert p.returncode == 2 and out.read_bytes() == b"precious"
    assert not [f for f in files["d"].iterdir() if f.name.endswith(".part")]


def test_interrupted_encode_leaves_nothing(tmp_path):
    """Kill an encode midway: no partial output, the old file is intact."""
    src = tmp_path / "long.wav"
    write(src, 44100 * 60, 2, "PCM_16")
    out = tmp_path / "o.tqa"
    out.write_bytes(b"old")
    code = (
        "import sys, tqa.audio as a, tqa.api as api\n"
        "orig = api.Encoder._put\n"
        "def boom(self, x):\n"
        "    orig(self, x)\n"
        "    if x: raise KeyboardInterrupt\n"
        "api.Encoder._put = boom\n"
        "from tqa.cli import main\n"
        f"main(['encode', {str(src)!r}, {str(out)!r}])\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 130, p.stderr
    assert out.read_bytes() == b"old"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["long.wav", "o.tqa"]


def test_hostile_tqa_files(tmp_path, files):
    good = files["t"].read_bytes()
    cases = {
        "empty.tqa": (b"", "too short"),
        "future.tqa": (good[:4] + b"\x02" + good[5:], "version 2 is not supported"),
        "profile.tqa": (good[:5] + b"\x09" + good[6:], "unknown profile 9"),
        "short.tqa": (good[: len(good) // 2], "truncated"),
    }
    for name, (data, needle) in cases.items():
        (tmp_path / name).write_bytes(data)
        for cmd in ("decode", "info"):
            args = [cmd, tmp_path / name] + ([tmp_path / "o.wav"] if cmd == "decode" else [])
            p = run(*args, ok=False)
            if cmd == "info" and name == "short.tqa":  # the header is intact: shown, with the problem
                assert p.returncode == 0 and needle in p.stderr and name in p.stderr, p.stderr
                continue
            assert p.returncode == 2 and needle in p.stderr and name in p.stderr, p.stderr
    assert not (tmp_path / "o.wav").exists()


def test_verify_and_recover(files):
    p = run("verify", files["t"])
    assert "all CRCs match" in p.stdout
    p = run("verify", files["bad"], ok=False)
    assert p.returncode == 1 and "frame 1" in p.stdout and "CRC" in p.stdout
    rep = json.loads(run("verify", files["bad"], "--json", ok=False).stdout)
    assert rep["ok"] is False and [d["frame"] for d in rep["damaged"]] == [1]
    out = files["d"] / "rec.wav"
    p = run("decode", files["bad"], out, "--recover")
    assert "frame 1" in p.stderr and "silence" in p.stderr
    y = sf.read(str(out), dtype="int16")[0]
    ref = tqa.decode(files["t"].read_bytes(), dtype="int16")[0]
    assert y.shape == ref.shape and not y[4096:8192].any()
    np.testing.assert_array_equal(y[:4096], ref[:4096])
    np.testing.assert_array_equal(y[8192:], ref[8192:])


def _main(args, capsys):
    from tqa.cli import main

    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    return e.value.code, capsys.readouterr().err


def test_read_only_folder_and_full_disk(tmp_path, files, monkeypatch, capsys):
    """Simulated: a folder we may not write in, and a disk that fills up mid-write."""
    import errno
    import tempfile

    import tqa.api
    import tqa.audio

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    code, err = _main(["encode", files["a"], tmp_path / "ro.tqa"], capsys)
    assert code == 2 and "cannot write in" in err and "Permission denied" in err
    monkeypatch.undo()

    target = tmp_path / "full.tqa"
    target.write_bytes(b"previous")
    orig = tqa.api.Encoder._put

    def full(self, x):
        orig(self, x)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tqa.api.Encoder, "_put", full)
    code, err = _main(["encode", files["a"], target], capsys)
    assert code == 2 and "full.tqa" in err and "No space left" in err
    assert target.read_bytes() == b"previous"
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".part")]


def test_progress_bar_only_on_a_terminal(monkeypatch):
    from tqa import cli

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    bar = cli._Progress(100, "encode", quiet=False)
    assert bar.bar is not None and bar.bar.delay == 1.0  # shown only after about a second
    bar(50)
    assert bar.bar.n == 50
    bar.close()
    assert cli._Progress(100, "encode", quiet=True).bar is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert cli._Progress(100, "encode", quiet=False).bar is None
