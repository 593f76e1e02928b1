"""tqa batch on a real dask.distributed LocalCluster (loopback, 2 worker processes)."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
import soundfile as sf

import tqa
from tqa import audio

distributed = pytest.importorskip("distributed")
from tqa import batch  # noqa: E402

SEGMENT = 3 * 4096  # forces the long file below into several segment tasks


@pytest.fixture(scope="module")
def cluster():
    """The cluster tqa batch starts itself (2 worker processes, spawned with SIGINT ignored)."""
    import urllib.error
    import urllib.request

    client, c = batch._client(2, None)
    link = c.dashboard_link  # Dask's health-check server: a free loopback port, and no dashboard pages
    assert link.startswith("http://127.0.0.1:") and ":8787/" not in link
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(link, timeout=10)
    assert e.value.code == 404
    client.close()
    yield c.scheduler_address
    c.close()


@pytest.fixture
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "src"
    (src / "music" / "live").mkdir(parents=True)
    (src / "speech").mkdir()
    files = {
        "music/a.wav": (rng.normal(0, 0.1, (20000, 2)), 44100, "PCM_16"),
        "music/live/b.flac": (rng.normal(0, 0.1, (15001, 1)), 48000, "PCM_24"),
        "speech/c.wav": (rng.normal(0, 0.1, (8000, 1)), 16000, "FLOAT"),
        "speech/d.wav": (rng.normal(0, 0.1, (3000, 6)), 8000, "PCM_16"),
        "music/long.wav": (rng.normal(0, 0.1, (50_000, 2)), 44100, "PCM_16"),
    }
    for name, (x, sr, st) in files.items():
        sf.write(str(src / name), x, sr, subtype=st)
    return src


def single_process(src, name, tmp_path):
    out = tmp_path / "ref" / (name + ".tqa")
    out.parent.mkdir(parents=True, exist_ok=True)
    audio.encode_file(src / name, out, profile="time")
    return out.read_bytes()


def test_outputs_identical_to_single_process_encodes(corpus, tmp_path, cluster):
    dst = tmp_path / "dst"
    s = batch.run_batch(corpus, dst, scheduler=cluster, segment_samples=SEGMENT, verify=True, profile="time")
    assert s["files"] == 5 and s["failed"] == 0 and s["skipped_complete"] == 0 and s["workers"] == 2
    for name in ("music/a.wav", "music/live/b.flac", "speech/c.wav", "speech/d.wav", "music/long.wav"):
        out = (dst / name).with_suffix(".tqa")
        assert out.read_bytes() == single_process(corpus, name, tmp_path), name
    seconds = 20000 / 44100 + 15001 / 48000 + 8000 / 16000 + 3000 / 8000 + 50000 / 44100
    assert s["audio_hours"] == pytest.approx(seconds / 3600)
    assert s["output_bytes"] == sum(p.stat().st_size for p in dst.rglob("*.tqa"))
    assert 36 < s["sqnr_db_worst"] <= s["sqnr_db_mean"] < 40
    assert s["ratio_vs_pcm"] > 2


def test_resume_after_interruption(corpus, tmp_path, cluster):
    dst = tmp_path / "dst"
    batch.run_batch(corpus, dst, scheduler=cluster)
    ref = {p: p.read_bytes() for p in dst.rglob("*.tqa")}
    # what a killed run leaves: some outputs missing, a temporary file half written
    (dst / "music/a.tqa").unlink()
    (dst / "speech/c.tqa").unlink()
    (dst / "speech/.c.tqa.x1y2z3w4.part").write_bytes(b"half")
    s = batch.run_batch(corpus, dst, scheduler=cluster)
    assert (s["files"], s["skipped_complete"], s["failed"]) == (2, 3, 0)
    assert {p: p.read_bytes() for p in dst.rglob("*.tqa")} == ref
    assert not list(dst.rglob("*.part"))


def test_one_bad_file_does_not_stop_the_rest(corpus, tmp_path, cluster):
    (corpus / "speech" / "broken.wav").write_bytes(b"RIFF....not audio")
    s = batch.run_batch(corpus, tmp_path / "dst", scheduler=cluster)
    assert s["files"] == 5 and s["failed"] == 1
    assert "broken.wav" in s["failures"][0]["file"] and s["failures"][0]["error"]
    assert not (tmp_path / "dst" / "speech" / "broken.tqa").exists()


def test_decode_tree(corpus, tmp_path, cluster):
    batch.run_batch(corpus, tmp_path / "enc", scheduler=cluster)
    s = batch.run_batch(tmp_path / "enc", tmp_path / "dec", decode=True, out_ext=".flac", scheduler=cluster)
    assert s["files"] == 5 and s["failed"] == 0
    info = sf.info(str(tmp_path / "dec" / "music" / "live" / "b.flac"))
    assert (info.frames, info.channels, info.samplerate, info.subtype) == (15001, 1, 48000, "PCM_24")


def test_on_a_terminal_with_a_failed_file(corpus, tmp_path, cluster):
    """A real terminal (script -qec): the progress bar path, and exit 1 when a file fails."""
    if shutil.which("script") is None:
        pytest.skip("script(1) is not installed")
    (corpus / "bad.wav").write_bytes(b"nope")
    cmd = f"{shutil.which('tqa')} batch {corpus} {tmp_path / 'out'} --scheduler {cluster}"
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 1, p.stdout
    assert "5 done, 0 already complete, 1 failed" in p.stdout and "bad.wav" in p.stdout, p.stdout
    assert "Traceback" not in p.stdout and "bool() undefined" not in p.stdout
    assert tqa.verify((tmp_path / "out" / "music" / "long.tqa").read_bytes()) == []


def test_ctrl_c_one_line_no_leftovers(corpus, tmp_path):
    """SIGINT to the whole process group (what a terminal's Ctrl-C does) while the batch runs.

    A sitecustomize on the processes' path makes every file take 2 s longer, in the client and in
    the workers alike, so the signal lands mid-batch however slowly a busy machine starts them
    (the unpatched batch of this corpus takes ~1 s: under load it could end before the signal)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import time, tqa.batch as b\n"
        "_orig = b.encode_task\n"
        "def encode_task(*a, **k):\n"
        "    time.sleep(2.0)\n"
        "    return _orig(*a, **k)\n"
        "b.encode_task = encode_task\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), *filter(None, [os.environ.get("PYTHONPATH")])])}
    p = subprocess.Popen([shutil.which("tqa"), "batch", str(corpus), str(tmp_path / "out"), "--workers", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)  # fmt: skip
    # Wait until the batch really runs (its workers exist): a signal during the interpreter's own
    # start-up (before Python installs its SIGINT handler) would only test CPython, and on a busy
    # machine (pytest-xdist) that start-up can take over a second.
    for _ in range(200):
        ps = subprocess.run(["ps", "-o", "pid=", "-g", str(p.pid)], capture_output=True, text=True).stdout.split()
        if len(ps) > 1 or p.poll() is not None:
            break
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(p.pid, signal.SIGINT)
    t = time.perf_counter()
    out, err = p.communicate(timeout=60)
    assert p.returncode != 0, f"Ctrl-C ignored: the batch ran on to the end ({out!r})"
    assert time.perf_counter() - t < 20, "Ctrl-C took the batch more than 20 s to act on"
    assert p.returncode == 130 and err.strip() == "tqa: interrupted", err
    assert not list((tmp_path / "out").rglob("*.part")) if (tmp_path / "out").exists() else True
    for _ in range(40):  # the workers end with the client (they may take a moment)
        ps = subprocess.run(["ps", "-o", "pid=,args=", "-g", str(p.pid)], capture_output=True, text=True).stdout
        left = "\n".join(line for line in ps.splitlines() if "<defunct>" not in line)  # zombies are dead already
        if not left.strip():
            break
        time.sleep(0.25)
    assert not left.strip(), f"processes left in the group: {left}"


def test_cli_rerun_empty_and_checks(corpus, tmp_path, cluster, capsys):
    from tqa.cli import main

    def cli(*args):
        with pytest.raises(SystemExit) as e:
            main([str(a) for a in args])
        return e.value.code, capsys.readouterr()

    code, r = cli("batch", corpus, tmp_path / "out", "--scheduler", cluster, "--json")
    assert code == 0 and json.loads(r.out)["files"] == 5
    code, r = cli("batch", corpus, tmp_path / "out", "--scheduler", cluster)
    assert code == 0 and "0 done, 5 already complete, 0 failed" in r.out, r.err
    (tmp_path / "empty").mkdir()
    code, r = cli("batch", tmp_path / "empty", tmp_path / "out2")
    assert code == 0 and "0 done, 0 already complete" in r.out and r.err == ""
    code, r = cli("batch", corpus, corpus / "inside")
    assert code == 2 and "inside the source" in r.err
    code, r = cli("batch", corpus, tmp_path / "o3", "--scheduler", cluster, "--profile", "spectral", "--hop", "512",
                  "--rate", "2.5", "--json")  # fmt: skip
    assert code == 0, r.err
    assert tqa.info((tmp_path / "o3" / "speech" / "c.tqa").read_bytes())["hop"] == 512
    code, r = cli("batch", corpus, tmp_path / "o4", "--profile", "time", "--hop", "512")
    assert code == 2 and "--hop applies to --profile spectral" in r.err


def test_clashing_stems_and_skipped_files(tmp_path, cluster):
    src = tmp_path / "src"
    src.mkdir()
    x = np.random.default_rng(0).normal(0, 0.1, (3000, 1))
    for name in ("m.wav", "m.flac", "m.ogg"):
        sf.write(str(src / name), x, 8000)
    (src / "notes.txt").write_text("hi")
    (src / "x.m4a").write_bytes(b"\0" * 100)
    s = batch.run_batch(src, tmp_path / "dst", scheduler=cluster)
    assert s["files"] == 3 and s["failed"] == 0
    assert sorted(p.name for p in (tmp_path / "dst").iterdir()) == ["m.flac.tqa", "m.ogg.tqa", "m.wav.tqa"]
    assert sorted(pathlib.Path(k["file"]).name for k in s["skipped"]) == ["notes.txt", "x.m4a"]
    assert all("not an audio format" in k["reason"] for k in s["skipped"])


def test_long_file_segments_are_kept_for_resume(corpus, tmp_path, cluster):
    dst = tmp_path / "dst"
    batch.run_batch(corpus, dst, scheduler=cluster, segment_samples=SEGMENT, profile="time")  # segmentable
    ref = (dst / "music" / "long.tqa").read_bytes()
    # an interrupted run: the output not joined yet, two of five segments done
    (dst / "music" / "long.tqa").unlink()
    src = corpus / "music" / "long.wav"
    h = tqa.Decoder(ref).header
    head = ref[: h.header_size]
    scratch = batch.scratch_folder(dst / "music" / "long.tqa")
    scratch.mkdir()
    (scratch / "header.bin").write_bytes(head)
    fs = h.settings.frame_samples
    per = SEGMENT // fs
    for first in (0, per):
        batch.segment_task(str(src), head, first * fs, per * fs, first, None, str(scratch / f"{first:012d}.seg"))
    s = batch.run_batch(corpus, dst, scheduler=cluster, segment_samples=SEGMENT, profile="time")
    assert s["files"] == 1 and s["segments_reused"] == 2
    assert (dst / "music" / "long.tqa").read_bytes() == ref and not scratch.exists()


def test_default_profile_is_spectral2_and_settings_pick(corpus, tmp_path, cluster, capsys):
    """A batch that names no profile codes spectral2 at 3.0 bits/sample (whole: it is not segmentable),
    the bytes of a single-process encode; --bits picks the time profile (segments and all)."""
    from tqa.cli import main

    s = batch.run_batch(corpus, tmp_path / "dst", scheduler=cluster, segment_samples=SEGMENT)
    assert s["files"] == 5 and s["failed"] == 0 and not s.get("segments_reused")
    for p in (tmp_path / "dst").rglob("*.tqa"):
        inf = tqa.info(p.read_bytes())
        assert inf["profile"] == "spectral2" and inf["rate"] == 3.0, p
    ref = tmp_path / "one.tqa"
    audio.encode_file(corpus / "music" / "long.wav", ref)
    assert (tmp_path / "dst" / "music" / "long.tqa").read_bytes() == ref.read_bytes()
    with pytest.raises(SystemExit) as e:
        main(["batch", str(corpus), str(tmp_path / "b4"), "--scheduler", cluster, "--bits", "4", "-q"])
    assert e.value.code == 0, capsys.readouterr().err
    for p in (tmp_path / "b4").rglob("*.tqa"):
        inf = tqa.info(p.read_bytes())
        assert inf["profile"] == "time" and inf["bits"] == 4, p


def test_missing_dask_gives_a_hint(monkeypatch, capsys, tmp_path):
    from tqa.cli import main

    def no_dask():
        raise ImportError("tqa batch needs Dask: pip install 'tqa[dist]'")

    monkeypatch.setattr(batch, "_dask", no_dask)
    (tmp_path / "s").mkdir()
    with pytest.raises(SystemExit) as e:
        main(["batch", str(tmp_path / "s"), str(tmp_path / "o")])
    assert e.value.code == 2 and "pip install 'tqa[dist]'" in capsys.readouterr().err
