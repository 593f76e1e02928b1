"""How the array codec handles a DC offset: uint16 chunks of the synthetic recording around the
mid code and far from it (an ADC baseline), against wavpack-numcodecs at about the same rate.

    python tools/dc_offset.py [--channels 64] [--offsets 32768,2000]
    python tools/dc_offset.py --dtype int16 --offsets 0,10000   # signed chunks: coded about zero

Per offset and codec: stored bits/sample, mean error (decoded − original, counts), the largest
per-channel mean error, the error RMS (counts) and the SQNR of the raw values.  The codec's SQNR
counts a DC offset (from the mid code) as signal, so a chunk far from its mid code may meet its
SQNR with an error far above the recording's own fluctuations.  WavPack takes int16: its rows
code ``u - 32768`` and add it back (int16 chunks as they are).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_array_codec import ephys  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--offsets", default=None, help="baselines, comma-separated (uint16: 32768,2000; int16: 0,10000)")
    ap.add_argument("--dtype", choices=["uint16", "int16"], default="uint16")
    a = ap.parse_args(argv)
    from tqa.numcodecs import TQA

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from wavpack_numcodecs.wavpack import WavPack
    except ImportError:
        WavPack = None
    x, _ = ephys(1.0, channels=a.channels)
    print("| offset | codec | bits/sample | mean error | worst channel's mean | error RMS | SQNR dB |")
    print("|---|---|---|---|---|---|---|")
    signed = a.dtype == "int16"
    shift = 0 if signed else 32768  # what WavPack's int16 input is offset by
    for base in (int(v) for v in (a.offsets or ("0,10000" if signed else "32768,2000")).split(",")):
        u = np.clip(x.astype(np.int32) + base, -32768 if signed else 0, 32767 if signed else 65535).astype(a.dtype)
        rows = [("TQA (default: time, bits=6)", TQA()), ("TQA spectral2 rate=3.2, scale=channel",
                                                         TQA(profile="spectral2", rate=3.2, scale="channel"))]
        if WavPack is not None:
            rows.append(("WavPack bps=3.3 (no noise shaping)", None))
        for name, c in rows:
            if c is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    w = WavPack(bps=3.3, dynamic_noise_shaping=False, num_encoding_threads=1, num_decoding_threads=1)
                    b = w.encode((u.astype(np.int32) - shift).astype(np.int16))
                    y = np.frombuffer(w.decode(b), np.int16).reshape(u.shape).astype(np.int32) + shift
            else:
                b = c.encode(u)
                y = np.asarray(c.decode(b)).reshape(u.shape)
            err = y.astype(np.float64) - u.astype(np.float64)
            sq = 10 * np.log10(np.mean(u.astype(np.float64) ** 2) / max(np.mean(err**2), 1e-300))
            print(f"| {base} | {name} | {len(b) * 8 / u.size:.2f} | {err.mean():+.2f} | {np.abs(err.mean(axis=0)).max():.2f} "
                  f"| {np.sqrt(np.mean(err**2)):.2f} | {sq:.1f} |")


if __name__ == "__main__":
    main()
