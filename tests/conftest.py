import io

import numpy as np
import pytest

import tqa


@pytest.fixture(params=tqa.engines())
def engine(request):
    return request.param


@pytest.fixture(params=["numpy", "array_api_strict", "torch"])
def xp(request):
    """Array namespaces the array-API engine must run on (torch only where installed)."""
    if request.param == "numpy":
        return np
    if request.param == "torch":
        pytest.importorskip("torch")
        from array_api_compat import torch as xp_torch

        return xp_torch
    return pytest.importorskip("array_api_strict")


def block_sqnr(x, y, n):
    """Per-block SQNR (dB) of the non-silent blocks, and the decoded error of the silent ones.

    ``x``, ``y``: (samples,) or (samples, channels); blocks are N samples of one channel.
    """
    x, y = np.asarray(x, float).reshape(len(x), -1), np.asarray(y, float).reshape(len(x), -1)
    m = x.shape[0] // n * n
    xb = x[:m].T.reshape(-1, n)
    eb = (x[:m] - y[:m]).T.reshape(-1, n)
    e = np.sum(xb**2, axis=1)
    live = e > 0
    return 10 * np.log10(e[live] / np.sum(eb[live] ** 2, axis=1)), eb[~live]


class CountingIO(io.BytesIO):
    """A BytesIO that counts the bytes read from it (random-access tests)."""

    def __init__(self, data):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        out = super().read(size)
        self.bytes_read += len(out)
        return out


def header(data):
    """The parsed header of a stream (bytes), whatever its state."""
    return tqa.Decoder(bytes(data), on_error="silence").header
