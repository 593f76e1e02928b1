"""Before/after: the same `tqa` commands from several source trees, in one interleaved loop.

    python tools/bench_trees.py IN.wav LABEL=TREE [LABEL=TREE ...] [--repeat 5] [--engine NAME]
                                [--env LABEL:NAME=VALUE] [--profile time|spectral] [--busy]

TREE is a directory holding a ``tqa`` package (e.g. ``git archive COMMIT | tar -x -C
DIR`` plus a ``tqa/backends -> ../backends`` link, as the editable install maps it);
each child runs ``python -m tqa`` with ``PYTHONPATH=TREE`` from a neutral directory.
``LABEL:NAME=VALUE`` adds an environment variable to one label's children only
(``now:MALLOC_TRIM_THRESHOLD_=...``); a label may repeat a tree under another name
to compare environments.  Reports medians of CPU s, wall s, minor page faults and peak
RSS (``os.wait4``) for encode and decode of IN.wav.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_speed import Busy, run  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wav")
    ap.add_argument("trees", nargs="+")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--engine", action="append", default=[], help="LABEL:ENGINE or ENGINE for all")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--profile", default="time")
    ap.add_argument("--busy", action="store_true")
    args = ap.parse_args()
    trees = dict(t.split("=", 1) for t in args.trees)
    envs: dict[str, dict] = {k: {} for k in trees}
    for e in args.env:
        label, _, kv = e.partition(":")
        k, _, v = kv.partition("=")
        envs[label][k] = v
    eng: dict[str, list[str]] = {k: [] for k in trees}
    for e in args.engine:
        label, _, name = e.rpartition(":")
        for k in [label] if label else trees:
            eng[k] = ["--engine", name]
    prof = ["--profile", args.profile]  # named: trees before and after the default's switch to spectral2 differ
    res: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        for _ in range(args.repeat):
            with Busy(args.busy):
                for label, tree in trees.items():
                    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree), **envs[label]}
                    tq, out = f"{tmp}/{label}.tqa", f"{tmp}/{label}.wav"
                    py = [sys.executable, "-m", "tqa"]
                    res.setdefault((label, "encode"), []).append(
                        run([*py, "encode", args.wav, tq, "--quiet", *prof, *eng[label]], env))
                    res.setdefault((label, "decode"), []).append(
                        run([*py, "decode", tq, out, "--quiet", *eng[label]], env))
        print(f"{args.wav}, {args.profile} profile, medians of {args.repeat} interleaved runs"
              f"{' with a busy second core' if args.busy else ''}; load average {os.getloadavg()[0]:.1f}\n")  # fmt: skip
        print("| tree | step | CPU s | wall s | minor faults | peak MiB |")
        print("|---|---|---|---|---|---|")
        for (label, step), rows in res.items():
            m = {k: statistics.median(r[k] for r in rows) for k in ("cpu", "wall", "minflt", "rss")}
            print(f"| {label} | {step} | {m['cpu']:.2f} | {m['wall']:.2f} | {m['minflt']:.0f} | {m['rss']:.0f} |")
        sizes = {lb: os.path.getsize(f"{tmp}/{lb}.tqa") for lb in trees}
        same = len({open(f"{tmp}/{lb}.tqa", "rb").read() for lb in trees}) == 1
        print(f"\n.tqa sizes {sizes}; byte-identical across trees: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
