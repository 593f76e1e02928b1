import numpy as np
import pytest

import tqa


@pytest.fixture(params=tqa.engines())
def engine(request):
    return request.param


@pytest.fixture(params=["numpy", "array_api_strict"])
def xp(request):
    if request.param == "numpy":
        return np
    return pytest.importorskip("array_api_strict")


def sqnr_db(ref, test):
    ref = np.asarray(ref, dtype=np.float64)
    err = ref - np.asarray(test, dtype=np.float64)
    return 10 * np.log10(np.sum(ref**2) / np.sum(err**2))
