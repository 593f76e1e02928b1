"""Scaling of `tqa batch` with workers, on a generated corpus.

    python tools/bench_batch.py [--files 60] [--seconds 20] [--workers 1,2]

Writes ``--files`` 16-bit stereo 44.1 kHz WAV files of ``--seconds`` each (tones and
noise, seeded) to a temporary folder, then runs tqa.batch.run_batch on a fresh
LocalCluster for each worker count and reports throughput (audio seconds per wall
second, cluster start excluded and included), the speed-up over one worker and the
peak resident memory of a worker.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import numpy as np
import soundfile as sf

from tqa.batch import run_batch


def make_corpus(folder: pathlib.Path, files: int, seconds: float) -> float:
    rng = np.random.default_rng(0)
    n = int(seconds * 44100)
    t = np.arange(n) / 44100
    for i in range(files):
        sub = folder / f"set{i % 5}"
        sub.mkdir(parents=True, exist_ok=True)
        f = 110 * (1 + i % 7)
        x = 0.2 * np.sin(2 * np.pi * f * t)[:, None] + rng.normal(0, 0.05, (n, 2))
        sf.write(str(sub / f"take{i:03d}.wav"), (x * 32767).astype(np.int16), 44100, subtype="PCM_16")
    return files * seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp) / "src"
        audio_s = make_corpus(src, args.files, args.seconds)
        print(f"{args.files} files, {audio_s / 60:.0f} min of 44.1 kHz stereo 16-bit\n")
        print("| workers | wall s | cluster start s | x real time (processing) | speed-up | worker peak MiB |")
        print("|---|---|---|---|---|---|")
        base = None
        for w in map(int, args.workers.split(",")):
            s = run_batch(src, pathlib.Path(tmp) / f"out{w}", workers=w, profile="time")  # the README table's profile
            work = s["wall_seconds"] - s["cluster_start_seconds"]
            rate = audio_s / work
            base = base or rate
            print(f"| {w} | {s['wall_seconds']:.2f} | {s['cluster_start_seconds']:.2f} | {rate:.0f} | "
                  f"{rate / base:.2f} | {s['worker_peak_rss_mib']:.0f} |")  # fmt: skip
            assert s["failed"] == 0 and s["files"] == args.files
    return 0


if __name__ == "__main__":
    sys.exit(main())
