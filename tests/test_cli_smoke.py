"""A handful of real processes: the installed entry points, ``python -m tqa``, pipes, signals.

Everything else about the command line runs in process (test_cli.py).
"""

import json
import pathlib
import resource
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

TQA = shutil.which("tqa")
pytestmark = pytest.mark.skipif(TQA is None, reason="the tqa command is not installed")
ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(*args, ok=True, cmd="tqa", **kw):
    p = subprocess.run([shutil.which(cmd), *map(str, args)], capture_output=True, text=True, **kw)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    d = tmp_path_factory.mktemp("smoke")
    x = np.random.default_rng(0).normal(0, 0.15, (8000, 2)).clip(-1, 1)
    sf.write(str(d / "a.wav"), x, 8000, subtype="PCM_16")
    return d / "a.wav"


def test_legacy_entry_points(wav, tmp_path):
    """audiotq's commands, as its users typed them (started together: they are independent)."""
    shutil.copy(wav, tmp_path / "b.wav")
    cmds = {
        "run": [shutil.which("tqa-cli"), "run", "-i", str(wav), "-o", str(tmp_path / "out.wav")],
        "compare": [shutil.which("tqa-cli"), "compare", "-f1", str(wav), "-f2", str(tmp_path / "b.wav")],
        "sim": [shutil.which("tqa-sim"), "--type", "square", "--frequency", "440", "--duration", "2.0", "--spikes", "5"],
    }
    procs = {k: subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k, c in cmds.items()}
    res = {k: (p.communicate(timeout=120), p.returncode) for k, p in procs.items()}
    for k, ((out, err), code) in res.items():
        assert code == 0, (k, err)
    assert "SQNR" in res["run"][0][0] and sf.info(str(tmp_path / "out.wav")).frames == 8000
    assert "correlation" in res["compare"][0][0] and "envelope" in res["compare"][0][0]
    assert "SQNR" in res["sim"][0][0] and res["sim"][0][0].count("->") == 5


def test_python_m_tqa_from_the_root_and_json_purity(wav, tmp_path):
    p = subprocess.run([sys.executable, "-m", "tqa", "encode", str(wav), "-o", str(tmp_path / "a.tqa"), "--json"],
                       capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)  # stdout is one JSON document and nothing else
    assert rep["output"] == str(tmp_path / "a.tqa") and rep["kbps"] > 0


def test_pipes_stdin_to_stdout_and_back(wav, tmp_path):
    with open(wav, "rb") as fin, open(tmp_path / "p.tqa", "wb") as fout:
        p = subprocess.run([TQA, "encode", "-", "-o", "-"], stdin=fin, stdout=fout, stderr=subprocess.PIPE, text=False)
    assert p.returncode == 0, p.stderr
    assert b"kbps" in p.stderr  # the report goes to stderr when stdout carries the data
    with open(tmp_path / "p.tqa", "rb") as fin:
        p = subprocess.run([TQA, "decode", "-", "-o", "-", "--format", "flac", "-q"], stdin=fin, capture_output=True)
    assert p.returncode == 0 and p.stderr == b""
    (tmp_path / "p.flac").write_bytes(p.stdout)
    info = sf.info(str(tmp_path / "p.flac"))
    assert (info.format, info.frames, info.channels) == ("FLAC", 8000, 2)


def test_closed_pipe_is_quiet(wav, tmp_path):
    """tqa verify *.tqa | head -1: more report than a pipe holds, the reader gone after one line."""
    shutil.copy(wav, tmp_path / "a.wav")
    run("encode", tmp_path / "a.wav", "-q", "--profile", "time")  # 2 frames of 4096 samples
    names = " ".join(["a.tqa"] * 4000)  # ~100 kB of report
    p = subprocess.run(f"{TQA} verify {names} | head -1; echo \"rc=${{PIPESTATUS[0]}}\"", shell=True,
                       executable="/bin/bash", capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert p.stdout.splitlines() == ["a.tqa: ok, 2 frames intact", "rc=141"] and p.stderr == "", (p.stdout, p.stderr)


def test_ctrl_c_prints_one_line_and_leaves_no_part(wav, tmp_path):
    """SIGINT while the encoder is working (a hook says when it started and then waits, so the signal
    lands mid-encode however late a busy machine delivers it)."""
    src = tmp_path / "long.wav"
    sf.write(str(src), np.zeros((44100 * 4, 2), np.int16), 44100)
    out = tmp_path / "o.tqa"
    out.write_bytes(b"old")
    code = (
        "import sys, time, tqa.api as api\n"
        "orig = api.Encoder._put\n"
        "def slow(self, x):\n"
        "    orig(self, x)\n"
        "    print('working', file=sys.stderr, flush=True)\n"
        "    time.sleep(60)\n"
        "api.Encoder._put = slow\n"
        "from tqa.cli import main\n"
        f"main(['encode', {str(src)!r}, '-o', {str(out)!r}, '-f'])\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert p.stderr.readline().strip() == "working"
    p.send_signal(signal.SIGINT)
    err = p.stderr.read()
    assert p.wait(30) == 130
    assert err.strip().splitlines()[-1] == "tqa: interrupted" and "Traceback" not in err
    assert out.read_bytes() == b"old"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["long.wav", "o.tqa"]


def test_file_size_limit_during_decode(wav, tmp_path):
    """A real short write (RLIMIT_FSIZE, like a full disk) through libsndfile: one line, no .part."""
    shutil.copy(wav, tmp_path / "a.wav")
    big = tmp_path / "big.tqa"
    x = np.random.default_rng(0).normal(0, 0.1, (200000, 2)).astype(np.float32)
    import tqa

    big.write_bytes(tqa.encode(x, 44100, profile="time"))

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    p = subprocess.run([TQA, "decode", str(big), "-o", str(tmp_path / "out.wav")], capture_output=True, text=True,
                       preexec_fn=limit)  # fmt: skip
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "out.wav" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "out.wav").exists() and not list(tmp_path.glob(".*.part"))
