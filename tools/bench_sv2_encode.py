"""Whole-process spectral2 encode against ``wavpack -b3``, in one interleaved loop.

    python tools/bench_sv2_encode.py WAV [--repeat 5] [--rate 3 | --quality DB] [--load quiet,busy]
                                     [--variant NAME=ENV,ENV ...] [--ref NAME=TQA_EXECUTABLE ...]

Per repeat and load condition each command runs once, in turn: ``wavpack -q -y -b3 WAV``, then
``tqa encode WAV --profile spectral2 --rate R`` (or ``--quality DB``) of this checkout for every variant (environment
settings: by default ``aot`` (the ahead-of-time compiled loops, tqa.sv2._aot), ``jit``
(TQA_SV2_AOT=0: numba's JIT) and ``numpy`` (TQA_SV2_JIT=0)), then each ``--ref`` executable (e.g.
another checkout's ``.venv/bin/tqa``).  Children's wall time, CPU (user+sys) and peak RSS come from
os.wait4 (tools/bench_speed.py's launcher).  ``busy``: a CPU-bound ``python -c "while True:
pass"`` runs meanwhile.  Reported: medians and their ratios to wavpack's of the same condition;
every tqa output's SHA-256 (all variants must write the same bytes; a ``--ref`` tree whose encoder
chooses otherwise, e.g. another step search, is reported as differing).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import statistics
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_speed import Busy, run  # noqa: E402

TQA = str(pathlib.Path(sys.executable).with_name("tqa"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wav")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rate", type=float, default=3.0)
    ap.add_argument("--quality", type=float, default=None, help="dB: quality= instead of rate=")
    ap.add_argument("--load", default="quiet")
    ap.add_argument("--variant", action="append", default=None, help="NAME=VAR=VALUE,VAR=VALUE (empty: none)")
    ap.add_argument("--ref", action="append", default=[], help="NAME=path/to/tqa")
    a = ap.parse_args()
    variants = a.variant or ["aot=", "jit=TQA_SV2_AOT=0", "numpy=TQA_SV2_JIT=0"]
    aim = ["--rate", str(a.rate)] if a.quality is None else ["--quality", str(a.quality)]
    import subprocess

    subprocess.run([sys.executable, "-m", "tqa.sv2._aot"], check=False)  # the ahead-of-time loops, built first
    cmds = []  # (name, argv, env)
    with tempfile.TemporaryDirectory() as tmp:
        cmds.append(("wavpack -b3", ["wavpack", "-q", "-y", "-b3", a.wav, "-o", os.path.join(tmp, "x.wv")], None))
        for v in variants:
            name, _, spec = v.partition("=")
            env = dict(os.environ)
            for kv in filter(None, spec.split(",")):
                k, _, val = kv.partition("=")
                env[k] = val
            out = os.path.join(tmp, f"{name}.tqa")
            cmds.append((f"tqa {name}", [TQA, "encode", a.wav, "-o", out, "--profile", "spectral2", *aim, "-f", "-q"], env))
        for r in a.ref:
            name, _, exe = r.partition("=")
            out = os.path.join(tmp, f"ref_{name}.tqa")
            cmds.append((f"ref {name}", [exe, "encode", a.wav, "-o", out, "--profile", "spectral2", *aim, "-f", "-q"], None))
        for _, argv, env in cmds:  # warm-up: caches built, files in the page cache
            run(argv, env)
        rows: dict = {}
        for load in a.load.split(","):
            for _ in range(a.repeat):
                with Busy(load == "busy"):
                    for name, argv, env in cmds:
                        rows.setdefault((load, name), []).append(run(argv, env))
        digests = {}
        for name, argv, _ in cmds:
            if name != "wavpack -b3":
                digests[name] = hashlib.sha256(pathlib.Path(argv[4]).read_bytes()).hexdigest()[:16]
    load_avg = os.getloadavg()
    print(f"# {a.wav}, spectral2 {' '.join(aim)}, {a.repeat} repeats, loadavg at the end {load_avg[0]:.2f}")
    print("| load | command | wall s | CPU s | peak RSS MiB | wall / wavpack | CPU / wavpack |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for load in a.load.split(","):
        ref = rows[(load, "wavpack -b3")]
        rw, rc = statistics.median(r["wall"] for r in ref), statistics.median(r["cpu"] for r in ref)
        for name, _, _ in cmds:
            rs = rows[(load, name)]
            w, c = statistics.median(r["wall"] for r in rs), statistics.median(r["cpu"] for r in rs)
            m = max(r["rss"] for r in rs)
            print(f"| {load} | {name} | {w:.2f} | {c:.2f} | {m:.0f} | {w / rw:.2f} | {c / rc:.2f} |")
    print("\noutputs (sha256/16):", ", ".join(f"{k}: {v}" for k, v in digests.items()))
    same = len(set(digests.values())) <= 1
    print("all tqa outputs identical" if same else "OUTPUTS DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
