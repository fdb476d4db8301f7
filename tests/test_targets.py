"""The forms of ``target``: one resolver for every method, metric and compare."""

import numpy as np
import pytest

from explainkit.targets import resolve_targets


def _resolve(target, n=3, class_names=None):
    return resolve_targets(target, task="classification", count=4, class_names=class_names,
                           num_images=n)


def test_scalar_and_none_are_one_target_for_every_image():
    index, single = _resolve(2)
    np.testing.assert_array_equal(index, [[2], [2], [2]])
    assert single
    index, single = _resolve(None)
    np.testing.assert_array_equal(index, [[-1], [-1], [-1]])
    assert single
    np.testing.assert_array_equal(_resolve(np.array(1))[0], [[1], [1], [1]])


def test_list_and_tuple_are_the_same_targets_for_every_image():
    for target in ([0, 3, 1], (0, 3, 1)):
        index, single = _resolve(target)
        np.testing.assert_array_equal(index, [[0, 3, 1]] * 3)
        assert not single


def test_numpy_arrays_are_per_image():
    index, single = _resolve(np.array([3, 0, 1]))
    np.testing.assert_array_equal(index, [[3], [0], [1]])
    assert single
    index, single = _resolve(np.array([[3, 0], [0, 1], [2, 2]]))
    np.testing.assert_array_equal(index, [[3, 0], [0, 1], [2, 2]])
    assert not single
    names = ["cat", "dog", "emu", "fox"]
    index, _ = _resolve(np.array(["fox", "cat", "dog"]), class_names=names)
    np.testing.assert_array_equal(index, [[3], [0], [1]])
    assert index.dtype == np.int32


def test_bad_per_image_targets_are_clear_errors():
    with pytest.raises(ValueError, match=r"\(3,\) or \(3, K\).*got shape \(2,\)"):
        _resolve(np.array([1, 2]))
    with pytest.raises(ValueError, match="out of range"):
        _resolve(np.array([1, 2, 4]))
    with pytest.raises(ValueError, match="not a class name"):
        _resolve(np.array(["cat", "dgo", "emu"]), class_names=["cat", "dog", "emu", "fox"])
    with pytest.raises(TypeError, match="float64"):
        _resolve(np.array([1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match="got shape"):
        _resolve(np.zeros((3, 1, 1), dtype=int))
