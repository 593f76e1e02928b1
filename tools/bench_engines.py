"""In-process speed of every engine: encode and decode MB/s of 16-bit PCM.

    python tools/bench_engines.py [--seconds 60] [--blocks 64,256,512,2048,8192] [--bits 6]

The signal is stereo 44.1 kHz int16 (noise shaped like music: a sine mix plus
noise).  Each figure is the best of ``--repeat`` warm runs of tqa.encode /
tqa.decode with an explicit engine; MB/s counts the int16 PCM bytes.  The
README's engine-choice rule (engine=None) comes from this table.
"""

from __future__ import annotations

import argparse
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


def best(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


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
    ap.add_argument("--whole", action="store_true",
                    help="one TurboAudioEngine call on the whole signal (the large-batch regime)")  # fmt: skip
    args = ap.parse_args()
    x = signal(args.seconds)
    mb = x.nbytes / 1e6
    engines = tqa.engines()
    how = "one call on" if args.whole else "streaming API,"
    print(f"{how} {args.seconds:g} s stereo 44.1 kHz int16 ({mb:.1f} MB), bits={args.bits}, residual={args.residual}\n")
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
