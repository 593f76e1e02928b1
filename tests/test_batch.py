"""tqa batch on a real dask.distributed LocalCluster (loopback, 2 worker processes)."""

import json
import shutil
import subprocess

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
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as c:  # fmt: skip
        yield c.scheduler_address


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
    audio.encode_file(src / name, out)
    return out.read_bytes()


def test_outputs_identical_to_single_process_encodes(corpus, tmp_path, cluster):
    dst = tmp_path / "dst"
    s = batch.run_batch(corpus, dst, scheduler=cluster, segment_samples=SEGMENT, verify=True)
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
    (dst / "speech/.c.tqa.x1y2.part").write_bytes(b"half")
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


def test_cli_local_cluster_json_and_exit_status(corpus, tmp_path):
    (corpus / "bad.wav").write_bytes(b"nope")
    p = subprocess.run([shutil.which("tqa"), "batch", str(corpus), str(tmp_path / "out"), "--workers", "2", "--json"],
                       capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    s = json.loads(p.stdout)
    assert p.returncode == 1 and s["files"] == 5 and s["failed"] == 1 and s["workers"] == 2
    assert tqa.verify((tmp_path / "out" / "music" / "long.tqa").read_bytes()) == []
    p = subprocess.run([shutil.which("tqa"), "batch", str(corpus), str(corpus / "inside")], capture_output=True, text=True)
    assert p.returncode == 2 and "inside the source" in p.stderr


def test_missing_dask_gives_a_hint(monkeypatch, capsys, tmp_path):
    from tqa.cli import main

    def no_dask():
        raise ImportError("tqa batch needs Dask: pip install 'tqa[dist]'")

    monkeypatch.setattr(batch, "_dask", no_dask)
    (tmp_path / "s").mkdir()
    with pytest.raises(SystemExit) as e:
        main(["batch", str(tmp_path / "s"), str(tmp_path / "o")])
    assert e.value.code == 2 and "pip install 'tqa[dist]'" in capsys.readouterr().err
