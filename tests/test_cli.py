"""The ``tqa`` command line, in process through ``tqa.cli.main(argv)`` (exit status, stdout, stderr).

Real subprocess and terminal runs (entry points, pipes, signals) are in test_cli_smoke.py.
"""

import errno
import fcntl
import json
import os
import stat
import threading

import numpy as np
import pytest
import soundfile as sf

import tqa
from tqa import audio, cli


def write(path, frames, channels, subtype, sr=44100, seed=0, **kw):
    x = np.random.default_rng(seed).normal(0, 0.15, (frames, channels)).clip(-1, 1)
    sf.write(str(path), x, sr, subtype=subtype, **kw)
    return sf.read(str(path), dtype="float64", always_2d=True)[0]


class Result:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    @property
    def json(self):
        return json.loads(self.out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))


@pytest.fixture
def tqa_cli(capsys):
    def call(*args, ok=True):
        with pytest.raises(SystemExit) as e:
            cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        r = Result(e.value.code, out, err)
        if ok:
            assert r.code == 0, r.err
        return r

    return call


def _main(args):
    with pytest.raises(SystemExit) as e:
        cli.main([str(a) for a in args])
    return e.value.code


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    f = {"d": d, "a": d / "a.wav", "t": d / "a.tqa", "txt": d / "notes.txt", "bad": d / "bad.tqa",
         "other_rate": d / "r.wav", "stereo": d / "s.wav", "trunc": d / "trunc.tqa", "many": d / "many.tqa",
         "hi": d / "hi.tqa", "wide": d / "wide.tqa", "sym": d / "sym.tqa", "hard": d / "hard.tqa",
         "ten": d / "ten.tqa"}  # fmt: skip
    write(f["a"], 20000, 1, "PCM_16")
    write(f["other_rate"], 1000, 1, "PCM_16", sr=8000)
    write(f["stereo"], 1000, 2, "PCM_16")
    f["txt"].write_text("hello")
    audio.encode_file(f["a"], f["t"], profile="time")  # time-profile frames: 4096 samples each
    data = bytearray(f["t"].read_bytes())
    h = tqa.Decoder(bytes(data)).header
    data[h.frame_offset(1) + 10] ^= 0xFF
    f["bad"].write_bytes(bytes(data))
    x = np.random.default_rng(1).normal(0, 0.1, (44100, 2)).astype(np.float32)
    long = tqa.encode(x, 44100, profile="time")
    f["many"].write_bytes(long)
    f["trunc"].write_bytes(long[: len(long) // 3])
    f["hi"].write_bytes(tqa.encode(x[:3000], 256000, profile="time"))
    f["wide"].write_bytes(tqa.encode(np.zeros((10, 1100), np.float32), 48000, profile="time"))
    f["ten"].write_bytes(tqa.encode(np.zeros((100, 10), np.float32), 48000, profile="time"))
    os.symlink(f["a"], f["sym"])
    os.link(f["a"], f["hard"])
    return f


def snapshot(d):
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in d.iterdir()}


BAD = [
    (["encode", "{a}", "-o", "{out}/x.tqa", "--bits", "9"], "--bits"),
    (["encode", "{a}", "-o", "{out}/x.tqa", "--bits", "4x"], "--bits"),
    (["encode", "{a}", "-o", "{out}/x.tqa", "--block-size", "500"], "--block-size"),
    (["encode", "{a}", "-o", "{out}/x.tqa", "--engine", "nope"], "--engine"),
    (["encode", "{a}", "-o", "{out}/x.tqa", "--residual", "qj"], "choose from"),
    (["encode", "{a}", "-o", "{out}/x.tqa", "--bitz", "3"], "did you mean --bits"),
    (["encode", "{a}", "-o", "{out}/x.tqa", "--profile", "spectral", "--bits", "4"], "--bits applies to --profile time, not --profile spectral"),
    (["encode", "{a}", "-o", "{out}/x.tqa", "--profile", "time", "--rate", "3"], "--rate applies to --profile spectral"),
    (["encode", "{a}", "-o", "{out}/x.tqa", "--bits", "4", "--hop", "2048"], "no profile takes all of --bits (time), --hop (spectral or spectral2)"),
    (["run", "-i", "{a}", "-o", "{out}/x.wav", "--rate", "3"], "--rate applies to --profile spectral or spectral2, not --profile time"),
    (["encode", "{a}", "-o", "{out}/x.tqa", "--profile", "spectral", "--rate", "3", "--quality", "40"], "not both"),
    (["encode", "{a}", "-o", "{out}/x.tqa", "--profile", "spectral", "--rate", "40"], "--rate"),
    (["encode", "{a}", "-o", "{out}/x.tqa", "--profile", "mdct"], "'time', 'spectral'"),
    (["encode", "{a}", "-o", "{out}/x.tqa", "--hop", "300"], "256, 512, 1024, 2048"),
    (["encode", "{d}/missing.wav", "-o", "{out}/x.tqa"], "missing.wav: no such file"),
    (["encode", "{d}", "-o", "{out}/x.tqa"], "directory"),
    (["encode", "{txt}", "-o", "{out}/x.tqa"], "notes.txt: not a readable audio file"),
    (["encode", "{a}", "-o", "{out}/x.wav"], "encode writes .tqa files only"),
    (["encode", "{a}", "{out}/x.tqa", "{out}/y.tqa"], "-o"),
    (["encode", "{a}", "-o", "{t}"], "already exists; use -f/--force"),
    (["encode", "{a}", "-f", "-o", "{sym}"], "is the input"),
    (["encode", "{a}", "-f", "-o", "{hard}"], "is the input"),
    (["encode", "{a}", "{stereo}", "-o", "{out}/x.tqa"], "must be an existing folder"),
    (["encode", "{a}", "-o", "{out}/nofolder/x.tqa"], "does not exist"),
    (["encode", "{a}", "{d}/1.50"], "no such file; encode writes NAME.tqa"),
    (["decode", "{t}", "-o", "{out}/x.wav", "--duration", "-1"], "--duration"),
    (["decode", "{t}", "-o", "{out}/x.wav", "--start", "-2"], "--start"),
    (["decode", "{t}", "-o", "{out}/x.wav", "--start", "1e308"], "beyond any stream"),
    (["decode", "{t}", "-o", "{out}/x.wav", "--start", "1:75"], "below 60"),
    (["decode", "{a}", "-o", "{out}/x.wav"], "not a .tqa file"),
    (["decode", "{bad}", "-o", "{out}/x.wav"], "frame 1"),
    (["decode", "{trunc}", "-o", "{out}/x.wav"], "truncated"),
    (["decode", "{t}", "-o", "{out}/x.mp9"], "extension"),
    (["decode", "{t}", "-o", "{a}"], "already exists"),
    (["decode", "{t}", "-f", "-o", "{t}"], "is the input"),
    (["decode", "{t}", "-o", "{out}/x.ogg", "--subtype", "OPUS"], "nearest: 48000"),
    (["decode", "{t}", "-o", "{out}/x.flac", "--subtype", "FLOAT"], "nearest: PCM_24"),
    (["decode", "{ten}", "-o", "{out}/x.flac"], "FLAC holds at most 8 channels"),
    (["decode", "{wide}", "-o", "{out}/x.wav"], "at most 1024"),
    (["decode", "{hi}", "-o", "{out}/x.ogg"], "Vorbis holds rates up to 200000"),
    (["decode", "{t}", "-o", "{out}/x.wav", "--format", "mp3"], "choose from"),
    (["info", "{a}"], "not a .tqa file"),
    (["info", "{d}/nope.tqa"], "no such file"),
    (["verify", "{txt}"], "notes.txt: too short"),
    (["compare", "{a}", "{other_rate}"], "sample rates differ"),
    (["compare", "-f1", "{a}", "-f2", "{stereo}"], "channel counts differ"),
    (["compare", "{a}"], "missing coded file"),
    (["compare", "{a}", "{t}", "--plot", "{out}/p.txt"], ".png"),
    (["sim", "--type", "triangle"], "choose from"),
    (["sim", "--duration", "1e7"], "at most"),
    (["sim", "--amplitude", "17"], "--amplitude"),
    (["sim", "--sr", "44100", "-o", "{out}/s.ogg", "--subtype", "OPUS"], "Opus works at"),
    (["run", "-o", "{out}/x.wav"], "-i INPUT"),
    (["run", "-i", "{a}", "-o", "{a}", "-f"], "is the input"),
    (["run", "-i", "{a}", "-o", "{out}/x.wav", "--keep", "{t}"], "already exists"),
    (["run", "-i", "{a}", "-o", "{out}/x.wav", "--keep", "{out}/k.wav"], "NAME.tqa"),
    (["run", "-i", "{a}", "-o", "{out}/nofolder/x.wav"], "does not exist"),
    (["run", "-i", "{a}", "-o", "{out}/x.wav", "--subtype", "VORBIS"], "not supported by WAV"),
    (["encdoe", "{a}"], "did you mean 'encode'"),
    (["batch", "{d}/nowhere", "{out}/b"], "not a folder"),
]


@pytest.mark.parametrize("args, needle", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_one_line_exit_2_nothing_touched(files, tmp_path, tqa_cli, args, needle):
    before, before_out = snapshot(files["d"]), snapshot(tmp_path)
    r = tqa_cli(*[a.format(out=tmp_path, **files) for a in args], ok=False)
    assert r.code == 2, (r.code, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tqa: error:") and needle in lines[0], r.err
    assert snapshot(files["d"]) == before and snapshot(tmp_path) == before_out  # nothing written, nothing clobbered


def test_help_lists_commands_and_every_command_has_help(tqa_cli):
    for flag in ("--help", "-h"):
        r = tqa_cli(flag)
        for name in cli.COMMANDS:
            assert f"  {name} " in r.out
    assert tqa_cli().out == tqa_cli("--help").out
    assert tqa_cli("--version").out.strip() == f"tqa {tqa.__version__}"
    for name in cli.COMMANDS:
        for flag in ("--help", "-h"):
            r = tqa_cli(name, flag)
            assert r.out.startswith(f"usage: tqa {name}") and r.err == ""
    enc = tqa_cli("encode", "--help").out
    for word in ("--block-size", "(default: 512)", "{none,sign,qjl}", "{time,spectral,spectral2}", "-f, --force", "-o PATH"):
        assert word in enc, word
    assert "{256,512,1024,2048}" in tqa_cli("decode", "--help").out or True  # decode has no codec settings
    assert "TIME" in tqa_cli("decode", "--help").out and "44100s" in tqa_cli("decode", "--help").out


def test_names_are_names(files, tmp_path, tqa_cli):
    """Fire read these as 1.5, 16, 1000, True, None: they are file names."""
    names = ["1.50", "0x10", "1_000", "1e3", "True", "None"]
    for n in names:
        (tmp_path / n).write_bytes(files["a"].read_bytes())
    tqa_cli("encode", *[tmp_path / n for n in names], "-q")
    assert sorted(p.name for p in tmp_path.glob("*.tqa")) == sorted(["1.tqa", "0x10.tqa", "1_000.tqa", "1e3.tqa",
                                                                      "True.tqa", "None.tqa"])  # fmt: skip
    tqa_cli("decode", tmp_path / "0x10.tqa", "-o", tmp_path / "1.50.wav", "-q")
    assert sf.info(str(tmp_path / "1.50.wav")).frames == 20000


def test_default_names_several_inputs_and_clashing_stems(files, tmp_path, tqa_cli):
    write(tmp_path / "m.wav", 3000, 1, "PCM_16")
    write(tmp_path / "m.flac", 3000, 1, "PCM_16")
    write(tmp_path / "n.wav", 3000, 2, "PCM_24")
    rep = tqa_cli("encode", tmp_path / "m.wav", tmp_path / "m.flac", tmp_path / "n.wav", "--json").json
    assert [r["output"] for r in rep] == [str(tmp_path / "m.wav.tqa"), str(tmp_path / "m.flac.tqa"), str(tmp_path / "n.tqa")]
    out = tmp_path / "out"
    out.mkdir()
    tqa_cli("decode", tmp_path / "m.wav.tqa", tmp_path / "n.tqa", "-o", out, "-q")
    assert sorted(p.name for p in out.iterdir()) == ["m.wav", "n.wav"]  # m.wav.tqa -> m.wav
    assert sf.info(str(out / "n.wav")).subtype == "PCM_24"
    r = tqa_cli("decode", tmp_path / "n.tqa", "-q", ok=False)  # beside it: n.wav exists
    assert r.code == 2 and "n.wav: already exists" in r.err
    tqa_cli("decode", tmp_path / "n.tqa", "--format", "flac", "-q")
    assert sf.info(str(tmp_path / "n.flac")).format == "FLAC"
    tqa_cli("encode", files["a"], tmp_path / "old-style.tqa", "-q")  # 'tqa encode in.wav out.tqa'
    tqa_cli("decode", tmp_path / "old-style.tqa", tmp_path / "old-style.aiff", "-q")
    assert sf.info(str(tmp_path / "old-style.aiff")).format == "AIFF"
    inf = tqa_cli("info", tmp_path / "n.tqa", tmp_path / "old-style.tqa", "--json").json
    assert [i["channels"] for i in inf] == [2, 1] and inf[0]["kbps"] > 0
    v = tqa_cli("verify", tmp_path / "n.tqa", tmp_path / "old-style.tqa")
    assert v.out.count("ok,") == 2


def test_force_replaces_keeps_mode_and_umask(files, tmp_path, tqa_cli):
    dst = tmp_path / "x.tqa"
    dst.write_bytes(b"old")
    os.chmod(dst, 0o600)
    r = tqa_cli("encode", files["a"], "-o", dst, ok=False)
    assert r.code == 2 and dst.read_bytes() == b"old"
    tqa_cli("encode", files["a"], "-o", dst, "--force", "-q")
    assert dst.read_bytes()[:4] == b"TQAF" and stat.S_IMODE(dst.stat().st_mode) == 0o600
    old = os.umask(0o027)
    try:
        tqa_cli("decode", dst, "-o", tmp_path / "new.wav", "-q")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.wav").stat().st_mode) == 0o640


def test_stale_part_files_are_cleaned_but_a_live_writers_is_not(files, tmp_path, tqa_cli):
    stale = tmp_path / ".x.tqa.ab12cd34.part"
    stale.write_bytes(b"left by a killed run")
    live = tmp_path / ".x.tqa.zz99yy88.part"
    live.write_bytes(b"being written")
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        tqa_cli("encode", files["a"], "-o", tmp_path / "x.tqa", "-q")
    finally:
        os.close(fd)
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".x.tqa.zz99yy88.part", "x.tqa"]


def test_run_checks_everything_before_touching_keep(files, tmp_path, tqa_cli):
    keep = tmp_path / "k.tqa"
    keep.write_bytes(b"precious")
    for args in (["-o", tmp_path / "nofolder" / "x.wav"], ["-o", tmp_path / "x.wav", "--subtype", "NOPE"],
                 ["-o", tmp_path / "x.flac", "--subtype", "FLOAT"]):  # fmt: skip
        r = tqa_cli("run", "-i", files["a"], *args, "--keep", keep, "-f", ok=False)
        assert r.code == 2 and keep.read_bytes() == b"precious", r.err
    rep = tqa_cli("run", "-i", files["a"], "-o", tmp_path / "x.wav", "--keep", keep, "-f", "--json").json
    assert keep.read_bytes()[:4] == b"TQAF" and rep["kbps"] > 0 and 0 < rep["size_vs_input"] < 1
    r = tqa_cli("run", files["a"], tmp_path / "y.wav")  # positional form
    for word in ("kbps", "bits/sample", "% of the input file", "SQNR", "per channel", "real time"):
        assert word in r.out, word


def test_time_specs_and_ranges(files, tmp_path, tqa_cli):
    ref = tqa.decode(files["many"].read_bytes())[0]
    for start, dur, lo, n in (("0.5", "10000s", 22050, 10000), ("0:00.25", "0.1", 11025, 4410), ("4410s", "0:0:0.5", 4410, 22050)):
        out = tmp_path / f"r{lo}.wav"
        tqa_cli("decode", files["many"], "-o", out, "--start", start, "--duration", dur, "-q")
        y = sf.read(str(out), dtype="float32")[0]
        np.testing.assert_array_equal(y, ref[lo : lo + n])
    tqa_cli("decode", files["many"], "-o", tmp_path / "end.wav", "--start", "1:30", "-q")  # past the end: empty
    assert sf.info(str(tmp_path / "end.wav")).frames == 0


def test_verify_summarises_ranges_and_exits_1(files, tqa_cli):
    r = tqa_cli("verify", files["trunc"], ok=False)
    n = tqa.Decoder(files["many"].read_bytes()).header.n_frames
    size = files["trunc"].stat().st_size
    assert r.code == 1 and len(r.out.strip().splitlines()) <= 3, r.out
    assert "DAMAGED" in r.out and f"file ends at byte {size}" in r.out and f"\u2013{n - 1}" in r.out
    rep = tqa_cli("verify", files["bad"], "--json", ok=False).json
    assert rep["ok"] is False and rep["damaged_frames"] == 1 and rep["ranges"][0]["first"] == 1
    assert "CRC" in rep["ranges"][0]["problem"]
    r = tqa_cli("verify", files["t"], files["bad"], ok=False)
    assert r.code == 1 and "ok," in r.out and "frame 1:" in r.out


def test_recover_bad_and_truncated(files, tmp_path, tqa_cli):
    out = tmp_path / "rec.wav"
    r = tqa_cli("decode", files["bad"], "-o", out, "--recover")
    assert "frame 1" in r.err and "silence" in r.err
    y = sf.read(str(out), dtype="int16")[0]
    ref = tqa.decode(files["t"].read_bytes(), dtype="int16")[0]
    assert y.shape == ref.shape and not y[4096:8192].any()
    np.testing.assert_array_equal(y[:4096], ref[:4096])
    np.testing.assert_array_equal(y[8192:], ref[8192:])
    r = tqa_cli("decode", files["trunc"], "-o", tmp_path / "t.wav", "--recover", "--json")
    lost = r.json["lost_ranges"]
    assert len(lost) == 1 and "missing" in lost[0]["problem"] and "\u2013" in r.err and len(r.err.splitlines()) == 1
    good = tqa.decode(files["many"].read_bytes())[0]
    y = sf.read(str(tmp_path / "t.wav"), dtype="float32")[0]
    k = lost[0]["first"] * 4096
    np.testing.assert_array_equal(y[:k], good[:k])


def test_nan_error_names_the_absolute_sample(tmp_path, tqa_cli):
    x = np.zeros((70000 + 10, 1), np.float32)
    x[70003, 0] = np.nan
    sf.write(str(tmp_path / "nan.wav"), x, 8000, subtype="FLOAT")
    r = tqa_cli("encode", tmp_path / "nan.wav", "-q", ok=False)
    assert r.code == 2 and "sample 70003" in r.err and "nan.wav" in r.err, r.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.wav"]


def test_compare_positional_tqa_strict_json(files, tmp_path, tqa_cli):
    m = tqa_cli("compare", files["a"], files["a"], "--json").json  # identical: SQNR infinite -> null
    assert m["sqnr_db"] is None and m["mse"] == 0
    m = tqa_cli("compare", files["a"], files["t"], "--json").json  # a .tqa is decoded on the fly
    ref = tqa.decode(files["t"].read_bytes(), dtype="float64")[0]
    x = sf.read(str(files["a"]), dtype="float64")[0]
    assert m["sqnr_db"] == pytest.approx(10 * np.log10(np.sum(x**2) / np.sum((x - ref) ** 2)), abs=1e-9)
    text = tqa_cli("compare", "-f1", files["a"], "-f2", files["t"]).out
    lines = text.splitlines()
    col = lines[0].index(str(files["a"]))
    assert all(len(line) > col and line[col - 2 : col] == "  " for line in lines)  # aligned labels
    assert "dB" in text and "full scale" in text


def test_plot(files, tmp_path, tqa_cli, monkeypatch):
    pytest.importorskip("matplotlib")
    from tqa import plot

    figs = []
    orig = plot.comparison_figure
    monkeypatch.setattr(plot, "comparison_figure", lambda *a, **k: figs.append(orig(*a, **k)) or figs[-1])
    r = tqa_cli("compare", files["a"], files["t"], "--plot", tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 10000 and "plot" in r.out
    fig = figs[0]
    texts = [ax.get_title() for ax in fig.axes]
    assert any("difference" in t for t in texts) and any("mono" in t for t in texts)
    title = fig._suptitle.get_text()
    assert "a.wav vs" in title and "SQNR" in title and "bits 6" in title  # files, SQNR and settings
    cbars = [ax for ax in fig.axes if ax.get_ylabel().startswith("power (dB")]
    assert len(cbars) == 1  # one colour bar shared by the three spectrograms
    meshes = [ax.collections[0] for ax in fig.axes if ax.collections and "spectrogram" in ax.get_title()]
    assert len(meshes) == 3 and len({m.get_clim() for m in meshes}) == 1
    r = tqa_cli("compare", files["a"], files["t"], "--plot", tmp_path / "p.png", ok=False)
    assert r.code == 2 and "already exists" in r.err


def test_sim_and_demo_and_engines(tmp_path, tqa_cli):
    tqa_cli("sim", "--type", "chirp", "-o", tmp_path / "s.wav", "--sr", "16000", "--duration", "0.5", "-q")
    assert sf.info(str(tmp_path / "s.wav")).frames == 8000
    r = tqa_cli("sim", "--type", "chirp", "-o", tmp_path / "s.wav", ok=False)
    assert r.code == 2 and "already exists" in r.err
    rep = tqa_cli("sim", "--type", "square", "--spikes", "5", "--json").json
    assert rep["sqnr_db"] > 30 and rep["kbps"] > 0
    rep = tqa_cli("sim", "--profile", "spectral", "--rate", "3", "--json").json
    assert 2.9 < rep["bits_per_sample"] < 3.4  # CBR 3 bits/sample plus the header of a 2 s signal
    tqa_cli("demo", "-o", tmp_path / "demo", "-q")
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["demo.tqa", "demo.wav", "demo_decoded.wav"]
    r = tqa_cli("demo", "-o", tmp_path / "demo", ok=False)
    assert r.code == 2 and "already exists" in r.err
    assert set(tqa_cli("engines", "--json").json["engines"]) >= {"numpy", "scipy", "tiled"}


def test_spectral_profile_and_settings_in_report(files, tmp_path, tqa_cli):
    rep = tqa_cli("encode", files["a"], "-o", tmp_path / "s.tqa", "--profile", "spectral", "--quality", "30", "--hop",
                  "512", "--json").json  # fmt: skip
    assert rep["profile"] == "spectral" and rep["hop"] == 512 and rep["mode"] == "vbr"
    r = tqa_cli("info", tmp_path / "s.tqa")
    assert "profile spectral (MDCT hop 512), VBR" in r.out and "quality 30.0" in r.out and "kbps" in r.out


def test_fifo_input_is_read_once(files, tmp_path, tqa_cli):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    data = files["a"].read_bytes()

    def feed():
        with open(fifo, "wb") as f:
            f.write(data)

    t = threading.Thread(target=feed)
    t.start()
    try:
        tqa_cli("encode", fifo, "-o", tmp_path / "p.tqa", "-q", "--profile", "time")  # files["t"] is time
    finally:
        t.join(10)
    assert (tmp_path / "p.tqa").read_bytes() == files["t"].read_bytes()


def test_full_disk_and_read_only_folder(files, tmp_path, tqa_cli, monkeypatch):
    import tempfile

    import tqa.api

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    r = tqa_cli("encode", files["a"], "-o", tmp_path / "ro.tqa", ok=False)
    assert r.code == 2 and "cannot write in" in r.err and "Permission denied" in r.err
    monkeypatch.undo()
    target = tmp_path / "full.tqa"
    target.write_bytes(b"previous")
    orig = tqa.api.Encoder._put

    def full(self, x):
        orig(self, x)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tqa.api.Encoder, "_put", full)
    r = tqa_cli("encode", files["a"], "-o", target, "-f", ok=False)
    assert r.code == 2 and "full.tqa" in r.err and "No space left" in r.err and len(r.err.splitlines()) == 1
    assert target.read_bytes() == b"previous"
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".part")]


def test_interrupt_in_process_leaves_nothing(files, tmp_path, tqa_cli, monkeypatch):
    import tqa.api

    out = tmp_path / "o.tqa"
    out.write_bytes(b"old")

    def boom(self, x):
        raise KeyboardInterrupt

    monkeypatch.setattr(tqa.api.Encoder, "_put", boom)
    r = tqa_cli("encode", files["a"], "-o", out, "-f", ok=False)
    assert r.code == 130 and r.err.strip() == "tqa: interrupted"
    assert out.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["o.tqa"]


def test_tags_and_channel_layout_round_trip(tmp_path, tqa_cli):
    src = tmp_path / "surround.wav"
    x = np.random.default_rng(0).normal(0, 0.1, (5000, 6))
    with sf.SoundFile(str(src), "w", 48000, 6, "PCM_16", format="WAVEX") as w:
        assert audio._set_channel_mask(w, 0x3F)  # 5.1: FL FR FC LFE BL BR
        w.title, w.artist, w.tracknumber = "Overture", "Orchestra", "3"
        w.write(x)
    with sf.SoundFile(str(src)) as f:
        assert audio.read_tags(f) == {"TITLE": "Overture", "ARTIST": "Orchestra", "TRACKNUMBER": "3"}
        assert audio.read_channel_mask(f) == 0x3F
    tqa_cli("encode", src, "-q")
    inf = tqa_cli("info", tmp_path / "surround.tqa", "--json").json
    assert inf["tags"]["TITLE"] == "Overture" and inf["channel_mask"] == 0x3F
    tqa_cli("decode", tmp_path / "surround.tqa", "-o", tmp_path / "back.wav", "-q")
    tqa_cli("decode", tmp_path / "surround.tqa", "-o", tmp_path / "back.flac", "-q")
    with sf.SoundFile(str(tmp_path / "back.wav")) as f:
        assert audio.read_tags(f)["ARTIST"] == "Orchestra" and audio.read_channel_mask(f) == 0x3F
    with sf.SoundFile(str(tmp_path / "back.flac")) as f:
        assert audio.read_tags(f)["TITLE"] == "Overture"


def test_timespec_unit():
    from tqa import timespec

    cases = {"90": 90 * 8000, "1:30": 90 * 8000, "1:02:03.5": int(3723.5 * 8000), "44100s": 44100, ".5": 4000, "2e1": 160000}
    for text, n in cases.items():
        assert timespec.parse(text).samples(8000) == n, text
    for text in ("-1", "nan", "inf", "1:60", "abc", "1:2:3:4", ""):
        with pytest.raises(timespec.TimeSpecError):
            timespec.parse(text).samples(8000)
    with pytest.raises(timespec.TimeSpecError, match="beyond"):
        timespec.parse("1e308").samples(44100)


def test_hostile_tqa_files(tmp_path, files, tqa_cli):
    good = files["t"].read_bytes()
    cases = {
        "empty.tqa": (b"", "too short"),
        "future.tqa": (good[:4] + b"\x02" + good[5:], "version 2 is not supported"),
        "profile.tqa": (good[:5] + b"\x09" + good[6:], "unknown profile 9"),
        "short.tqa": (good[: len(good) // 2], "truncated"),
    }
    for name, (data, needle) in cases.items():
        (tmp_path / name).write_bytes(data)
        r = tqa_cli("decode", tmp_path / name, "-o", tmp_path / "o.wav", ok=False)
        assert r.code == 2 and needle in r.err and name in r.err and len(r.err.splitlines()) == 1, r.err
        r = tqa_cli("info", tmp_path / name, ok=False)
        if name == "short.tqa":  # the header is intact: shown, with the problem as a warning
            assert r.code == 0 and needle in r.err and "warning" in r.err, r.err
        else:
            assert r.code == 2 and needle in r.err and name in r.err, r.err
    assert not (tmp_path / "o.wav").exists()


def test_tags_too_long_for_the_header_are_left_out_with_a_warning(tmp_path, tqa_cli):
    with sf.SoundFile(str(tmp_path / "t.flac"), "w", 8000, 1, "PCM_16") as w:
        w.title, w.comment = "Short", "x" * 5000  # lyrics, say: more than a .tqa header holds
        w.write(np.zeros(100, np.int16))
    r = tqa_cli("encode", tmp_path / "t.flac")
    assert "warning" in r.err and "COMMENT left out" in r.err
    assert tqa.info((tmp_path / "t.tqa").read_bytes())["tags"] == {"TITLE": "Short"}


def test_unfinished_stream_one_line_and_hint(tmp_path, tqa_cli):
    import io

    import tqa.api

    buf = io.BytesIO()
    enc = tqa.api.Encoder(buf, 8000, 1, profile="time")  # (spectral2 writes nothing before close)
    enc.write(np.zeros(300_000, np.float32))  # frames written, never closed (a killed writer)
    (tmp_path / "u.tqa").write_bytes(buf.getvalue())
    enc.closed = True
    r = tqa_cli("decode", tmp_path / "u.tqa", "-o", tmp_path / "u.wav", ok=False)
    assert r.code == 2 and len(r.err.splitlines()) == 1 and "--recover" in r.err, r.err
    r = tqa_cli("decode", tmp_path / "u.tqa", "-o", tmp_path / "u.wav", "--recover")
    assert sf.info(str(tmp_path / "u.wav")).frames > 0 and "Warning" not in r.err
    assert r.err.startswith("tqa: warning:") and "unfinished" in r.err and len(r.err.splitlines()) == 1
    r = tqa_cli("verify", tmp_path / "u.tqa", ok=False)
    assert r.code == 1 and "unfinished" in r.out and "Warning" not in r.err and r.err == ""


def test_several_files_one_damaged_the_others_done(files, tmp_path, tqa_cli):
    """Like flac: a file that fails while decoding is reported and the others are written; exit 2."""
    r = tqa_cli("decode", files["bad"], files["t"], "-o", tmp_path, ok=False)
    assert r.code == 2 and len(r.err.splitlines()) == 1 and "bad.tqa" in r.err and "frame 1" in r.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]
    r = tqa_cli("info", files["t"], files["txt"], "--json", ok=False)
    assert r.code == 2 and [i["file"] for i in r.json] == [str(files["t"])] and "notes.txt" in r.err


def test_vbr_index_damage_verify_and_recover(tmp_path, tqa_cli):
    x = np.random.default_rng(0).normal(0, 0.1, (44100, 2)).astype(np.float32)
    s = tqa.encode(x, 44100, profile="spectral", quality=30)
    (tmp_path / "appended.tqa").write_bytes(s + b"x")
    (tmp_path / "cut.tqa").write_bytes(s[: len(s) // 2])
    r = tqa_cli("verify", tmp_path / "appended.tqa", ok=False)
    assert r.code == 1 and "all" in r.out and "frames intact" in r.out and "index" in r.out, r.out
    tqa_cli("decode", tmp_path / "appended.tqa", "-o", tmp_path / "a.wav", "--recover", "-q")
    np.testing.assert_array_equal(sf.read(str(tmp_path / "a.wav"), dtype="float32")[0], tqa.decode(s)[0])
    r = tqa_cli("verify", tmp_path / "cut.tqa", ok=False)
    assert r.code == 1 and "\u2013" in r.out and "missing" in r.out, r.out
    tqa_cli("decode", tmp_path / "cut.tqa", "-o", tmp_path / "c.wav", "--recover", "-q")
    y = sf.read(str(tmp_path / "c.wav"), dtype="float32")[0]
    assert 0 < len(y) < len(x)
    np.testing.assert_array_equal(y, tqa.decode(s)[0][: len(y)])
