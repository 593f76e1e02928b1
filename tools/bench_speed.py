"""Whole-process speed against flac and wavpack, quiet and with a busy second core.

    python tools/bench_speed.py /work/shared/corpus [--minutes 5] [--repeat 5] [--load quiet,busy]
                                [--profiles time,spectral] [--clips 60] [--env NAME=VALUE ...]

Every figure comes from child processes run in one interleaved loop: per repeat and
per load condition, each command once (``flac -5``, ``flac -d``, ``wavpack -b3``,
``wvunpack``, ``tqa encode`` / ``tqa decode`` of each profile), so the ratios compare
runs made under the same machine state.  ``busy``: a CPU-bound ``python -c "while
True: pass"`` runs for the duration of that condition's commands (the cliff of
issue 15: BLAS threads spinning against another process).  For each child the tool
reads ``os.wait4``'s rusage: CPU time (user + sys), minor page faults and peak RSS,
plus wall time.  Medians are reported, with ratios to the reference codec's median
CPU and wall *of the same load condition*, and each tqa command's CPU under load over
its quiet CPU (target <= 1.2).

``--clips N``: N 5-second clips cut from the corpus; per clip, one process each
(``flac -5`` vs ``tqa encode``, ``flac -d`` vs ``tqa decode``), and all clips in one process:
``flac`` and ``tqa encode`` both take the N files in one command (and tqa through the Python
API ``tqa.audio.encode_file`` in one ``python -c``).

``--startup R``: what a short process spends before it codes anything, R interleaved runs of
a ladder of commands (``python -c pass``, ``import numpy``, ``import numpy, soundfile``,
``import tqa.cli``, ``tqa --help``, then one 5-s clip through ``tqa encode`` / ``tqa decode``
and ``flac``), CPU ms medians; with ``--startup`` alone (no ``--clips``) nothing else runs
unless ``--minutes`` is given.

Bytecode: the tqa package (and ``backends/``) is compiled first (``compileall``), since an
environment with ``PYTHONDONTWRITEBYTECODE=1`` would otherwise recompile every tqa module in
every child (~100 ms a process); an installed wheel ships its bytecode.

``--env NAME=VALUE`` is added to every tqa child's environment (e.g.
``OPENBLAS_NUM_THREADS=1`` or ``TQA_THREADS=auto``, to compare against the default).
The machine this runs on may be shared: the table says what load it measured, not
what else ran.
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

HERE = pathlib.Path(__file__).resolve().parent


def compile_tqa() -> None:
    """Bytecode for the tqa package and backends/ (read by every child even where
    PYTHONDONTWRITEBYTECODE=1 keeps them from writing it)."""
    import compileall

    import tqa

    root = pathlib.Path(tqa.__file__).resolve().parent
    for d in (root, root.parent / "backends"):
        if d.is_dir():
            compileall.compile_dir(str(d), quiet=1)


def startup(repeat: int, env: dict, clip: str, T: pathlib.Path) -> None:
    py = sys.executable
    tqa = [py, "-m", "tqa"]
    run([*tqa, "encode", clip, "-o", str(T / "s.tqa"), "-q", "-f", "--profile", "time"], env)
    ladder = {
        "python -c pass": [py, "-c", "pass"],
        "import numpy": [py, "-c", "import numpy"],
        "import numpy, soundfile": [py, "-c", "import numpy, soundfile"],
        "import tqa.cli": [py, "-c", "import tqa.cli"],
        "tqa --help": [*tqa, "--help"],
        "tqa encode (5-s clip)": [*tqa, "encode", clip, "-o", str(T / "s.tqa"), "-q", "-f", "--profile", "time"],
        "tqa decode (5-s clip)": [*tqa, "decode", str(T / "s.tqa"), "-o", str(T / "s.wav"), "-q", "-f"],
        "flac -5 (5-s clip)": ["flac", "-5", "-f", "-s", clip, "-o", str(T / "s.flac")],
        "flac -d (5-s clip)": ["flac", "-d", "-f", "-s", str(T / "s.flac"), "-o", str(T / "sf.wav")],
    }
    rows = {k: [] for k in ladder}
    for _ in range(repeat):
        for k, argv in ladder.items():
            rows[k].append(run(argv, env if argv[0] == py else None))
    print(f"\nStart-up: CPU ms (user + sys) of whole processes, medians of {repeat} interleaved runs; "
          f"load average now {os.getloadavg()[0]:.2f}\n")  # fmt: skip
    print("| command | CPU ms | wall ms | minor faults |")
    print("|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {med(r, 'cpu') * 1e3:.0f} | {med(r, 'wall') * 1e3:.0f} | {med(r, 'minflt'):.0f} |")


def build(folder: pathlib.Path, minutes: float, path: str) -> int:
    """A 16-bit stereo 44.1 kHz WAV of ``minutes`` looped from the folder's music (returns PCM bytes)."""
    sys.path.insert(0, str(HERE))
    from bench_vs_flac import build as _build

    return _build(folder, minutes, path)


def clips(folder: pathlib.Path, n: int, seconds: float, out: pathlib.Path) -> list[str]:
    files = sorted(p for p in folder.iterdir() if p.suffix == ".flac")
    parts = []
    for f in files:
        x, sr = sf.read(str(f), dtype="int16", always_2d=True)
        if sr == 44100:
            parts.append(np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x[:, :2])
    x = np.concatenate(parts)
    m = int(seconds * 44100)
    paths = []
    for i in range(n):
        lo = (i * 7919 * 441) % max(1, x.shape[0] - m)
        p = out / f"clip{i:03d}.wav"
        sf.write(str(p), x[lo : lo + m], 44100, subtype="PCM_16")
        paths.append(str(p))
    return paths


# A small launcher process runs each command: Linux keeps ru_maxrss across fork + exec,
# so a child forked straight from this (large) process would report this one's peak.
_LAUNCH = """import os, sys, time
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t
print(os.waitstatus_to_exitcode(status), wall, ru.ru_utime + ru.ru_stime, ru.ru_minflt, ru.ru_maxrss / 1024)
"""


def run(cmd: list[str], env: dict | None = None) -> dict:
    """Wall s, CPU s (user+sys), minor faults, peak RSS MiB of one child process."""
    p = subprocess.run([sys.executable, "-S", "-c", _LAUNCH, *cmd], env=env, capture_output=True, text=True)
    rc, wall, cpu, flt, rss = p.stdout.split()[-5:] if p.stdout.strip() else ("1", 0, 0, 0, 0)
    if int(rc) or p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({rc}):\n{p.stderr}")
    return {"wall": float(wall), "cpu": float(cpu), "minflt": float(flt), "rss": float(rss)}


class Busy:
    """A CPU-bound child for the duration of a ``with`` block (or nothing, if off)."""

    def __init__(self, on: bool) -> None:
        self.on, self.p = on, None

    def __enter__(self):
        if self.on:
            self.p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        if self.p is not None:
            self.p.kill()
            self.p.wait()


def med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--minutes", type=float, default=None, help="length of the long file (default 5)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--load", default="quiet,busy")
    ap.add_argument("--profiles", default="time,spectral")
    ap.add_argument("--clips", type=int, default=0, help="also time N 5-s clips (0: skip)")
    ap.add_argument("--clip-repeat", type=int, default=3)
    ap.add_argument("--startup", type=int, default=0, metavar="R", help="start-up ladder, R runs (0: skip)")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for the tqa children")
    ap.add_argument("--no-peers", action="store_true", help="skip wavpack")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=VALUE: also run every tqa command with this in its environment, in the same loop")
    args = ap.parse_args()
    for tool in ("flac", "wavpack", "wvunpack"):
        if not shutil.which(tool):
            print(f"needs `{tool}` on PATH", file=sys.stderr)
            return 2
    env = dict(os.environ)
    for kv in args.env:
        k, _, v = kv.partition("=")
        env[k] = v
    loads = args.load.split(",")
    tqa = [sys.executable, "-m", "tqa"]
    compile_tqa()
    long_file = args.minutes is not None or not (args.startup or args.clips)
    args.minutes = 5.0 if args.minutes is None else args.minutes
    with tempfile.TemporaryDirectory() as tmp:
        T = pathlib.Path(tmp)
        if args.startup:
            (T / "st").mkdir()
            startup(args.startup, env, clips(pathlib.Path(args.folder), 1, 5.0, T / "st")[0], T / "st")
        if long_file:
            table(args, env, loads, tqa, T)
        if args.clips:
            clip_table(args, env, tqa, T)
    return 0


def table(args, env, loads, tqa, T) -> None:
    wav = str(T / "in.wav")
    nbytes = build(pathlib.Path(args.folder), args.minutes, wav)
    # name -> (argv, env, reference name)
    cmds: dict[str, tuple[list[str], dict | None, str]] = {
        "flac -5": (["flac", "-5", "-f", "-s", wav, "-o", str(T / "a.flac")], None, "flac -5"),
        "flac -d": (["flac", "-d", "-f", "-s", str(T / "a.flac"), "-o", str(T / "fd.wav")], None, "flac -d"),
    }
    if not args.no_peers:
        cmds["wavpack -b3"] = (["wavpack", "-b3", "-y", "-q", wav, "-o", str(T / "a.wv")], None, "flac -5")
        cmds["wvunpack"] = (["wvunpack", "-y", "-q", str(T / "a.wv"), "-o", str(T / "wd.wav")], None, "flac -d")
    for prof in args.profiles.split(","):
        extra = ["--profile", prof]  # each profile at its own defaults (spectral2: rate 3)
        tq = str(T / f"a_{prof}.tqa")
        peer = "wavpack -b3" if prof != "time" and not args.no_peers else "flac -5"  # the lossy peer of the spectral ones
        cmds[f"tqa encode {prof}"] = ([*tqa, "encode", wav, tq, "--quiet", "-f", *extra], env, peer)
        cmds[f"tqa decode {prof}"] = ([*tqa, "decode", tq, str(T / "td.wav"), "--quiet", "-f"], env,
                                      "wvunpack" if peer == "wavpack -b3" else "flac -d")  # fmt: skip
        for kv in args.variant:
            k, _, v = kv.partition("=")
            venv = {**env, k: v}
            for op in ("encode", "decode"):
                argv, _, ref = cmds[f"tqa {op} {prof}"]
                cmds[f"tqa {op} {prof} [{kv}]"] = (argv, venv, ref)
    # outputs the decoders read
    for name in cmds:
        if "decode" not in name and "-d" not in name and "wvunpack" not in name and "[" not in name:
            run(cmds[name][0], cmds[name][1])
    res: dict[tuple[str, str], list[dict]] = {(n, ld): [] for n in cmds for ld in loads}
    for _ in range(args.repeat):
        for ld in loads:
            with Busy(ld == "busy"):
                for name, (argv, e, _) in cmds.items():
                    res[name, ld].append(run(argv, e))
    print(f"{args.minutes:g} min 44.1 kHz stereo 16-bit ({nbytes / 1e6:.1f} MB); medians of {args.repeat} "
          f"interleaved runs; {os.cpu_count()} cores; load average now {os.getloadavg()[0]:.2f}"
          + (f"; tqa env: {' '.join(args.env)}" if args.env else "") + "\n")  # fmt: skip
    print("| command | load | wall s | CPU s | CPU / ref | wall / ref | CPU / quiet CPU | minor faults | peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (_, _, ref) in cmds.items():
        for ld in loads:
            r = res[name, ld]
            cpu, wall = med(r, "cpu"), med(r, "wall")
            rc, rw = med(res[ref, ld], "cpu"), med(res[ref, ld], "wall")
            vs_quiet = f"{cpu / med(res[name, 'quiet'], 'cpu'):.2f}" if "quiet" in loads else "-"
            print(f"| {name} | {ld} | {wall:.2f} | {cpu:.2f} | {cpu / rc:.2f} | {wall / rw:.2f} | {vs_quiet} | "
                  f"{med(r, 'minflt'):.0f} | {med(r, 'rss'):.0f} |")  # fmt: skip


def clip_table(args, env, tqa, T) -> None:
    clip_dir = T / "clips"
    clip_dir.mkdir()
    paths = clips(pathlib.Path(args.folder), args.clips, 5.0, clip_dir)
    out = T / "clip_out"
    out.mkdir()
    one = ("import sys, tqa.audio as a\nfor p in sys.argv[2:]:\n"
           "    a.encode_file(p, sys.argv[1] + '/' + p.rsplit('/', 1)[1] + '.tqa', profile='time')")  # fmt: skip
    per = {"flac -5": [], "tqa encode time": [], "tqa encode spectral": [], "flac -d": [], "tqa decode time": []}
    allin = {"flac -5": [], "tqa encode (one command)": [], "tqa (API, one process)": []}
    for _ in range(args.clip_repeat):
        for p in paths[: min(len(paths), 20)]:  # per-clip cost from 20 single-file processes
            per["flac -5"].append(run(["flac", "-5", "-f", "-s", p, "-o", str(out / "c.flac")])["cpu"])
            per["tqa encode time"].append(run([*tqa, "encode", p, str(out / "c.tqa"), "--quiet", "-f", "--profile", "time"], env)["cpu"])
            per["tqa encode spectral"].append(
                run([*tqa, "encode", p, str(out / "s.tqa"), "--quiet", "-f", "--profile", "spectral"], env)["cpu"])
            per["flac -d"].append(run(["flac", "-d", "-f", "-s", str(out / "c.flac"), "-o", str(out / "fd.wav")])["cpu"])
            per["tqa decode time"].append(run([*tqa, "decode", str(out / "c.tqa"), str(out / "td.wav"), "--quiet", "-f"], env)["cpu"])
        allin["flac -5"].append(run(["flac", "-5", "-f", "-s", "--output-prefix=" + str(out) + "/", *paths]))
        allin["tqa encode (one command)"].append(run([*tqa, "encode", *paths, "-o", str(out), "--quiet", "-f", "--profile", "time"], env))
        allin["tqa (API, one process)"].append(run([sys.executable, "-c", one, str(out), *paths], env))
    print(f"\n{args.clips} x 5-s clips (44.1 kHz stereo 16-bit), no busy process; medians of {args.clip_repeat}; "
          f"load average now {os.getloadavg()[0]:.2f}\n")  # fmt: skip
    print("| command | CPU ms per clip (one process per clip) | CPU / flac |")
    print("|---|---|---|")
    for k, v in per.items():
        f = statistics.median(per["flac -d" if "decode" in k or k == "flac -d" else "flac -5"])
        print(f"| {k} | {statistics.median(v) * 1e3:.0f} | {statistics.median(v) / f:.1f} |")
    print(f"\n| all {args.clips} clips in one process | wall s | CPU s | CPU / flac |")
    print("|---|---|---|---|")
    f = med(allin["flac -5"], "cpu")
    for k, v in allin.items():
        print(f"| {k} | {med(v, 'wall'):.2f} | {med(v, 'cpu'):.2f} | {med(v, 'cpu') / f:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
