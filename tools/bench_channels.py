"""Peak memory of streaming encode and decode against the channel count (issue: memory bounded by bytes).

    python tools/bench_channels.py                       # 1, 2, 64, 1024 channels, both profiles
    python tools/bench_channels.py --channels 256 --samples 33554432
    python tools/bench_channels.py --profiles spectral2 --channels 1,2,64   # (spectral2: 255 channels at most)

Each case runs in a fresh process: it streams ``--samples`` samples in all (spread over the
channels; float32 noise made chunk by chunk, never held whole) through ``tqa.Encoder`` into a
temporary file, then through ``tqa.Decoder.chunks`` without keeping the output, and reports
the process's peak RSS (ru_maxrss) after each step.  Target: <= 200 MiB whatever the channels.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, tempfile, time
import numpy as np, tqa
channels, total, profile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
n = total // channels
kw = {"profile": profile, "rate": 3.0} if profile in ("spectral", "spectral2") else {"profile": "time"}
rng = np.random.default_rng(0)
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
base = peak()
with tempfile.TemporaryFile() as f:
    t0 = time.perf_counter()
    with tqa.Encoder(f, 48000, channels, **kw) as enc:
        step = max(1, (1 << 20) // channels)  # the caller's chunks: 1 Mi samples (4 MiB float32)
        for lo in range(0, n, step):
            enc.write(rng.normal(0, 0.1, (min(step, n - lo), channels)).astype(np.float32))
    t_enc, p_enc = time.perf_counter() - t0, peak()
    f.seek(0)
    t0 = time.perf_counter()
    got = sum(c.shape[0] for c in tqa.Decoder(f).chunks())
    t_dec, p_dec = time.perf_counter() - t0, peak()
assert got == n, (got, n)
print(json.dumps({"channels": channels, "profile": profile, "samples_per_channel": n, "base_mib": round(base),
                  "encode_peak_mib": round(p_enc), "decode_peak_mib": round(p_dec),
                  "encode_s": round(t_enc, 2), "decode_s": round(t_dec, 2)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", default="1,2,64,1024")
    ap.add_argument("--samples", type=int, default=1 << 24, help="samples in all (all channels)")
    ap.add_argument("--profiles", default="time,spectral")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for profile in args.profiles.split(","):
        for c in map(int, args.channels.split(",")):
            if profile == "spectral2" and c > 255:
                continue  # the profile's limit
            out = subprocess.run([sys.executable, "-c", CHILD, str(c), str(args.samples), profile],
                                 capture_output=True, text=True, check=True).stdout  # fmt: skip
            rows.append(json.loads(out))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print("| profile | channels | samples/channel | baseline MiB | encode peak MiB | decode peak MiB | encode s | decode s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['profile']} | {r['channels']} | {r['samples_per_channel']} | {r['base_mib']} | {r['encode_peak_mib']} "
              f"| {r['decode_peak_mib']} | {r['encode_s']} | {r['decode_s']} |")


if __name__ == "__main__":
    main()
