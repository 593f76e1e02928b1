"""Random 1-s crops per second: .tqa files vs soundfile on WAV, and zarr v3 (1-s chunks) TQA vs WavPack.

    python tools/bench_crops.py                 # corpus music, 64 crops, 3 rounds
    python tools/bench_crops.py --crops 128 --rounds 5 --minutes 4
    python tools/bench_crops.py --no-zarr --engines default,tiled,numba   # the compiled engine (tqa[fast])
    python tools/bench_crops.py --zarr-only --rounds 5    # WAV, then zarr v3 TQA (time, spectral, spectral2) vs WavPack

Every reader runs once untimed (imports, compiled-code caches), then every round draws new
random starts and times each reader on the same crops, in the same loop (the machine is shared: compare the ratios).  Readers:

- ``wav``: soundfile ``SoundFile.seek`` + ``read`` per crop on a PCM_16 WAV (the reference);
- ``tqa per-crop``: ``tqa.Decoder(f).read(start, frames)`` per crop (default engine, and numba
  if listed in ``--engines``);
- ``tqa read_crops``: :func:`tqa.crops.read_crops` (one call for all crops), for each engine of
  ``--engines`` (default: the default engine and ``numpy``), time, spectral and spectral2 (rate
  3.2) profiles;
- ``zarr tqa`` / ``zarr wavpack``: ``a[start:start+frames]`` per crop on zarr v3 arrays
  with 1-s chunks, TQA (time default; spectral and spectral2 at rate 3.2: spectral2's rate is
  the whole chunk's) vs wavpack-numcodecs' v3 serializer (hybrid, bps calibrated to TQA's
  stored bits/sample), in-memory stores.  A 1-s crop at a random start spans two chunks.

Single-threaded BLAS; the files live in a temporary directory (page cache: WAV
reading is then a memory copy, the hardest reference).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import glob  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

CORPUS = "/work/shared/corpus"


def music(minutes: float) -> np.ndarray:
    import soundfile as sf

    parts, n = [], int(minutes * 60 * 44100)
    while sum(len(p) for p in parts) < n:
        for p in sorted(glob.glob(os.path.join(CORPUS, "*.flac"))):
            x, sr = sf.read(p, dtype="int16", always_2d=True)
            if x.shape[1] == 2 and sr == 44100:
                parts.append(x)
    return np.concatenate(parts)[:n]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--crops", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-zarr", action="store_true")
    ap.add_argument("--zarr-only", action="store_true", help="the WAV reference and the zarr readers only")
    ap.add_argument("--engines", default="default,numpy",
                    help="engines of the tqa readers, comma-separated: default (the auto rule), numpy, tiled, scipy, numba "
                         "(the extra tqa[fast]; once it is loaded, the auto rule picks it: the default rows then run it)")
    a = ap.parse_args(argv)

    import soundfile as sf

    import tqa
    from tqa.crops import read_crops

    sr, frames = 44100, 44100
    x = music(a.minutes)
    d = tempfile.mkdtemp(prefix="bench_crops_")
    wav, tq, tqs, tqs2 = (os.path.join(d, n) for n in ("m.wav", "m.tqa", "m_spectral.tqa", "m_spectral2.tqa"))
    sf.write(wav, x, sr, subtype="PCM_16")
    if not a.zarr_only:
        with open(tq, "wb") as f:
            f.write(tqa.encode(x, sr, profile="time"))
        with open(tqs, "wb") as f:
            f.write(tqa.encode(x, sr, profile="spectral", rate=3.2))
        with open(tqs2, "wb") as f:
            f.write(tqa.encode(x, sr, profile="spectral2", rate=3.2))
    print(f"{len(x) / sr:.0f} s stereo int16 music; {a.crops} random 1-s crops per round, {a.rounds} rounds")

    readers = {}

    def wav_reader(starts):
        with sf.SoundFile(wav) as f:
            for s in starts:
                f.seek(int(s))
                f.read(frames, dtype="float32")

    readers["wav (soundfile)"] = wav_reader

    def per_crop(path, engine=None):
        def run(starts):
            with open(path, "rb") as f:
                dec = tqa.Decoder(f, engine=engine)
                for s in starts:
                    dec.read(int(s), frames)

        return run

    engines = [None if e == "default" else e for e in a.engines.split(",")] if not a.zarr_only else []
    for eng in engines:
        if eng in (None, "numba"):
            readers[f"tqa time, per-crop Decoder.read engine={eng or 'default'}"] = per_crop(tq, eng)
    for name, path in (("time", tq), ("spectral 3.2", tqs), ("spectral2 3.2", tqs2)):
        for eng in engines:
            readers[f"tqa {name}, read_crops engine={eng or 'default'}"] = (
                lambda starts, p=path, e=eng: read_crops(p, starts, frames=frames, engine=e)
            )

    if not a.no_zarr:
        import zarr

        import tqa.zarr

        def zarr_array(serializer):
            arr = zarr.create_array({}, shape=x.shape, chunks=(sr, 2), dtype="int16", serializer=serializer, compressors=None)
            arr[:] = x
            nbytes = sum(len(v) for v in arr.store._store_dict.values()) if hasattr(arr.store, "_store_dict") else None
            return arr, nbytes

        zs = {}
        for label, ser in (("tqa time", tqa.zarr.TQA(profile="time")), ("tqa spectral 3.2", tqa.zarr.TQA(profile="spectral", rate=3.2)),
                           ("tqa spectral2 3.2", tqa.zarr.TQA(profile="spectral2", rate=3.2))):  # fmt: skip
            arr, nb = zarr_array(ser)
            bps = nb * 8 / x.size if nb else None
            zs[label] = (arr, bps)
            try:
                from wavpack_numcodecs.wavpackv3 import WavPack

                b = max(2.25, bps or 4.0)
                w, nbw = zarr_array(WavPack(bps=b, dynamic_noise_shaping=False, num_decoding_threads=1))
                if nbw:  # calibrate once to the same stored bits/sample
                    w, nbw = zarr_array(WavPack(bps=max(2.25, b * b / (nbw * 8 / x.size)), dynamic_noise_shaping=False,
                                                num_decoding_threads=1))  # fmt: skip
                zs[f"wavpack at {label}'s rate"] = (w, nbw * 8 / x.size if nbw else None)
            except ImportError:
                pass
        def sqnr(arr):
            y = arr[:].astype(np.float64)
            return 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / max(np.sum((y - x) ** 2), 1e-300))

        for label, (arr, bps) in zs.items():
            tail = f" ({bps:.2f} bits/sample, {sqnr(arr):.1f} dB)" if bps else f" ({sqnr(arr):.1f} dB)"
            readers[f"zarr v3 {label}{tail}"] = (
                lambda starts, arr=arr: [arr[int(s) : int(s) + frames] for s in starts]
            )

    rng = np.random.default_rng(0)
    for fn in readers.values():  # warm-up: imports, compiled-code caches, first calls
        fn(rng.integers(0, len(x) - frames, 2))
    times = {k: [] for k in readers}
    for _ in range(a.rounds):
        starts = rng.integers(0, len(x) - frames, a.crops)
        for k, fn in readers.items():
            t = time.perf_counter()
            fn(starts)
            times[k].append((time.perf_counter() - t) / a.crops)
    ref = np.median(times["wav (soundfile)"])
    print("| reader | crops/s (median) | × WAV |\n|---|---|---|")
    for k, v in times.items():
        m = float(np.median(v))
        print(f"| {k} | {1 / m:.1f} | {ref / m:.3f} |")


if __name__ == "__main__":
    main()
