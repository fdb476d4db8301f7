"""The one batching path: every perturbation method and metric gives what it gave before."""

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from explainkit._perturbation import Perturbations, execute

DATA = Path(__file__).with_name("data")


def _reference_module():
    spec = importlib.util.spec_from_file_location(
        "make_perturbation_reference", DATA / "make_perturbation_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results():
    """The cases of make_perturbation_reference.py, run by the code as it is now."""
    return dict(_reference_module().cases())


@pytest.fixture(scope="module")
def reference():
    with np.load(DATA / "perturbation_reference.npz") as stored:
        return {key: stored[key] for key in stored.files}


def test_results_bit_identical_to_the_loops_they_replaced(results, reference):
    """Check occlusion, LIME, RISE, Score-CAM and compare's metrics give exactly the
    results of their own batching loops (commit 84c7f73), at every batch size."""
    versions = [tf.__version__, keras.__version__, np.__version__]
    assert set(results) == set(reference) - {"_versions"}
    for key, value in results.items():
        if list(reference["_versions"]) == versions:
            np.testing.assert_array_equal(value, reference[key], err_msg=key)
        else:  # other TensorFlow / numpy kernels: equal up to their rounding
            np.testing.assert_allclose(value, reference[key], rtol=1e-5, atol=1e-6,
                                       err_msg=key)


def test_execute_batches_across_plans_and_combines_each_batch():
    """Check the executor cuts the items of several plans into batch_size runs, scores
    each once and hands every plan its own scores and each batch's to combine."""
    calls, combined = [], []

    def filler(offset):
        def build(items, out):  # item j of the plan is the value offset + j
            out[:] = (offset + np.arange(items.start, items.stop))[:, None, None, None]
        return build

    first = Perturbations(np.array([0, 0, 0]), filler(0))
    second = Perturbations(np.array([1, 1]), filler(10), classes=np.array([4, 5]),
                           combine=lambda items, s: combined.append((items, s.copy())))

    def score(batch, image_ids, classes):
        calls.append((len(batch), image_ids.tolist(), classes.tolist()))
        return batch[:, 0, 0, 0] + classes

    out = execute([first, second], score, batch_size=2, image_shape=(1, 1, 1))
    assert calls == [(2, [0, 0], [0, 0]), (2, [0, 1], [0, 4]), (1, [1], [5])]
    np.testing.assert_array_equal(out[0], [0, 1, 2])
    np.testing.assert_array_equal(out[1], [14, 16])
    assert [(i.start, i.stop, s.tolist()) for i, s in combined] == [(0, 1, [14.0]),
                                                                    (1, 2, [16.0])]
