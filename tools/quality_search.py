"""How many whole-stream passes spectral2's quality= search takes on 1-s chunks, and what it finds.

    python tools/quality_search.py ../shared/corpus [--quality 38] [--chunks 10]

For each audio file of the folder: its first ``--chunks`` 1-s chunks (int16), each through the
array codec at ``profile="spectral2", quality=Q`` (one stream a chunk, so every search step is a
whole quantize-and-count pass).  Prints the search's evaluations per chunk (mean, most: counted by
wrapping ``tqa.sv2._largest_passing``), the stored bits/sample and the decoded SQNR (min, mean;
int16 output, so the rounding to whole counts is in it).  Run it on two trees
(``PYTHONPATH=<tree>``) to compare searches.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
import soundfile as sf


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--quality", type=float, default=38.0)
    ap.add_argument("--chunks", type=int, default=10)
    a = ap.parse_args(argv)
    import tqa.sv2 as sv2
    from tqa.numcodecs import TQA

    search, counts = sv2._largest_passing, []

    def counted(f, *args, **kw):
        n = [0]

        def g(x):
            n[0] += 1
            return f(x)

        out = search(g, *args, **kw)
        counts.append(n[0])
        return out

    sv2._largest_passing = counted
    codec = TQA(profile="spectral2", quality=a.quality)
    bits = samples = 0
    sqnr = []
    for path in sorted(p for p in pathlib.Path(a.folder).iterdir() if p.suffix in (".flac", ".wav")):
        x, sr = sf.read(str(path), dtype="int16", always_2d=True)
        for i in range(0, min(len(x) - sr, a.chunks * sr), sr):
            chunk = np.ascontiguousarray(x[i : i + sr])
            enc = codec.encode(chunk)
            bits += 8 * len(enc)
            samples += chunk.size
            y = np.frombuffer(codec.decode(enc), np.int16).reshape(chunk.shape).astype(float)
            s = chunk.astype(float)
            sqnr.append(10 * np.log10(np.sum(s * s) / np.sum((s - y) ** 2)))
    print(f"quality={a.quality}: {len(counts)} chunks, evaluations a chunk {np.mean(counts):.2f} (most {max(counts)}), "
          f"{bits / samples:.4f} bits/sample, SQNR min {min(sqnr):.2f} mean {np.mean(sqnr):.3f} dB")  # fmt: skip


if __name__ == "__main__":
    main()
