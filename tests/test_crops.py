"""Batched crops (tqa.crops.read_crops) and the DataLoader-style dataset (tqa.dataset.CropDataset)."""

import multiprocessing as mp
import pickle
import subprocess
import sys

import numpy as np
import pytest

import tqa
from tqa.crops import read_crops
from tqa.dataset import CropDataset

SR = 16000


def _signal(n, channels, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return (0.3 * np.sin(2 * np.pi * rng.uniform(100, 900, channels) * t[:, None]) + rng.normal(0, 0.02, (n, channels))).astype("f4")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("crops")
    paths = []
    for i, (n, profile) in enumerate([(SR * 5, "time"), (SR * 3, "spectral"), (SR * 4 + 123, "time")]):
        p = d / f"f{i}.tqa"
        kw = {"profile": "spectral", "rate": 4.0} if profile == "spectral" else {"profile": "time"}
        p.write_bytes(tqa.encode(_signal(n, 2, i), SR, **kw))
        paths.append(str(p))
    return paths


def _expect(path, start, frames):
    with open(path, "rb") as f:
        return tqa.Decoder(f).read(start, frames).reshape(frames, -1)


def test_one_stream_every_source_kind(files):
    p = files[0]
    crops = [(0, 1000), (40000, 1000), (40500, 1000), (79000, 1000), (123, 1000)]
    want = np.stack([_expect(p, s, n) for s, n in crops])
    with open(p, "rb") as f:
        data = f.read()
    for src in (p, data, open(p, "rb"), tqa.Decoder(data)):
        got = read_crops(src, crops)
        assert got.shape == (5, 1000, 2) and got.dtype == np.float32
        np.testing.assert_array_equal(got, want)  # overlapping crops decoded as one span: same samples


def test_many_streams_keep_the_crops_order(files):
    rng = np.random.default_rng(0)
    table = [(int(s), int(rng.integers(0, SR * 3 - SR)), SR) for s in rng.integers(0, 3, 25)]
    got = read_crops(files, table)
    assert got.shape == (25, SR, 2)
    for k, (s, start, n) in enumerate(table):
        np.testing.assert_array_equal(got[k], _expect(files[s], start, n))
    starts_only = read_crops(files, [(s, st) for s, st, _ in table], frames=SR, dtype="int16")
    assert starts_only.dtype == np.int16 and starts_only.shape == (25, SR, 2)


def test_mono_out_and_dtypes(tmp_path):
    p = tmp_path / "m.tqa"
    p.write_bytes(tqa.encode(_signal(SR * 2, 1, 5)[:, 0], SR))
    out = np.empty((3, 500, 1), "float64")
    r = read_crops(str(p), [10, 2000, 30000], frames=500, dtype="float64", out=out)
    assert r is out and np.any(out != 0)
    with pytest.raises(ValueError):
        read_crops(str(p), [10], frames=500, out=np.empty((1, 500, 1), "f4"), dtype="float64")


def test_bad_crops(files):
    with pytest.raises(ValueError, match="past the stream"):
        read_crops(files[0], [(SR * 5 - 10, 100)])
    padded = read_crops(files[0], [(SR * 5 - 10, 100)], pad=True)
    assert np.all(padded[0, 10:] == 0) and np.any(padded[0, :10] != 0)
    with pytest.raises(ValueError, match="same number"):
        read_crops(files[0], [(0, 10), (0, 20)])
    with pytest.raises(ValueError, match="out of range"):
        read_crops(files, [(3, 0, 10)])
    with pytest.raises(ValueError):
        read_crops(files[0], [(-1, 10)])
    with pytest.raises(ValueError):
        read_crops(files, [(0, 10)])  # many streams need (stream, start, frames)
    assert read_crops(files[0], [], frames=10).shape == (0, 10, 2)


def test_dataset_is_map_style_and_reproducible(files):
    ds = CropDataset(files, frames=SR // 2, crops_per_epoch=40, seed=3)
    assert len(ds) == 40 and ds.channels == 2
    x = ds[7]
    assert x.shape == (SR // 2, 2) and x.dtype == np.float32
    f, start = ds.crop(7)
    np.testing.assert_array_equal(x, _expect(files[f], start, SR // 2))
    np.testing.assert_array_equal(ds[7], CropDataset(files, frames=SR // 2, crops_per_epoch=40, seed=3)[7])
    seen = {ds.crop(i) for i in range(40)}
    assert len({f for f, _ in seen}) == 3 and len(seen) == 40
    ds.set_epoch(1)
    assert {ds.crop(i) for i in range(40)} != seen
    batch = ds.__getitems__([0, 1, 2, 3])
    for i, b in enumerate(batch):
        np.testing.assert_array_equal(b, ds[i])
    with pytest.raises(IndexError):
        ds[40]
    cf = CropDataset(files, frames=100, crops_per_epoch=2, channels_first=True, transform=lambda a: a * 2)
    assert cf[0].shape == (2, 100)
    assert CropDataset(files, frames=SR).crops_per_epoch == (SR * 12 + 123) // SR


def _worker_read(args):
    ds, i = args
    import os

    x = ds[i]
    return os.getpid(), len(ds._readers), float(np.sum(x))


def test_dataset_readers_are_per_process(files):
    ds = CropDataset(files, frames=1000, crops_per_epoch=16)
    ds[0]
    assert ds._readers  # opened lazily, in this process
    clone = pickle.loads(pickle.dumps(ds))  # what a spawned DataLoader worker gets
    assert clone._readers == {}
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        res = pool.map(_worker_read, [(ds, i) for i in range(8)])
    assert all(n >= 1 for _, n, _ in res)
    assert [s for *_, s in res] == [float(np.sum(ds[i])) for i in range(8)]
    ds.close()


def test_dataset_imports_nothing_heavy():
    code = "import sys, tqa.dataset; print(sorted(m for m in ('torch', 'scipy', 'zarr', 'numcodecs', 'soundfile') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_dataset_with_torch_dataloader(files):
    torch = pytest.importorskip("torch")
    ds = CropDataset(files, frames=1000, crops_per_epoch=12)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    batches = list(loader)
    assert len(batches) == 3 and tuple(batches[0].shape) == (4, 1000, 2)
    np.testing.assert_array_equal(batches[1][0].numpy(), ds[4])
