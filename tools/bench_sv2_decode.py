"""spectral2 decode speed: whole ``tqa decode`` processes against ``wvunpack``, in one loop.

    python tools/bench_sv2_decode.py (--wav IN.wav | --corpus DIR [--minutes 5]) [--rate 3]
                                     [--repeat 5] [--load quiet,busy] [--variant NAME=VALUE ...]
                                     [--clip SECONDS] [--in-process] [--ref NAME=TQA_EXECUTABLE ...]

The input (16-bit WAV; ``--corpus``: a stereo 44.1 kHz file of ``--minutes`` looped from the
folder's music, as tools/bench_speed.py builds it) is coded once with ``tqa encode --profile
spectral2 --rate R`` and once with ``wavpack -b3``.  Then, per repeat and load condition, one
``tqa decode X.tqa -o Y.wav -f`` (and one per ``--variant``: the same command with NAME=VALUE in
its environment, e.g. ``TQA_SV2_JIT=0`` for the NumPy path) and one ``wvunpack``, alternating, so
that every ratio compares runs made under the same machine state (``busy``: a CPU-bound
``python -c "while True: pass"`` runs during that condition's commands).  Wall and CPU time
(user + sys, from ``os.wait4``) per child; the table gives medians and the median of the
per-repeat ratios to ``wvunpack``.  Every tqa output is checked to be the same file.

``--ref NAME=EXE``: also ``EXE decode`` of the same stream per repeat (e.g. another checkout's
``tqa``: the "before" of a change, measured in the same loop); its output must be the same file.

``--clip SECONDS``: also a clip of that length cut from the input, decoded the same way (the
fixed cost of a process: imports, numba's first call).

``--in-process``: also the in-process throughput of ``tqa.decode(data, dtype="int16")`` (best of
3 after a warm-up call, CPU time) on both entropy-decoding paths (compiled and NumPy), in MB/s of
16-bit PCM.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_speed import Busy, build, run  # noqa: E402

_IN_PROCESS = """import sys, time, tqa
from tqa.sv2 import _jit
data = open(sys.argv[1], "rb").read()
_jit.AVAILABLE = _jit.AVAILABLE and sys.argv[2] == "1"
y, _ = tqa.decode(data, dtype="int16", frames=4096)  # warm-up (numba's cache load)
best = 1e9
for _ in range(3):
    t = time.process_time()
    y, _ = tqa.decode(data, dtype="int16")
    best = min(best, time.process_time() - t)
print(y.nbytes / best / 1e6, best)
"""


def _digest(path: str) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()[:16]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--wav", help="16-bit WAV input")
    src.add_argument("--corpus", help="folder of music to loop into a stereo 44.1 kHz input")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=3.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--load", default="quiet")
    ap.add_argument("--variant", action="append", default=[], help="NAME=VALUE for an extra tqa decode per repeat")
    ap.add_argument("--ref", action="append", default=[], help="NAME=path/to/tqa: another tqa decoding the same stream")
    ap.add_argument("--in-process", action="store_true")
    ap.add_argument("--clip", type=float, default=0.0, help="also decode a clip of this many seconds")
    args = ap.parse_args()
    for tool in ("wavpack", "wvunpack"):
        if not shutil.which(tool):
            print(f"needs `{tool}` on PATH", file=sys.stderr)
            return 2
    tqa = [sys.executable, "-m", "tqa"]
    loads = args.load.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        T = pathlib.Path(tmp)
        wav = args.wav
        if wav is None:
            wav = str(T / "in.wav")
            build(pathlib.Path(args.corpus), args.minutes, wav)
        tq, wv = str(T / "a.tqa"), str(T / "a.wv")
        run([*tqa, "encode", wav, tq, "--profile", "spectral2", "--rate", str(args.rate), "--quiet", "-f"])
        run(["wavpack", "-b3", "-y", "-q", wav, "-o", wv])
        # name -> (argv, env, output to compare, reference row)
        cmds = {"wvunpack": (["wvunpack", "-y", "-q", wv, "-o", str(T / "w.wav")], None, None, "wvunpack")}
        cmds["tqa decode"] = ([*tqa, "decode", tq, str(T / "t.wav"), "--quiet", "-f"], None, str(T / "t.wav"), "wvunpack")
        for i, kv in enumerate(args.variant):
            k, _, v = kv.partition("=")
            cmds[f"tqa decode [{kv}]"] = ([*tqa, "decode", tq, str(T / f"t{i}.wav"), "--quiet", "-f"],
                                         {**os.environ, k: v}, str(T / f"t{i}.wav"), "wvunpack")  # fmt: skip
        for i, r in enumerate(args.ref):
            name, _, exe = r.partition("=")
            cmds[f"ref {name}"] = ([exe, "decode", tq, str(T / f"r{i}.wav"), "--quiet", "-f"], None, str(T / f"r{i}.wav"),
                                   "wvunpack")  # fmt: skip
        if args.clip:
            import soundfile as sf

            x, sr = sf.read(wav, frames=int(args.clip * 44100), dtype="int16")
            cw, ct, cv = str(T / "c.wav"), str(T / "c.tqa"), str(T / "c.wv")
            sf.write(cw, x, sr, subtype="PCM_16")
            run([*tqa, "encode", cw, ct, "--profile", "spectral2", "--rate", str(args.rate), "--quiet", "-f"])
            run(["wavpack", "-b3", "-y", "-q", cw, "-o", cv])
            cmds[f"wvunpack ({args.clip:g} s)"] = (["wvunpack", "-y", "-q", cv, "-o", str(T / "cw.wav")], None, None,
                                                  f"wvunpack ({args.clip:g} s)")  # fmt: skip
            cmds[f"tqa decode ({args.clip:g} s)"] = ([*tqa, "decode", ct, str(T / "ct.wav"), "--quiet", "-f"], None, None,
                                                    f"wvunpack ({args.clip:g} s)")  # fmt: skip
        res = {(n, ld): [] for n in cmds for ld in loads}
        digests = set()
        for _ in range(args.repeat):
            for ld in loads:
                with Busy(ld == "busy"):
                    for name, (argv, env, out, _ref) in cmds.items():
                        res[name, ld].append(run(argv, env))
                        if out is not None:
                            digests.add(_digest(out))
        secs = os.path.getsize(wav) / (4 * 44100)
        print(f"input {wav} (~{secs:.0f} s if stereo 16-bit 44.1 kHz), spectral2 rate {args.rate:g} "
              f"({os.path.getsize(tq) / 1e6:.2f} MB) vs wavpack -b3 ({os.path.getsize(wv) / 1e6:.2f} MB); "
              f"medians of {args.repeat} interleaved runs; {os.cpu_count()} cores; load average now "
              f"{os.getloadavg()[0]:.2f}; tqa outputs identical: {len(digests) == 1}\n")  # fmt: skip
        print("| command | load | wall s | CPU s | wall / wvunpack | CPU / wvunpack | minor faults | peak MiB |")
        print("|---|---|---|---|---|---|---|---|")
        for name, (*_, refname) in cmds.items():
            for ld in loads:
                r, ref = res[name, ld], res[refname, ld]
                rw = statistics.median(a["wall"] / b["wall"] for a, b in zip(r, ref))
                rc = statistics.median(a["cpu"] / b["cpu"] for a, b in zip(r, ref))
                print(f"| {name} | {ld} | {statistics.median(a['wall'] for a in r):.2f} | "
                      f"{statistics.median(a['cpu'] for a in r):.2f} | {rw:.2f} | {rc:.2f} | "
                      f"{statistics.median(a['minflt'] for a in r):.0f} | {statistics.median(a['rss'] for a in r):.0f} |")  # fmt: skip
        if args.in_process:
            print("\n| in process: tqa.decode(int16) | MB/s of PCM | CPU s |\n|---|---|---|")
            for label, flag in (("compiled (numba)", "1"), ("NumPy", "0")):
                p = subprocess.run([sys.executable, "-c", _IN_PROCESS, tq, flag], capture_output=True, text=True, check=True)
                mbs, cpu = map(float, p.stdout.split())
                print(f"| {label} | {mbs:.0f} | {cpu:.2f} |")
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
