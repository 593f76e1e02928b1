"""Peak memory of `tqa encode` / `tqa decode` against duration (streaming check).

    python tools/bench_memory.py --minutes 2,20 [--rate 48000] [--channels 2]
    python tools/bench_memory.py --minutes 5,20 --rate 44100 --profile spectral2 [--args "--rate 3"]

Writes 16-bit WAV files of noise-like music of each duration to a temporary
folder, runs the installed `tqa` commands on them in child processes and reports
each one's wall time, CPU time (user + system: steadier than wall time on a shared
machine) and peak resident memory (ru_maxrss).  Flat memory across
durations means streaming works; the source file itself is far larger.
``--profile`` and ``--args`` are passed to `tqa encode` (the decode needs neither).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf


def write_wav(path: str, minutes: float, rate: int, channels: int) -> None:
    n = int(minutes * 60 * rate)
    rng = np.random.default_rng(0)
    chunk = rate * 10
    t = np.arange(chunk) / rate
    with sf.SoundFile(path, "w", rate, channels, "PCM_16") as f:
        for lo in range(0, n, chunk):
            m = min(chunk, n - lo)
            x = 0.2 * np.sin(2 * np.pi * 220 * t[:m])[:, None] + rng.normal(0, 0.05, (m, channels))
            f.write((x * 32767).astype(np.int16))


def measure(cmd: list[str]) -> tuple[float, float, float]:
    """(seconds, CPU seconds (user + system), peak RSS in MiB) of a child process."""
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(time.perf_counter() - t, r.ru_utime + r.ru_stime, r.ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1]), float(out[2]) / 1024.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", default="2,20")
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--profile", default=None, help="tqa encode --profile (default: the default profile)")
    ap.add_argument("--no-decode", action="store_true", help="measure the encoder only")
    ap.add_argument("--args", default="", help="more tqa encode options, one string (e.g. \"--rate 3\")")
    args = ap.parse_args()
    tqa = shutil.which("tqa")
    if tqa is None:
        print("install the project first (pip install .)", file=sys.stderr)
        return 2
    print("| duration | WAV size | encode s | encode CPU s | encode peak MiB | decode s | decode CPU s | decode peak MiB |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in map(float, args.minutes.split(",")):
            wav, tq, out = (os.path.join(tmp, f) for f in ("in.wav", "in.tqa", "out.wav"))
            write_wav(wav, minutes, args.rate, args.channels)
            extra = (["--profile", args.profile] if args.profile else []) + args.args.split()
            te, ce, me = measure([tqa, "encode", wav, tq, "--quiet", *extra])
            td, cd, md = (float("nan"),) * 3 if args.no_decode else measure([tqa, "decode", tq, out, "--quiet"])
            size = os.path.getsize(wav) / 2**20
            print(f"| {minutes:g} min | {size:.0f} MiB | {te:.2f} | {ce:.2f} | {me:.0f} | {td:.2f} | {cd:.2f} | {md:.0f} |")
            for f in (wav, tq, out):
                if os.path.exists(f):
                    os.unlink(f)
    prof = f"profile {args.profile}" if args.profile else "default profile"
    print(f"\n({args.rate} Hz, {args.channels} ch, 16-bit, {prof} {args.args}; peak = ru_maxrss of the tqa process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
