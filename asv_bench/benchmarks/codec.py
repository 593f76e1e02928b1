"""asv benchmarks of the TQA codec across engines, block sizes and bits.

Run against the working tree (from asv_bench/):

    asv run --python=same --quick --show-stderr
    asv run --python=same -b Encode        # one class, full timing

One class per operation; ``params`` = engines x block sizes x bits; the engine is
chosen in ``setup`` and an engine that is not available raises NotImplementedError
(asv then skips it).  The signal is 10 s of stereo 44.1 kHz int16.
"""

import numpy as np

import tqa

ENGINES = ["numpy", "scipy", "tiled"]
BLOCKS = [64, 512, 4096]
BITS = [2, 6, 8]


def _signal(seconds: float = 10.0, rate: int = 44100) -> np.ndarray:
    n = int(seconds * rate)
    t = np.arange(n) / rate
    rng = np.random.default_rng(0)
    x = 0.2 * np.sin(2 * np.pi * 220 * t)[:, None] + rng.normal(0, 0.05, (n, 2))
    return (x * 32767).astype(np.int16)


class _Base:
    params = [ENGINES, BLOCKS, BITS]
    param_names = ["engine", "block_size", "bits"]

    def setup(self, engine, block_size, bits):
        if engine not in tqa.engines():
            raise NotImplementedError(f"engine {engine} not available")
        self.x = _signal()
        self.kw = dict(engine=engine, block_size=block_size, bits=bits)
        self.data = tqa.encode(self.x, 44100, **self.kw)


class Encode(_Base):
    def time_encode(self, engine, block_size, bits):
        tqa.encode(self.x, 44100, **self.kw)

    def peakmem_encode(self, engine, block_size, bits):
        tqa.encode(self.x, 44100, **self.kw)


class Decode(_Base):
    def time_decode(self, engine, block_size, bits):
        tqa.decode(self.data, engine=engine, dtype="int16")

    def peakmem_decode(self, engine, block_size, bits):
        tqa.decode(self.data, engine=engine, dtype="int16")


class Quality(_Base):
    def track_sqnr(self, engine, block_size, bits):
        y, _ = tqa.decode(self.data, engine=engine, dtype="float64")
        ref = self.x / 32768.0
        return float(10 * np.log10(np.sum(ref**2) / np.sum((ref - y) ** 2)))

    track_sqnr.unit = "dB"

    def track_bits_per_sample(self, engine, block_size, bits):
        return tqa.info(self.data)["bits_per_sample"]

    track_bits_per_sample.unit = "bits/sample"
