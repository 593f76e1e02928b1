"""Golden vectors: stored streams of each profile decode to the stored samples, and the
stored sources re-encode to the stored bytes, on every engine (tools/gen_golden.py).

A failure here means the format changed: bump the version or the profile id, don't
regenerate the vectors to make it pass.
"""

import pathlib
import sys

import numpy as np
import pytest
import soundfile as sf

import tqa

DATA = pathlib.Path(__file__).parent / "data" / "golden"
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tools"))
from gen_golden import cases  # noqa: E402

CASES = cases()


def test_every_case_is_stored():
    assert sorted(p.stem for p in DATA.glob("*.tqa")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_decodes_to_stored_samples(name, engine):
    data = (DATA / f"{name}.tqa").read_bytes()
    want = np.load(DATA / f"{name}.npy", allow_pickle=False)
    got, sr = tqa.decode(data, engine=engine)
    assert sr == CASES[name][1]
    assert got.dtype == np.float32 and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_reencodes_byte_for_byte(name, engine):
    x, sr, kw = CASES[name]
    info = sf.info(str(DATA / f"{name}.wav"))
    stored, sr2 = sf.read(str(DATA / f"{name}.wav"), dtype="int16" if info.subtype == "PCM_16" else "float32")
    assert sr2 == sr and np.array_equal(stored, x)  # the generator still makes the stored source
    assert tqa.encode(stored, sr, engine=engine, **kw) == (DATA / f"{name}.tqa").read_bytes()


PREV = pathlib.Path(__file__).parent / "data" / "golden_prev"


def test_every_previous_vector_names_a_case():
    assert sorted(p.stem for p in PREV.glob("*.tqa")) and {p.stem for p in PREV.glob("*.tqa")} <= set(CASES)


@pytest.mark.parametrize("name", sorted(p.stem for p in PREV.glob("*.tqa")))
def test_previous_encoders_streams_still_decode(name, engine):
    """Vectors whose *encoder* output changed (same format, other choices) were rewritten; the
    streams the earlier encoder wrote are kept here and must still decode to their samples."""
    data = (PREV / f"{name}.tqa").read_bytes()
    want = np.load(PREV / f"{name}.npy", allow_pickle=False)
    assert data != (DATA / f"{name}.tqa").read_bytes()  # kept only where the bytes changed
    got, sr = tqa.decode(data, engine=engine)
    assert sr == CASES[name][1] and got.tobytes() == want.tobytes()


def test_hard_block_case_uses_every_mode():
    """The hard-block vector must really exercise fallback and identity modes."""
    data = (DATA / "time_hard_blocks.tqa").read_bytes()
    h = tqa.Decoder(data).header
    r = h.settings.record_bytes
    body = np.frombuffer(data[h.header_size :], np.uint8)
    modes = set()
    for i in range(h.n_frames):
        size = h.frame_size(i)
        rec = body[4 : size - 4].reshape(-1, r)
        modes |= set(((rec[:, 0].astype(int) | rec[:, 1].astype(int) << 8) >> 12 & 3).tolist())
        body = body[size:]
    assert 1 in modes and modes & {2, 3}  # primary and at least one hard-block mode


def test_floor_case_carries_refinement_bytes():
    """The frame_floor vector must really hold refined frames (header bit 5 + a refinement byte)."""
    from tqa.sv2 import floor

    r = tqa.Decoder((DATA / "spectral2_floor_stereo.tqa").read_bytes()).reader
    refined = [b[1] for b in r.payloads(0, r.n_frames) if b[0] & floor.HDR_BIT]
    assert refined and all(1 <= v <= floor.RMAX for v in refined)
