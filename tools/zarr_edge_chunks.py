"""The array codec on zarr v3 edge chunks, padded with the fill value: which default profile keeps its SQNR.

    python tools/zarr_edge_chunks.py

tests/test_zarr.py::test_dtypes_and_chunk_shapes' uint16 (30000, 16) in (7000, 5) chunks (edge chunks padded
with the fill value 0, far from the data's mid code 32768), zarr v3 through tqa.zarr.TQA: SQNR as the test
measures it, and bits per sample of the stored chunks (all chunk bytes x 8 / (30000 x 16))."""

import numpy as np, zarr
import tqa.zarr
from tqa.metrics import sqnr_db

shape, chunks, dt = (30000, 16), (7000, 5), np.dtype("uint16")
x = np.random.default_rng(2).normal(0, 1, shape)
info = np.iinfo(dt); mid = (int(info.max) + int(info.min) + 1) // 2
x = np.clip(np.rint(x * (info.max - mid) / 5 + mid), info.min, info.max).astype(dt)
off = 2.0 ** 15
coded = -(-shape[0] // chunks[0]) * chunks[0] * -(-shape[1] // chunks[1]) * chunks[1]  # samples the chunks hold, padding included
for name, kw in [("time default (bits=6, sign)", {}), ("spectral2 quality=38", dict(profile="spectral2", quality=38)),
                 ("spectral2 quality=38 frame_floor=38", dict(profile="spectral2", quality=38, frame_floor=38)),
                 ("spectral2 rate=3.0", dict(profile="spectral2", rate=3.0))]:
    store = {}
    try:
        a = zarr.create_array(store, shape=shape, chunks=chunks, dtype=dt, serializer=tqa.zarr.TQA(**kw), compressors=None)
        a[:] = x
        y = a[:]
    except Exception as exc:
        print(f"{name}: {type(exc).__name__}: {exc}"); continue
    nbytes = sum(len(v.to_bytes()) for k, v in store.items() if not k.endswith("zarr.json"))
    s = sqnr_db(x.astype(float) - off, y.astype(float) - off)
    # the worst chunk column (edge rows 28000..30000 are the padded chunks)
    edge = sqnr_db(x[28000:].astype(float) - off, y[28000:].astype(float) - off)
    print(f"{name}: SQNR {s:.2f} dB (rows 28000-30000: {edge:.2f} dB), {nbytes * 8 / x.size:.3f} bits/sample of the array ({nbytes * 8 / coded:.3f} of the padded chunks), {nbytes} bytes")
