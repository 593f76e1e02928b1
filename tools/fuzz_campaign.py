"""The long structure-aware fuzz campaign (issue 14), on demand.

    nice -n 10 python tools/fuzz_campaign.py --cases 200000 --workers 2 [--seed 0] [--profile all]
        [--time-limit 2] [--clock wall|cpu] [--mem-cap-mib 1536] [--memory-every 1] [--json out.json]
        [--failures out.txt]

Cases come from tests/fmtspec.py: an independent model of the .tqa format (not the
library's parser) mutates header fields, side info, spectral scales, VBR indexes
and frames under valid CRCs, or builds streams from fields.  Each case runs
tqa.info, tqa.verify, tqa.decode on every engine, decode(on_error="silence") and
two range decodes, in forked workers (``nice``, one address-space cap each), with

* a hang: any call over ``--time-limit`` s (2 s), or a case interrupted / killed;
* a memory violation: a call whose tracemalloc peak exceeds 64 MiB + 4 x (S + output),
  S the input's size, or a MemoryError;
* an engine disagreement: engines decode to different samples or differ in accepting;
  ``zero_sign``: equal values but different bytes (-0.0 / 0.0);
* an exception: anything but tqa.FormatError;
* length / verify / silence / range / equivalent / spec: wrong output length,
  verify() == [] on an undecodable stream, recovery or range decode unlike the full
  decode, a conforming rewrite decoding differently, or a decode of a stream the
  spec forbids.

Prints one table row per profile; exit status 1 if any case failed.  Reproduce a
failing case with ``fmtspec.make_case(profile, seed, case)``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import fmtspec as F  # noqa: E402

COLUMNS = ("cases", "decoded", "rejected", "hang", "memory", "engines", "zero_sign", "exception", "length", "verify",
           "silence", "range", "equivalent", "spec", "killed")  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=200_000, help="cases per profile (default 200000)")
    ap.add_argument("--profile", choices=["time", "spectral", "spectral2", "both", "all"], default="all",
                    help="both: time and spectral; all (default): the three profiles")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--first-case", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--time-limit", type=float, default=2.0, help="seconds per call (default 2)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="what --time-limit measures: wall time (default) or the worker's CPU time, "
                         "for a machine shared with other work")
    ap.add_argument("--mem-cap-mib", type=int, default=1536, help="address space per worker beyond its start-up size")
    ap.add_argument("--memory-every", type=int, default=1, help="measure memory on every k-th case (1: all; slow)")
    ap.add_argument("--file-every", type=int, default=7, help="every k-th case through a file object")
    ap.add_argument("--numba", action="store_true", help="compare the numba engine too (tqa[fast]; its first compiles count)")
    ap.add_argument("--recycle", type=int, default=2000, help="cases per worker process before a fresh one (default 2000)")
    ap.add_argument("--only", help="a file of case numbers (one per line, or 'case N' anywhere in a line) to run instead of a range")
    ap.add_argument("--deadline", type=float, help="stop each profile after this many seconds (the table says how many ran)")
    ap.add_argument("--json", help="write the figures (and up to 1000 failures) here")
    ap.add_argument("--failures", help="write every failing case (one line each) here")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    profiles = {"time": [0], "spectral": [1], "spectral2": [2], "both": [0, 1], "all": [0, 1, 2]}[a.profile]
    try:
        os.nice(0)  # run it as `nice -n 10 python tools/fuzz_campaign.py ...`
    except OSError:
        pass
    rows, report = [], {"command": " ".join(sys.argv), "seed": a.seed, "profiles": {}}
    only = {}
    if a.only:  # lines of a --failures file: "profile P seed S case N ..."
        import re

        for line in open(a.only):
            m = re.search(r"case (\d+)", line)
            pm = re.search(r"profile (\d)", line)
            if m:
                only.setdefault(int(pm.group(1)) if pm else profiles[0], []).append(int(m.group(1)))
        profiles = [p for p in profiles if p in only]
    for p in profiles:
        last = [0.0]

        def progress(st, p=p):
            if not a.quiet and time.monotonic() - last[0] > 10:
                last[0] = time.monotonic()
                bad = {k: st[k] for k in F.CATEGORIES if st[k]}
                print(f"  profile {p}: {st['cases']}/{a.cases} cases, failing: {bad}", file=sys.stderr, flush=True)

        st = F.campaign(p, a.cases, a.seed, workers=a.workers, mem_cap=a.mem_cap_mib * F.MIB, time_limit=a.time_limit,
                        memory_every=a.memory_every, file_every=a.file_every, progress=progress,
                        first_case=a.first_case, clock=a.clock, deadline=a.deadline, recycle=a.recycle,
                        only=only.get(p), numba=a.numba)  # fmt: skip
        name = ("time", "spectral", "spectral2")[p]
        rows.append((name, st))
        report["profiles"][name] = {**{k: st[k] for k in COLUMNS}, "seconds": st["seconds"], "failing_cases": len(st["failures"]),
                                    "clock": a.clock, "complete": st["complete"], "max_call_wall": st["max_call_wall"], "max_call_cpu": st["max_call_cpu"],
                                    "slowest": st["slowest"],
                                    "failures": [dict(f, found=[list(x) for x in f["found"]]) for f in st["failures"][:1000]]}  # fmt: skip
        if a.failures:
            with open(a.failures, "a") as f:
                for fl in st["failures"]:
                    f.write(f"profile {p} seed {a.seed} " + F.describe(fl) + f" | hex {fl['hex'][:400]}\n")
    widths = [max(len(c), 8) for c in COLUMNS]
    print("profile   " + " ".join(c.rjust(w) for c, w in zip(COLUMNS, widths)) + "   seconds  slowest call: wall / CPU s")
    for name, st in rows:
        print(f"{name:9s} " + " ".join(str(st[c]).rjust(w) for c, w in zip(COLUMNS, widths)) + f"   {st['seconds']:7.0f}"
              f"  {st['max_call_wall']:.2f} / {st['max_call_cpu']:.2f}")
    print(f"hang = a call over {a.time_limit:g} s of {'CPU' if a.clock == 'cpu' else 'wall'} time")
    for name, st in rows:
        seen = {}
        for fl in st["failures"]:
            for cat, detail in fl["found"]:
                seen.setdefault(cat, (fl, detail))
        for cat, (fl, detail) in seen.items():
            print(f"first {cat:10s} ({name}): case {fl['case']}: {fl['desc']}: {detail}"[:400])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    return 1 if any(st["failures"] for _, st in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
