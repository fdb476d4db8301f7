"""Model calls sized by images and bytes: batch_size="auto", max_batch_bytes, set_config."""

import threading

import numpy as np
import pytest

import explainkit
from explainkit import config_context, get_config, set_config

#: One 16 x 16 x 3 float32 image.
IMAGE_BYTES = 16 * 16 * 3 * 4


def _recording(sizes):
    w = np.random.default_rng(0).normal(size=(16, 16, 3))

    def f(X):
        sizes.append(len(X))
        s = (X * w).sum(axis=(1, 2, 3))
        return np.stack([s, -s, 0.5 * s], axis=1)

    return f


CASES = {
    "occlusion": dict(method="occlusion", mask_size=3, stride=2),
    "lime": dict(method="lime", num_samples=300, random_state=0, segmentation="grid"),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(("batch_size", "budget", "most"), [
    ("auto", 10 * IMAGE_BYTES, 10), ("auto", 10 * IMAGE_BYTES + 5, 10), (64, 7 * IMAGE_BYTES, 7),
    (4, 100 * IMAGE_BYTES, 4), ("auto", 1, 1),
])
def test_byte_budget_bounds_every_call(case, batch_size, budget, most):
    """Check no call gets more images than batch_size and the byte budget allow, and the
    maps equal those at batch_size=1."""
    X = np.random.default_rng(1).uniform(size=(3, 16, 16, 3)).astype("float32")
    sizes = []
    with config_context(max_batch_bytes=budget):
        got = explainkit.explain(_recording(sizes), X, [0, 2], batch_size=batch_size,
                                 **CASES[case])
    assert max(sizes) == most
    want = explainkit.explain(_recording([]), X, [0, 2], batch_size=1, **CASES[case])
    np.testing.assert_allclose(got.maps, want.maps, rtol=1e-5, atol=1e-6)


def test_auto_takes_at_most_1024_images():
    """Check batch_size='auto' stops at 1024 images per call when the budget allows more."""
    sizes = []
    X = np.zeros((1, 16, 16, 3), "float32")
    explainkit.occlusion_sensitivity(_recording(sizes), X, mask_size=1, stride=1,
                                     mask_value=1.0)
    assert max(sizes) == 256  # 16 * 16 positions, all in one call
    sizes.clear()
    explainkit.image_lime(_recording(sizes), X, num_samples=2000, segmentation="grid",
                          random_state=0)
    assert max(sizes) == 1024 and sum(sizes) == 1 + 1999


def test_set_config_and_context():
    """Check set_config changes the default, config_context only inside its block."""
    default = get_config()["max_batch_bytes"]
    assert default == 256 * 2**20
    try:
        set_config(max_batch_bytes=12345)
        assert get_config()["max_batch_bytes"] == 12345
        with config_context(max_batch_bytes=7):
            assert get_config()["max_batch_bytes"] == 7
            seen = []
            thread = threading.Thread(target=lambda: seen.append(get_config()))
            thread.start()
            thread.join()
            assert seen[0]["max_batch_bytes"] == 12345  # other threads: the global value
        assert get_config()["max_batch_bytes"] == 12345
    finally:
        set_config(max_batch_bytes=default)
    assert get_config()["max_batch_bytes"] == default


@pytest.mark.parametrize(("value", "error", "match"), [
    (0, ValueError, "at least 1. Got 0"), (1.5, TypeError, "must be an int"),
    ("1GB", TypeError, "Got '1GB'"), (True, TypeError, "Got True"),
])
def test_bad_settings(value, error, match):
    """Check a bad max_batch_bytes is refused with the setting's name."""
    with pytest.raises(error, match=match):
        set_config(max_batch_bytes=value)
    with pytest.raises(error, match="'max_batch_bytes'"), config_context(max_batch_bytes=value):
        pass


@pytest.mark.parametrize(("batch_size", "error"), [(0, ValueError), ("big", TypeError),
                                                   (2.0, TypeError)])
def test_bad_batch_size(batch_size, error):
    """Check batch_size must be 'auto' or a positive int."""
    with pytest.raises(error, match="'batch_size' parameter must be 'auto' or an int"):
        explainkit.OcclusionSensitivity(lambda X: X.sum(axis=(1, 2, 3)),
                                        batch_size=batch_size).fit()
