"""Whole-process speed of `tqa encode` / `tqa decode` against `flac -5`, in one run.

    python tools/bench_vs_flac.py ../shared/corpus [--minutes 5] [--repeat 5] [--engine NAME]

Builds a 16-bit stereo 44.1 kHz WAV of ``--minutes`` by looping the folder's music
files (``music_*``, or all files), then times, alternately and ``--repeat`` times
each: ``flac -5`` encode, ``flac -d`` decode, ``tqa encode`` and ``tqa decode`` at
default settings (6 bits + sign).  Reports the medians and the ratios that the
speed targets are stated in, plus in-process MB/s of the Python API and the peak
memory of each tqa process.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf


def build(folder: pathlib.Path, minutes: float, path: str) -> int:
    files = sorted(folder.glob("music_*")) or sorted(p for p in folder.iterdir() if p.suffix in (".wav", ".flac"))
    parts = []
    for f in files:
        x, sr = sf.read(str(f), dtype="int16", always_2d=True)
        if sr == 44100:
            parts.append(np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x[:, :2])
    if not parts:
        raise SystemExit(f"no 44.1 kHz files in {folder}")
    n = int(minutes * 60 * 44100)
    x = np.concatenate(parts * (n // sum(len(p) for p in parts) + 1))[:n]
    sf.write(path, x, 44100, subtype="PCM_16")
    return x.nbytes


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and this child's peak RSS in MiB."""
    code = ("import resource, subprocess, sys, time\nt = time.perf_counter()\n"
            "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
            "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1]) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--engine", default=None)
    args = ap.parse_args()
    flac = shutil.which("flac")
    if not flac:
        print("needs `flac` on PATH (apt-get install flac)", file=sys.stderr)
        return 2
    # `python -m tqa` is the `tqa` command without any launcher shim in front of it
    tqa = [sys.executable, "-m", "tqa"]
    eng = ["--engine", args.engine] if args.engine else []
    with tempfile.TemporaryDirectory() as tmp:
        wav, fl, tq = (os.path.join(tmp, n) for n in ("in.wav", "in.flac", "in.tqa"))
        nbytes = build(pathlib.Path(args.folder), args.minutes, wav)
        runs: dict[str, list] = {k: [] for k in ("flac enc", "flac dec", "tqa enc", "tqa dec")}
        mem = {"tqa enc": 0.0, "tqa dec": 0.0}
        for _ in range(args.repeat):
            runs["flac enc"].append(timed([flac, "-5", "-f", "-s", wav, "-o", fl])[0])
            runs["flac dec"].append(timed([flac, "-d", "-f", "-s", fl, "-o", os.path.join(tmp, "f.wav")])[0])
            t, m = timed([*tqa, "encode", wav, tq, "--quiet", "--profile", "time", *eng])  # flac's peer; not the default
            runs["tqa enc"].append(t)
            mem["tqa enc"] = max(mem["tqa enc"], m)
            t, m = timed([*tqa, "decode", tq, os.path.join(tmp, "t.wav"), "--quiet", *eng])
            runs["tqa dec"].append(t)
            mem["tqa dec"] = max(mem["tqa dec"], m)
        med = {k: statistics.median(v) for k, v in runs.items()}

        import tqa as lib

        x, _ = sf.read(wav, dtype="int16")
        data = lib.encode(x, 44100, profile="time", engine=args.engine)  # warm-up
        t = time.perf_counter()
        data = lib.encode(x, 44100, profile="time", engine=args.engine)
        te = time.perf_counter() - t
        t = time.perf_counter()
        lib.decode(data, engine=args.engine, dtype="int16")
        td = time.perf_counter() - t
    print(f"{args.minutes:g} min, 44.1 kHz stereo 16-bit ({nbytes / 1e6:.1f} MB), medians of {args.repeat} runs\n")
    print("| step | flac | tqa | tqa / flac | target |")
    print("|---|---|---|---|---|")
    print(f"| encode (whole process) | {med['flac enc']:.2f} s | {med['tqa enc']:.2f} s | {med['tqa enc'] / med['flac enc']:.2f} | <= 1.5 |")
    print(f"| decode (whole process) | {med['flac dec']:.2f} s | {med['tqa dec']:.2f} s | {med['tqa dec'] / med['flac dec']:.2f} | <= 3 |")
    print(f"\nin process (Python API, engine={args.engine or 'auto'}): encode {nbytes / 1e6 / te:.0f} MB/s, "
          f"decode {nbytes / 1e6 / td:.0f} MB/s (targets 100 and 150)")  # fmt: skip
    print(f"peak memory: tqa encode {mem['tqa enc']:.0f} MiB, tqa decode {mem['tqa dec']:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
