"""Random fixed-length crops of .tqa files as a map-style dataset (PyTorch DataLoader ready).

>>> ds = CropDataset(["a.tqa", "b.tqa"], frames=48000, crops_per_epoch=10_000)   # doctest: +SKIP
>>> loader = torch.utils.data.DataLoader(ds, batch_size=32, num_workers=4)       # doctest: +SKIP

Importing this module imports only NumPy; torch is never imported (``ds[i]`` is a
NumPy array, which the DataLoader's default collate turns into tensors).  The files'
headers are read once at construction (lengths and channels); the decoders are
opened lazily, one set per process, so every DataLoader worker opens its own file
handles on first use (and a pickled dataset carries no open files).  Crop ``i`` of
epoch ``e`` is a pure function of ``(seed, e, i)``: a file chosen with probability
proportional to its length and a uniform start, so runs are reproducible whatever the
number of workers.  ``__getitems__`` (used by DataLoader for batched fetching, torch
>= 2.1) decodes a whole batch with :func:`tqa.crops.read_crops` in one go.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["CropDataset"]


class CropDataset:
    """Map-style dataset: ``len(ds)`` crops of ``frames`` samples, ``ds[i]`` -> (frames, channels) array.

    ``paths``: .tqa files (all with the same channel count).  ``crops_per_epoch``:
    the dataset's length (default: as many crops as fit in the files end to end).
    ``dtype``: float32 (default), float64, int16 or int32.  ``channels_first``:
    return (channels, frames) instead.  ``transform``: a callable applied to each
    crop.  Call :meth:`set_epoch` to draw new crops each epoch.
    """

    def __init__(
        self,
        paths,
        frames: int,
        *,
        crops_per_epoch: int | None = None,
        seed: int = 0,
        dtype: str = "float32",
        channels_first: bool = False,
        transform=None,
        engine: str | None = None,
    ) -> None:
        from . import api

        self.paths = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
        if not self.paths:
            raise ValueError("CropDataset needs at least one file")
        self.frames = int(frames)
        if self.frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames!r}")
        lengths, channels = [], set()
        for p in self.paths:
            with open(p, "rb") as f:
                h = api.info(f)
            lengths.append(h["frames"])
            channels.add(h["channels"])
        if len(channels) != 1:
            raise ValueError(f"files have different channel counts: {sorted(channels)}")
        self.channels = channels.pop()
        self.lengths = np.asarray(lengths, np.int64)
        room = np.maximum(self.lengths - self.frames + 1, 0)
        if not room.any():
            raise ValueError(f"no file holds {self.frames} frames")
        self._p = room / room.sum()
        self._room = room
        self.crops_per_epoch = int(crops_per_epoch) if crops_per_epoch is not None else int(self.lengths.sum() // self.frames)
        self.seed, self.epoch = int(seed), 0
        self.dtype, self.channels_first, self.transform, self.engine = dtype, channels_first, transform, engine
        self._readers: dict = {}
        self._pid = None

    def __len__(self) -> int:
        return self.crops_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Draw a different set of crops (e.g. call at the start of every epoch)."""
        self.epoch = int(epoch)

    def crop(self, i: int) -> tuple[int, int]:
        """(file index, start) of crop ``i`` of the current epoch."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"crop {i} out of range for a dataset of {len(self)}")
        i %= len(self)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        f = int(rng.choice(len(self.paths), p=self._p))
        return f, int(rng.integers(0, self._room[f]))

    def _decoder(self, f: int):
        if self._pid != os.getpid():  # a new (worker) process: its own readers, opened on first use
            self._readers, self._pid = {}, os.getpid()
        if f not in self._readers:
            from .crops import open_stream

            self._readers[f] = open_stream(self.paths[f], self.engine)  # (decoder, file)
        return self._readers[f][0]

    def _finish(self, x: np.ndarray):
        if self.channels_first:
            x = np.ascontiguousarray(x.T)
        return self.transform(x) if self.transform is not None else x

    def __getitem__(self, i: int):
        f, start = self.crop(int(i))
        x = self._decoder(f).read(start, self.frames, self.dtype).reshape(self.frames, self.channels)
        return self._finish(x)

    def __getitems__(self, indices) -> list:
        """A batch of crops, decoded together (DataLoader's batched fetch)."""
        from .crops import read_crops

        table = [self.crop(int(i)) for i in indices]
        decs = [self._decoder(f) if any(t[0] == f for t in table) else self.paths[f] for f in range(len(self.paths))]
        batch = read_crops(decs, table, frames=self.frames, dtype=self.dtype, engine=self.engine)
        return [self._finish(x) for x in batch]

    def close(self) -> None:
        for _, fh in self._readers.values():
            if fh is not None:
                fh.close()
        self._readers = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_readers"], state["_pid"] = {}, None  # open files stay in their process
        return state

    def __del__(self) -> None:
        try:
            if self._pid == os.getpid():
                self.close()
        except Exception:
            pass
