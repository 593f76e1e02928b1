"""audiotq 0.1.1's TurboAudioEngine API keeps working, and now decodes anywhere."""

import numpy as np
import pytest

import tqa

from tqa.metrics import sqnr_db


def test_new_instance_decodes():
    x = np.random.default_rng(0).normal(0, 0.1, 10_001).astype(np.float32)
    blocks, scales = tqa.TurboAudioEngine(block_size=512).compress_signal(x)
    assert len(blocks) == len(scales) == 20
    assert all(isinstance(b, bytes) for b in blocks)
    y = tqa.TurboAudioEngine(block_size=512).decompress_signal(blocks, scales)
    assert y.shape == x.shape and y.dtype == np.float32
    assert sqnr_db(x, y) > 37
    # the same as the file codec
    np.testing.assert_array_equal(y, tqa.decode(tqa.encode(x, 8000, profile="time"))[0])


def test_stereo_is_kept_and_rotator_exposed():
    x = np.random.default_rng(1).normal(0, 0.1, (3000, 2))
    eng = tqa.TurboAudioEngine(block_size=256, bits=4, residual="none", seed=5)
    assert isinstance(eng.rotator, tqa.Rotation) and eng.rotator.block_size == 256
    blocks, scales = eng.compress_signal(x)
    y = eng.decompress_signal(blocks, scales)
    assert y.shape == (3000, 2)
    assert sqnr_db(x[:, 1], y[:, 1]) > 19


def test_other_seed_cannot_decode_and_bad_input_is_named():
    x = np.random.default_rng(2).normal(0, 0.1, 4096)
    blocks, scales = tqa.TurboAudioEngine(seed=1).compress_signal(x)
    assert sqnr_db(x, tqa.TurboAudioEngine(seed=2).decompress_signal(blocks, scales)) < 3
    with pytest.raises(ValueError, match="expected 8 blocks"):
        tqa.TurboAudioEngine().decompress_signal(blocks[:-1], scales)
    with pytest.raises(ValueError, match="raw_audio"):
        tqa.TurboAudioEngine().compress_signal(np.full(10, np.nan))
