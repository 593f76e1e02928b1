import hashlib

import numpy as np
import pytest
from scipy.linalg import hadamard

import tqa
from tqa.rotation import qjl_rows, signs


def test_signs_follow_the_documented_generator():
    # SHAKE-256(b"TQA-signs" || label || u64le(seed) || u32le(N)), bit 1 -> -1
    data = b"TQA-signs" + b"\x00" + (7).to_bytes(8, "little") + (512).to_bytes(4, "little")
    bits = np.unpackbits(np.frombuffer(hashlib.shake_256(data).digest(64), np.uint8))
    np.testing.assert_array_equal(tqa.Rotation(512, 7).signs, 1 - 2.0 * bits)


def test_seeds_and_labels_differ():
    a, b = signs(512, 0, 0), signs(512, 1, 0)
    assert not np.array_equal(a, b)
    assert not np.array_equal(signs(512, 0, 0), signs(512, 0, 1))
    assert abs(a.sum()) < 100  # balanced


@pytest.mark.parametrize("n", [64, 512, 2048, 8192])
def test_forward_is_h_d_x_and_inverse_exact(n, engine):
    rng = np.random.default_rng(n)
    x = rng.integers(-(2**27), 2**27, size=(3, n)).astype(np.float64)
    rot = tqa.Rotation(n, 3, engine=engine)
    y = rot.forward(x)
    if n <= 2048:
        ref = (hadamard(n).astype(np.int64) @ (rot.signs.astype(np.int64) * x.astype(np.int64)).T).T
        np.testing.assert_array_equal(y, ref.astype(np.float64))
    np.testing.assert_array_equal(rot.inverse(y), x)
    # energy scales by N (unnormalized H)
    assert np.sum(y**2) == pytest.approx(n * np.sum(x**2), rel=1e-12)


def test_rotation_validates():
    for bad in (500, 32, 16384, 0, -512, 512.0):
        with pytest.raises(ValueError, match="block_size"):
            tqa.Rotation(bad)
    for bad in (-1, 2**64, 1.5):
        with pytest.raises(ValueError, match="seed"):
            tqa.Rotation(512, bad)
    with pytest.raises(ValueError, match="block_size=512"):
        tqa.Rotation(512).forward(np.zeros(256))


def test_qjl_rows_subset():
    r = qjl_rows(512, 0, 64)
    assert r.size == 64 and np.all(np.diff(r) > 0) and r[-1] < 512
    np.testing.assert_array_equal(qjl_rows(512, 0, 512), np.arange(512))
