"""How the array codec handles a DC offset: uint16 chunks of the synthetic recording around the
mid code and far from it (an ADC baseline), int16 or float32 (microvolts) ones at a level away
from zero, against wavpack-numcodecs at about the same rate (on the int16 counts).

    python tools/dc_offset.py [--channels 64] [--offsets 32768,2000]
    python tools/dc_offset.py --dtype int16 --offsets 0,300,10000   # signed chunks at a DC level
    python tools/dc_offset.py --dtype float32 --offsets 0,300,10000 # the same counts as float32 microvolts
    python tools/dc_offset.py --survey ../shared/corpus [more.wav ...]   # which signed chunks take offsets

Per offset and codec: stored bits/sample, mean error (decoded − original, counts), the largest
per-channel mean error, the error RMS (counts) and the SQNR of the raw values.  The codec's SQNR
counts a DC offset as signal, so a chunk coded about its mid code (or about zero) while far from
it may meet its SQNR with an error far above the recording's own fluctuations; chunks carry
per-channel offsets against that (unsigned: always; signed: where the level is worth them).  WavPack takes int16: its rows
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


UV = 0.195  # microvolts per count (--dtype float32)


def survey(paths: list[str]) -> None:
    """Per file (a directory: its .flac and .wav files) and for the synthetic recording (10 s): the
    largest |level| / peak about it over its 1-s int16 chunks, against the codec's 1/DC_PEAK, and
    how many of its chunks take offsets."""
    import glob

    import soundfile as sf

    from tqa import arraycodec as ac

    files = []
    for p in paths:
        files += sorted(glob.glob(os.path.join(p, "*.flac")) + glob.glob(os.path.join(p, "*.wav"))) if os.path.isdir(p) else [p]
    print(f"signed chunks take offsets where some channel's |level| / peak >= 1/{ac.DC_PEAK} = {1 / ac.DC_PEAK:.4f}")
    print("| input | 1-s chunks | largest abs(level) / peak | chunks taking offsets |")
    print("|---|---|---|---|")
    rec, _ = ephys(10.0)
    for name, x, sr in [(os.path.basename(f), *sf.read(f, dtype="int16", always_2d=True)) for f in files] + [
            ("synthetic recording (384 ch, 30 kHz)", rec, 30000)]:  # fmt: skip
        worst, taken, n = 0.0, 0, 0
        for i in range(0, len(x) - sr + 1, sr):
            c = np.ascontiguousarray(x[i : i + sr])
            off = ac._offsets(c, c.dtype)
            hi, lo = ac._extremes(c)
            worst = max(worst, float(np.max(np.abs(off) / np.maximum(np.maximum(hi - off, off - lo), 1))))
            taken += bool(ac.chunk_offsets(c, c.dtype)[0].any())
            n += 1
        print(f"| {name} | {n} | {worst:.4f} | {taken} |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--offsets", default=None, help="baselines in counts, comma-separated (uint16: 32768,2000; int16, float32: 0,10000)")
    ap.add_argument("--dtype", choices=["uint16", "int16", "float32"], default="uint16",
                    help="float32: the counts in microvolts (x 0.195, a Neuropixels probe's gain), errors in counts")  # fmt: skip
    ap.add_argument("--survey", nargs="+", metavar="PATH", help="audio files or directories: which 1-s chunks take offsets")
    a = ap.parse_args(argv)
    if a.survey:
        return survey(a.survey)
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
    signed = a.dtype != "uint16"
    shift = 0 if signed else 32768  # what WavPack's int16 input is offset by
    uv = a.dtype == "float32"  # the same counts as microvolts: errors reported back in counts
    for base in (int(v) for v in (a.offsets or ("0,10000" if signed else "32768,2000")).split(",")):
        u = np.clip(x.astype(np.int32) + base, -32768 if signed else 0, 32767 if signed else 65535).astype("int16" if uv else a.dtype)
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
            elif uv:
                b = c.encode((u * np.float32(UV)).astype(np.float32))
                y = np.asarray(c.decode(b)).reshape(u.shape) / UV
            else:
                b = c.encode(u)
                y = np.asarray(c.decode(b)).reshape(u.shape)
            err = y.astype(np.float64) - u.astype(np.float64)
            sq = 10 * np.log10(np.mean(u.astype(np.float64) ** 2) / max(np.mean(err**2), 1e-300))
            print(f"| {base} | {name} | {len(b) * 8 / u.size:.2f} | {err.mean():+.2f} | {np.abs(err.mean(axis=0)).max():.2f} "
                  f"| {np.sqrt(np.mean(err**2)):.2f} | {sq:.1f} |")


if __name__ == "__main__":
    main()
