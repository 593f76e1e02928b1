"""The ahead-of-time sv2 module takes its arguments as they come: pycc's entry points check
neither layout nor dtype (a strided float64 array is read as if contiguous, a float32 one
crashes the process).  So every call the encoder and the decoder make must pass exactly the
types of tqa.sv2._aot.SIGNATURES: checked here by a proxy in place of the loaded module, over
encodes and decodes that reach every kernel (rate, quality, frame_floor, perceptual, 16-bit,
24-bit and float sources, mono and stereo, whole and cropped decodes)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tqa
from tqa.sv2 import _aot, codec

DTYPES = {"f8": np.float64, "i8": np.int64, "i4": np.int32, "i2": np.int16, "u1": np.uint8, "u2": np.uint16, "b1": np.bool_}


def _split(args: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in args:
        depth += ch in "[("
        depth -= ch in "])"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return out + [cur.strip()] if cur.strip() else out


def _arg_types(sig: str) -> list[str]:
    return _split(sig[sig.rindex(")(") + 2 : -1] if ")(" in sig else sig[sig.index("(") + 1 : -1])


def _check(name: str, t: str, v) -> None:
    m = re.fullmatch(r"(\w\d)(?:\[(.*)\])?", t)
    code, dims = m.group(1), m.group(2)
    if dims is None:  # a scalar
        assert not isinstance(v, np.ndarray) and np.isscalar(v), (name, t, type(v))
        return
    assert isinstance(v, np.ndarray), (name, t, type(v))
    axes = [d.strip() for d in dims.split(",")]
    assert v.dtype == DTYPES[code], (name, t, v.dtype)
    assert v.ndim == len(axes), (name, t, v.shape)
    if axes[-1] == "::1":
        assert v.flags.c_contiguous, (name, t, v.strides)


class _Checked:
    """The compiled module, each exported function checking its arguments first."""

    def __init__(self, mod) -> None:
        self._mod, self.calls = mod, {}

    def __getattr__(self, name: str):
        f = getattr(self._mod, name)
        if name not in _aot.SIGNATURES:
            return f
        types = _arg_types(_aot.SIGNATURES[name])

        def checked(*args):
            assert len(args) == len(types), (name, len(args), len(types))
            for t, v in zip(types, args):
                _check(name, t, v)
            self.calls[name] = self.calls.get(name, 0) + 1
            return f(*args)

        return checked


def test_signature_parser_reads_the_table():
    assert _arg_types("void(f8[:, ::1], b1, i8)") == ["f8[:, ::1]", "b1", "i8"]
    assert _arg_types("Tuple((u1[::1], i8[::1]))(i2[:, :, ::1], i8)") == ["i2[:, :, ::1]", "i8"]
    with pytest.raises(AssertionError):
        _check("x", "f8[:, ::1]", np.zeros((4, 6))[:, ::2])  # strided: what pycc would misread
    with pytest.raises(AssertionError):
        _check("x", "f8[::1]", np.zeros(4, np.float32))


def test_every_kernel_call_passes_the_exported_types(monkeypatch):
    mod = _aot.load(build="wait") if codec._have_numba() else None
    if mod is None or codec._compiled_enc() is None:
        pytest.skip("the ahead-of-time sv2 module needs numba (tqa[fast])")
    proxy = _Checked(mod)
    monkeypatch.setattr(codec, "_ENC", [proxy])
    monkeypatch.setattr(codec, "_DEC", [proxy])
    monkeypatch.setenv("TQA_SV2_JIT", "1")  # the compiled decoder on streams of any size
    rng = np.random.default_rng(5)
    sr = 44100
    t = np.arange(3 * sr) / sr
    music = 0.3 * np.sin(2 * np.pi * 440 * t)[:, None] * np.array([1.0, 0.6]) + rng.normal(0, 0.01, (t.size, 2))
    music[sr : sr + 200] *= 20  # an attack: short blocks, the pre-echo guard
    music[2 * sr : 2 * sr + 5000] = 0  # digital silence: silence maps
    music = np.clip(music, -1, 1)
    cases = [
        (music.astype(np.float32), dict(profile="spectral2", rate=3.0)),
        ((music * 32767).astype(np.int16), dict(profile="spectral2", rate=2.0)),
        ((music * 32767).astype(np.int16), dict(profile="spectral2", quality=40.0)),
        ((music * 32767).astype(np.int16), dict(profile="spectral2", rate=3.0, tune="perceptual")),
        ((music * 32767).astype(np.int16), dict(profile="spectral2", quality=35.0, frame_floor=30.0)),
        ((music[:, :1] * 2**23).astype(np.int32), dict(profile="spectral2", rate=4.0, source_format="int24")),
    ]
    for x, kw in cases:
        blob = tqa.encode(x, sr, **kw)
        y, _ = tqa.decode(blob, always_2d=True)
        assert y.shape == x.shape
        part, _ = tqa.decode(blob, start=sr // 2, frames=sr, dtype="int16", always_2d=True)
        assert part.shape == (sr, x.shape[1])
    for name in ("quantize", "counts", "ms_energies", "unpack_frames", "synthesize", "encode_lanes"):
        assert proxy.calls.get(name, 0) > 0, (name, sorted(proxy.calls))
    assert proxy.calls.get("pack", 0) + proxy.calls.get("pack16", 0) > 0
    assert proxy.calls.get("fold_block", 0) + proxy.calls.get("fold_block16", 0) + proxy.calls.get("fold_frames", 0) > 0
