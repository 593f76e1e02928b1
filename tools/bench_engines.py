"""In-process speed of every engine: encode and decode MB/s of 16-bit PCM.

    python tools/bench_engines.py [--seconds 60] [--blocks 64,256,512,2048,8192] [--bits 6]
    python tools/bench_engines.py --music --seconds 300 --blocks 512 --engines tiled,numba --repeat 5
    python tools/bench_engines.py --spectral [--seconds 60]      # spectral profile, every engine
    python tools/bench_engines.py --first-call [--repeat 5]      # fresh processes: import + first call

The signal is stereo 44.1 kHz int16 (noise shaped like music: a sine mix plus
noise; ``--music``: the corpus music of tools/bench_crops.py, looped to ``--seconds``, whose
hard blocks and silences the synthetic signal lacks).  ``--engines``: a comma-separated
subset of the engines (default: all).  Each figure is the median of ``--repeat`` warm runs, in CPU seconds of
this process (``--wall`` for wall-clock: on a shared machine CPU time is the figure
that does not count other processes' turns) of tqa.encode /
tqa.decode with an explicit engine (one core: the codec limits BLAS to one thread,
tqa.threads); MB/s counts the int16 PCM bytes.  The engine-choice rule
(engine=None) comes from this table and from ``--first-call``: in fresh child
processes, the seconds to import the engine's module (numba's import for the
compiled engine) and to run its first encode and decode of a 5-s clip, against the
same calls warm, so the start-up cost a process pays before an engine gains is
measured rather than guessed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

import tqa


def signal(seconds: float, rate: int = 44100) -> np.ndarray:
    n = int(seconds * rate)
    t = np.arange(n) / rate
    rng = np.random.default_rng(0)
    x = 0.2 * np.sin(2 * np.pi * 220 * t)[:, None] + 0.1 * np.sin(2 * np.pi * 3520 * t + 1)[:, None]
    x = x + rng.normal(0, 0.05, (n, 2))
    return (x * 32767).clip(-32768, 32767).astype(np.int16)


_clock = time.process_time  # CPU seconds of this process (--wall: time.perf_counter)


def best(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` warm calls (the machine may be shared: medians, not minima)."""
    fn()
    times = []
    for _ in range(repeat):
        t = _clock()
        fn()
        times.append(_clock() - t)
    return statistics.median(times)


_FIRST = """
import json, sys, time
clock = time.process_time if sys.argv[2] == "cpu" else time.perf_counter
t0 = clock()
import numpy as np, tqa
from tqa.registry import get_engine
t1 = clock()
get_engine(sys.argv[1])
t2 = clock()
n = 5 * 44100
x = (np.random.default_rng(0).normal(0, 3000, (n, 2))).clip(-32768, 32767).astype(np.int16)
t3 = clock()
d = tqa.encode(x, 44100, profile="time", engine=sys.argv[1])
t4 = clock()
tqa.decode(d, engine=sys.argv[1], dtype="int16")
t5 = clock()
tqa.encode(x, 44100, profile="time", engine=sys.argv[1])
t6 = clock()
tqa.decode(d, engine=sys.argv[1], dtype="int16")
t7 = clock()
print(json.dumps(dict(import_tqa=t1 - t0, import_engine=t2 - t1, first_encode=t4 - t3, first_decode=t5 - t4,
                      warm_encode=t6 - t5, warm_decode=t7 - t6)))
"""


def first_call(repeat: int, wall: bool = False) -> None:
    """Fresh-process costs per engine (median of ``repeat`` processes), interleaved."""
    engines = tqa.engines()
    runs: dict[str, list[dict]] = {e: [] for e in engines}
    for _ in range(repeat):
        for e in engines:
            out = subprocess.run([sys.executable, "-c", _FIRST, e, "wall" if wall else "cpu"], check=True, capture_output=True, text=True).stdout
            runs[e].append(json.loads(out))
    keys = ["import_tqa", "import_engine", "first_encode", "first_decode", "warm_encode", "warm_decode"]
    print(f"fresh processes, 5-s stereo int16 clip, medians of {repeat} ({'wall' if wall else 'CPU'} ms)\n")
    print("| engine | " + " | ".join(keys) + " | start-up paid (import_engine + first - warm) |")
    print("|---|" + "---|" * (len(keys) + 1))
    for e in engines:
        m = {k: statistics.median(r[k] for r in runs[e]) * 1e3 for k in keys}
        paid = m["import_engine"] + m["first_encode"] - m["warm_encode"] + m["first_decode"] - m["warm_decode"]
        print(f"| {e} | " + " | ".join(f"{m[k]:.0f}" for k in keys) + f" | {paid:.0f} |")


def spectral(x: np.ndarray, args) -> None:
    mb = x.nbytes / 1e6
    print(f"spectral profile (rate 3.2, hop 1024), {args.seconds:g} s stereo int16 ({mb:.1f} MB), medians\n")
    print("| engine | encode MB/s | decode MB/s |")
    print("|---|---|---|")
    for e in tqa.engines():
        data = tqa.encode(x, 44100, profile="spectral", engine=e)
        te = best(lambda: tqa.encode(x, 44100, profile="spectral", engine=e), args.repeat)
        td = best(lambda: tqa.decode(data, engine=e, dtype="int16"), args.repeat)
        print(f"| {e} | {mb / te:.0f} | {mb / td:.0f} |")


def streaming(x: np.ndarray, n: int, engine: str, args):
    """(encode, decode) callables through the streaming API (tqa.encode / tqa.decode)."""
    kw = dict(bits=args.bits, residual=args.residual, block_size=n, engine=engine)
    data = tqa.encode(x, 44100, **kw)
    return (lambda: tqa.encode(x, 44100, **kw)), (lambda: tqa.decode(data, engine=engine, dtype="int16"))


def whole(x: np.ndarray, n: int, engine: str, args):
    """(encode, decode) callables of one TurboAudioEngine call on the whole signal."""
    eng = tqa.TurboAudioEngine(block_size=n, bits=args.bits, residual=args.residual, engine=engine)
    blocks, scales = eng.compress_signal(x)
    return (lambda: eng.compress_signal(x)), (lambda: eng.decompress_signal(blocks, scales))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--blocks", default="64,256,512,2048,8192")
    ap.add_argument("--bits", type=int, default=6)
    ap.add_argument("--residual", default="sign")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--first-call", action="store_true", help="fresh-process import + first-call cost per engine")
    ap.add_argument("--spectral", action="store_true", help="the spectral profile instead")
    ap.add_argument("--wall", action="store_true", help="wall-clock seconds instead of this process's CPU seconds")
    ap.add_argument("--music", action="store_true", help="corpus music (tools/bench_crops.py) instead of the synthetic signal")
    ap.add_argument("--engines", default=None, help="comma-separated engines (default: every registered one)")
    ap.add_argument("--whole", action="store_true",
                    help="one TurboAudioEngine call on the whole signal (the large-batch regime)")  # fmt: skip
    args = ap.parse_args()
    if args.wall:
        global _clock
        _clock = time.perf_counter
    if args.first_call:
        first_call(args.repeat, args.wall)
        return
    if args.music:
        from bench_crops import music

        x = music(args.seconds / 60)
    else:
        x = signal(args.seconds)
    if args.spectral:
        spectral(x, args)
        return
    mb = x.nbytes / 1e6
    engines = args.engines.split(",") if args.engines else tqa.engines()
    how = "one call on" if args.whole else "streaming API,"
    what = "corpus music" if args.music else "synthetic"
    print(f"{how} {args.seconds:g} s stereo 44.1 kHz int16 {what} ({mb:.1f} MB), bits={args.bits}, "
          f"residual={args.residual}, {'wall' if args.wall else 'CPU'} time, medians of {args.repeat}\n")
    print("| block | " + " | ".join(f"{e} enc MB/s | {e} dec MB/s" for e in engines) + " | fastest |")
    print("|---|" + "---|---|" * len(engines) + "---|")
    for n in map(int, args.blocks.split(",")):
        row, speeds = [], {}
        for e in engines:
            enc, dec = (whole if args.whole else streaming)(x, n, e, args)
            te, td = best(enc, args.repeat), best(dec, args.repeat)
            row += [f"{mb / te:.0f}", f"{mb / td:.0f}"]
            speeds[e] = te + td
        print(f"| {n} | " + " | ".join(row) + f" | {min(speeds, key=speeds.get)} |")


if __name__ == "__main__":
    main()
