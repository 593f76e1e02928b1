"""Whole-process encode/decode of WAV files with tqa.sv2, for timing against wavpack/wvunpack.

    python tools/sv2_file.py encode in.wav out.sv2 --rate 3
    python tools/sv2_file.py decode out.sv2 out.wav

The file is a bare test framing (not the .tqa container): u32 params length, params, u32 frame
count, u32 length per frame, payloads.  The lead's container replaces it.
"""

from __future__ import annotations

import argparse
import struct
import sys

import numpy as np
import soundfile as sf


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["encode", "decode"])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--rate", type=float, default=3.0)
    ap.add_argument("--quality", type=float, default=None)
    a = ap.parse_args(argv)
    from tqa import sv2

    if a.mode == "encode":
        x, sr = sf.read(a.src, dtype="int16", always_2d=True)
        kw = {"quality": a.quality} if a.quality is not None else {"rate": a.rate}
        params, frames = sv2.encode(x.astype(np.float64) * 256.0, sample_rate=sr, frame_overhead=4, **kw)
        with open(a.dst, "wb") as f:
            f.write(struct.pack("<I", len(params)) + params + struct.pack("<I", len(frames)))
            f.write(np.array([len(b) for b in frames], "<u4").tobytes())
            f.write(b"".join(frames))
    else:
        buf = open(a.src, "rb").read()
        (np_,) = struct.unpack_from("<I", buf)
        params = buf[4 : 4 + np_]
        (nf,) = struct.unpack_from("<I", buf, 4 + np_)
        lens = np.frombuffer(buf, "<u4", nf, 8 + np_).astype(np.int64)
        offs = 8 + np_ + 4 * nf + np.concatenate(([0], np.cumsum(lens)))
        frames = [buf[offs[i] : offs[i + 1]] for i in range(nf)]
        y = sv2.decode(params, frames)
        info = sv2.info(params)
        sf.write(a.dst, np.clip(np.rint(y / 256.0), -32768, 32767).astype(np.int16), info["sample_rate"], subtype="PCM_16")
    return 0


if __name__ == "__main__":
    sys.exit(main())
