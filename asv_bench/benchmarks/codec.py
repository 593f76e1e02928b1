"""asv benchmarks of the TQA codec: engines, the three profiles, container operations, hard blocks.

Run against the working tree (from asv_bench/):

    python -m asv run --python=same --quick --show-stderr
    python -m asv run --python=same -b Spectral        # one class, full timing

Inputs are made once per class by ``setup_cache`` (asv pickles the result and hands it
to every parameter combination), so no timing includes building a signal or a stream
it does not measure.  An engine that is not installed here (``numba`` without the
``tqa[fast]`` extra) raises NotImplementedError in ``setup``: asv skips it.  Codec
calls run with one BLAS thread (tqa.threads), so the figures are one core's.
"""

import numpy as np

import tqa

ENGINES = ["numpy", "scipy", "tiled", "numba"]
BLOCKS = [64, 512, 4096]
BITS = [2, 6, 8]
SECONDS = 10.0
RATE = 44100


def _signal(seconds: float = SECONDS, rate: int = RATE) -> np.ndarray:
    n = int(seconds * rate)
    t = np.arange(n) / rate
    rng = np.random.default_rng(0)
    x = 0.2 * np.sin(2 * np.pi * 220 * t)[:, None] + rng.normal(0, 0.05, (n, 2))
    return (x * 32767).astype(np.int16)


def _hard_signal(block_size: int) -> np.ndarray:
    """Stereo float64 made of the adversarial signals (Hadamard rows, impulses, square...)

    repeated to ~2 s: a large share of blocks take the hard-block search.
    """
    from tqa.signals import adversarial

    x = np.concatenate(list(adversarial(block_size).values()))
    x = np.tile(x, -(-2 * RATE // x.size))
    return np.stack([x, np.roll(x, 777)], axis=1)


def _need(engine: str) -> None:
    if engine not in tqa.engines():
        raise NotImplementedError(f"engine {engine} not available")


class Encode:
    params = [ENGINES, BLOCKS, BITS]
    param_names = ["engine", "block_size", "bits"]

    def setup_cache(self):
        return _signal()

    def setup(self, x, engine, block_size, bits):
        _need(engine)
        self.kw = dict(engine=engine, block_size=block_size, bits=bits)
        tqa.encode(x[:4096], RATE, **self.kw)  # compile / warm the engine outside the timing

    def time_encode(self, x, engine, block_size, bits):
        tqa.encode(x, RATE, **self.kw)

    def peakmem_encode(self, x, engine, block_size, bits):
        tqa.encode(x, RATE, **self.kw)


class Decode:
    params = [ENGINES, BLOCKS, BITS]
    param_names = ["engine", "block_size", "bits"]

    def setup_cache(self):
        x = _signal()
        return {(n, b): tqa.encode(x, RATE, block_size=n, bits=b) for n in BLOCKS for b in BITS}

    def setup(self, streams, engine, block_size, bits):
        _need(engine)
        self.data = streams[block_size, bits]
        tqa.decode(self.data, engine=engine, frames=4096)

    def time_decode(self, streams, engine, block_size, bits):
        tqa.decode(self.data, engine=engine, dtype="int16")

    def peakmem_decode(self, streams, engine, block_size, bits):
        tqa.decode(self.data, engine=engine, dtype="int16")


class Quality:
    params = [BLOCKS, BITS]
    param_names = ["block_size", "bits"]

    def setup_cache(self):
        x = _signal()
        return x, {(n, b): tqa.encode(x, RATE, block_size=n, bits=b) for n in BLOCKS for b in BITS}

    def track_sqnr(self, cache, block_size, bits):
        x, streams = cache
        y, _ = tqa.decode(streams[block_size, bits], dtype="float64")
        ref = x / 32768.0
        return float(10 * np.log10(np.sum(ref**2) / np.sum((ref - y) ** 2)))

    track_sqnr.unit = "dB"

    def track_bits_per_sample(self, cache, block_size, bits):
        return tqa.info(cache[1][block_size, bits])["bits_per_sample"]

    track_bits_per_sample.unit = "bits/sample"


# -- spectral profile ----------------------------------------------------------------
SPECTRAL = ["rate=1.5", "rate=3.2", "rate=6.0", "quality=30", "quality=45"]
HOPS = [256, 1024, 2048]


def _spectral_kw(setting: str) -> dict:
    k, v = setting.split("=")
    return {k: float(v)}


class _Tracks:
    """SQNR and bits/sample of ``self.data`` (a stream of ``cache[0]``), decoded with
    ``self.decode_kw``: the spectral classes' quality figures."""

    def track_sqnr(self, cache, *params):
        y, _ = tqa.decode(self.data, dtype="float64", **self.decode_kw)
        ref = cache[0] / 32768.0
        return float(10 * np.log10(np.sum(ref**2) / np.sum((ref - y) ** 2)))

    track_sqnr.unit = "dB"

    def track_bits_per_sample(self, cache, *params):
        return tqa.info(self.data)["bits_per_sample"]

    track_bits_per_sample.unit = "bits/sample"


class Spectral(_Tracks):
    """Spectral profile: CBR rates, VBR qualities and MDCT hops, per engine."""

    params = [["tiled", "numba"], SPECTRAL, HOPS]
    param_names = ["engine", "setting", "hop"]

    def setup_cache(self):
        x = _signal()
        return x, {(s, h): tqa.encode(x, RATE, profile="spectral", hop=h, **_spectral_kw(s)) for s in SPECTRAL for h in HOPS}

    def setup(self, cache, engine, setting, hop):
        _need(engine)
        x, streams = cache
        self.kw = dict(profile="spectral", hop=hop, engine=engine, **_spectral_kw(setting))
        self.decode_kw = {"engine": engine}
        tqa.encode(x[: 8 * hop], RATE, **self.kw)
        self.data = streams[setting, hop]

    def time_encode(self, cache, engine, setting, hop):
        tqa.encode(cache[0], RATE, **self.kw)

    def time_decode(self, cache, engine, setting, hop):
        tqa.decode(self.data, engine=engine, dtype="int16")


class Spectral2(_Tracks):
    """Profile spectral2 (entropy-coded MDCT): rates, qualities and hops, on the compiled
    entropy coder (numba, tqa[fast]) and on its NumPy reference (``TQA_SV2_JIT=0``)."""

    params = [["numba", "numpy"], ["rate=2.0", "rate=3.0", "rate=4.0", "quality=45"], [1024, 2048]]
    param_names = ["coder", "setting", "hop"]

    def setup_cache(self):
        x = _signal()
        return x, {(s, h): tqa.encode(x, RATE, profile="spectral2", hop=h, **_spectral_kw(s))
                   for s in self.params[1] for h in self.params[2]}  # fmt: skip

    def setup(self, cache, coder, setting, hop):
        from tqa.sv2 import _jit

        if coder == "numba" and not _jit.AVAILABLE:
            raise NotImplementedError("numba not installed")
        self._jit = _jit.AVAILABLE
        _jit.AVAILABLE = coder == "numba"  # read at each call (tqa.sv2.codec._compiled)
        x, streams = cache
        self.kw = dict(profile="spectral2", hop=hop, **_spectral_kw(setting))
        self.decode_kw = {}
        tqa.encode(x[: 8 * hop], RATE, **self.kw)  # compile / load the kernels outside the timing
        self.data = streams[setting, hop]
        tqa.decode(self.data, dtype="int16")

    def teardown(self, cache, coder, setting, hop):
        from tqa.sv2 import _jit

        _jit.AVAILABLE = self._jit

    def time_encode(self, cache, coder, setting, hop):
        tqa.encode(cache[0], RATE, **self.kw)

    def time_decode(self, cache, coder, setting, hop):
        tqa.decode(self.data, dtype="int16")


# -- container operations ------------------------------------------------------------
class Container:
    """verify (CRC + decode of every frame), info, and random access (short reads anywhere)."""

    params = [["time", "spectral-cbr", "spectral-vbr"]]
    param_names = ["stream"]

    def setup_cache(self):
        x = _signal(60.0)
        return {
            "time": tqa.encode(x, RATE),
            "spectral-cbr": tqa.encode(x, RATE, profile="spectral", rate=3.2),
            "spectral-vbr": tqa.encode(x, RATE, profile="spectral", quality=40.0),
        }

    def setup(self, streams, stream):
        self.data = streams[stream]
        self.n = tqa.info(self.data)["frames"]
        self.starts = np.random.default_rng(1).integers(0, self.n - 4410, 50).tolist()

    def time_verify(self, streams, stream):
        tqa.verify(self.data)

    def time_info(self, streams, stream):
        tqa.info(self.data)

    def time_random_access_50_reads(self, streams, stream):
        """50 reads of 0.1 s at random positions through one Decoder (seek cost, not throughput)."""
        dec = tqa.Decoder(self.data)
        for s in self.starts:
            dec.read(s, 4410)

    def time_open_and_read_once(self, streams, stream):
        tqa.decode(self.data, start=self.n // 2, frames=4410)


# -- hard blocks -----------------------------------------------------------------------
class HardBlocks:
    """The hard-block path: signals whose blocks the primary rotation concentrates (mode/scale search)."""

    params = [["tiled", "numba"], [64, 512, 4096], ["none", "sign", "qjl"]]
    param_names = ["engine", "block_size", "residual"]

    def setup_cache(self):
        return {n: _hard_signal(n) for n in [64, 512, 4096]}

    def setup(self, signals, engine, block_size, residual):
        _need(engine)
        self.x = signals[block_size]
        self.kw = dict(engine=engine, block_size=block_size, residual=residual)
        self.data = tqa.encode(self.x, RATE, **self.kw)

    def time_encode(self, signals, engine, block_size, residual):
        tqa.encode(self.x, RATE, **self.kw)

    def time_decode(self, signals, engine, block_size, residual):
        tqa.decode(self.data, engine=engine, dtype="float64")
