"""Localisation (pointing game, energy pointing game, relevance rank accuracy) and complexity
(sparseness, complexity) metrics, against values computed by hand on small maps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from explainkit import Explanation
from explainkit.metrics import (
    MetricResult,
    complexity,
    energy_pointing_game,
    pointing_game,
    relevance_rank_accuracy,
    sparseness,
)
from explainkit.metrics._localisation import as_masks

LOCALISATION = [pointing_game, energy_pointing_game, relevance_rank_accuracy]
COMPLEXITY = [sparseness, complexity]


def peak_map(size: int, row: int, col: int, n: int = 1) -> np.ndarray:
    """``n`` zero maps ``size x size`` with a single 1.0 at (row, col)."""
    maps = np.zeros((n, size, size), dtype=np.float32)
    maps[:, row, col] = 1.0
    return maps


def pixel_mask(size: int, pixels, n: int = 1) -> np.ndarray:
    masks = np.zeros((n, size, size), dtype=bool)
    for row, col in pixels:
        masks[:, row, col] = True
    return masks


def explanation(maps: np.ndarray, single_target: bool) -> Explanation:
    n, h, w, k = maps.shape
    return Explanation(maps=maps, method="x", targets=None, scores=np.zeros((n, k)),
                       task="classification", images=np.zeros((n, h, w, 3)),
                       single_target=single_target)


# ---------------------------------------------------------------- pointing game


def test_pointing_game_tolerance_three_pixels_away():
    maps = peak_map(5, 0, 3)  # the peak is 3 px right of the mask pixel (0, 0)
    masks = pixel_mask(5, [(0, 0)])
    assert pointing_game(maps, masks, tolerance=3).values.tolist() == [1.0]
    assert pointing_game(maps, masks, tolerance=2).values.tolist() == [0.0]
    assert pointing_game(maps, masks, tolerance=2.999).values.tolist() == [0.0]


def test_pointing_game_euclidean_distance():
    maps = peak_map(5, 3, 4)  # sqrt(3^2 + 4^2) = 5 from (0, 0)
    masks = pixel_mask(5, [(0, 0)])
    assert pointing_game(maps, masks, tolerance=5).values.tolist() == [1.0]
    assert pointing_game(maps, masks, tolerance=4.9).values.tolist() == [0.0]


def test_pointing_game_peak_inside_mask_is_a_hit_at_tolerance_zero():
    maps = peak_map(5, 2, 2)
    masks = pixel_mask(5, [(1, 1), (1, 2), (2, 1), (2, 2)])
    assert pointing_game(maps, masks, tolerance=0).values.tolist() == [1.0]
    assert pointing_game(peak_map(5, 2, 3), masks, tolerance=0).values.tolist() == [0.0]


def test_pointing_game_default_tolerance_is_15():
    maps = np.zeros((2, 1, 40), dtype=np.float32)
    maps[0, 0, 15] = 1.0  # 15 px from column 0: hit
    maps[1, 0, 16] = 1.0  # 16 px: miss
    masks = np.zeros((2, 1, 40), dtype=bool)
    masks[:, 0, 0] = True
    result = pointing_game(maps, masks)
    assert result.values.tolist() == [1.0, 0.0]
    assert result.params == {"tolerance": 15.0}


def test_pointing_game_ties_any_tied_maximum_within_tolerance_is_a_hit():
    masks = pixel_mask(5, [(0, 0)], n=2)
    maps = np.zeros((2, 5, 5), dtype=np.float32)
    maps[0, 0, 0] = maps[0, 4, 4] = 2.0  # one tied maximum on the mask
    maps[1, 4, 0] = maps[1, 4, 4] = 2.0  # both tied maxima 4 and ~5.66 px away
    maps[:, 2, 2] = 1.0
    assert pointing_game(maps, masks, tolerance=0).values.tolist() == [1.0, 0.0]
    assert pointing_game(maps, masks, tolerance=4).values.tolist() == [1.0, 1.0]


def test_pointing_game_constant_map_is_a_miss():
    maps = np.stack([np.zeros((5, 5)), np.full((5, 5), 3.0), np.full((5, 5), -1.0)])
    masks = np.ones((3, 5, 5), dtype=bool)  # even where the mask is the whole image
    assert pointing_game(maps, masks, tolerance=100).values.tolist() == [0.0, 0.0, 0.0]


def test_pointing_game_negative_map_points_with_its_maximum():
    maps = np.full((1, 5, 5), -3.0, dtype=np.float32)
    maps[0, 4, 4] = -1.0
    assert pointing_game(maps, pixel_mask(5, [(4, 4)]), tolerance=0).values.tolist() == [1.0]


@pytest.mark.parametrize("tolerance", ["3", None, True, [3]])
def test_pointing_game_tolerance_type(tolerance):
    with pytest.raises(TypeError, match="tolerance"):
        pointing_game(peak_map(5, 0, 0), pixel_mask(5, [(0, 0)]), tolerance=tolerance)


@pytest.mark.parametrize("tolerance", [-1, -0.5, float("nan")])
def test_pointing_game_tolerance_value(tolerance):
    with pytest.raises(ValueError, match="tolerance"):
        pointing_game(peak_map(5, 0, 0), pixel_mask(5, [(0, 0)]), tolerance=tolerance)


def test_pointing_game_accepts_numpy_tolerance():
    maps, masks = peak_map(5, 0, 3), pixel_mask(5, [(0, 0)])
    assert pointing_game(maps, masks, tolerance=np.int64(3)).values.tolist() == [1.0]


# ---------------------------------------------------------------- energy pointing game


def test_energy_pointing_game_by_hand():
    maps = np.array([[[1, 2, 0, -5],
                      [0, 3, 0, 0],
                      [0, 0, 4, 0],
                      [0, 0, 0, 0]]], dtype=np.float32)
    # Positive energy 1 + 2 + 3 + 4 = 10; the mask holds 1 + 2 + 3 (and the -5, ignored).
    masks = pixel_mask(4, [(0, 0), (0, 1), (1, 1), (0, 3)])
    np.testing.assert_allclose(energy_pointing_game(maps, masks).values, [0.6])
    everything = np.ones((1, 4, 4), dtype=bool)
    np.testing.assert_allclose(energy_pointing_game(maps, everything).values, [1.0])
    np.testing.assert_allclose(
        energy_pointing_game(maps, pixel_mask(4, [(3, 3)])).values, [0.0])


def test_energy_pointing_game_no_positive_value_gives_zero():
    maps = np.stack([np.zeros((4, 4)), np.full((4, 4), -2.0)])
    masks = np.ones((2, 4, 4), dtype=bool)
    assert energy_pointing_game(maps, masks).values.tolist() == [0.0, 0.0]


# ---------------------------------------------------------------- relevance rank accuracy


def test_relevance_rank_accuracy_by_hand():
    maps = np.array([[[9, 8, 0, 0],
                      [0, 0, 0, 7],
                      [0, 0, 1, 0],
                      [0, 0, 0, 0]]], dtype=np.float32)
    masks = pixel_mask(4, [(0, 0), (0, 1), (2, 2)])  # 3 pixels: the top 3 are 9, 8, 7
    np.testing.assert_allclose(relevance_rank_accuracy(maps, masks).values, [2 / 3])
    masks = pixel_mask(4, [(0, 0), (0, 1), (1, 3), (2, 2)])  # top 4 = 9, 8, 7, 1
    np.testing.assert_allclose(relevance_rank_accuracy(maps, masks).values, [1.0])


def test_relevance_rank_accuracy_ties_that_fit_need_no_randomness():
    maps = np.zeros((1, 4, 4), dtype=np.float32)
    maps[0, 0, 0] = 5.0
    maps[0, 0, 1] = maps[0, 3, 3] = 1.0
    masks = pixel_mask(4, [(0, 0), (0, 1), (0, 2)])  # top 3: 5 and both 1s -> 2 of 3 inside
    for seed in range(5):
        np.testing.assert_allclose(
            relevance_rank_accuracy(maps, masks, random_state=seed).values, [2 / 3])


def test_relevance_rank_accuracy_ties_at_the_cut_are_random():
    # The mask is 2 pixels; the top 2 are the 5 and one of three tied 1s, one of them in
    # the mask: 1.0 with probability 1/3, else 0.5 (expected 2/3).
    n = 3000
    maps = np.zeros((n, 4, 4), dtype=np.float32)
    maps[:, 0, 0] = 5.0
    maps[:, 0, 1] = maps[:, 2, 2] = maps[:, 3, 3] = 1.0
    masks = pixel_mask(4, [(0, 0), (0, 1)], n=n)
    values = relevance_rank_accuracy(maps, masks, random_state=0).values
    assert set(values.tolist()) == {0.5, 1.0}
    assert abs(values.mean() - 2 / 3) < 0.03
    again = relevance_rank_accuracy(maps, masks, random_state=0).values
    np.testing.assert_array_equal(values, again)
    other = relevance_rank_accuracy(maps, masks, random_state=1).values
    assert not np.array_equal(values, other)


def test_relevance_rank_accuracy_generator_and_constant_map():
    n = 2000
    maps = np.zeros((n, 4, 4), dtype=np.float32)  # all tied: chance level, 4 / 16
    masks = pixel_mask(4, [(0, 0), (1, 1), (2, 2), (3, 3)], n=n)
    first = relevance_rank_accuracy(maps, masks, random_state=np.random.default_rng(7))
    second = relevance_rank_accuracy(maps, masks, random_state=np.random.default_rng(7))
    np.testing.assert_array_equal(first.values, second.values)
    assert abs(first.mean - 0.25) < 0.03


@pytest.mark.parametrize("random_state", ["0", -1, 1.5, True])
def test_relevance_rank_accuracy_random_state_type(random_state):
    with pytest.raises(TypeError, match="random_state"):
        relevance_rank_accuracy(peak_map(4, 0, 0), pixel_mask(4, [(0, 0)]),
                                random_state=random_state)


# ---------------------------------------------------------------- masks and boxes


def test_boxes_are_half_open_and_equal_the_masks():
    maps = np.random.default_rng(0).permutation(72).reshape(2, 6, 6)  # no ties
    boxes = np.array([[1, 2, 4, 5], [0, 0, 6, 1]])  # (x_min, y_min, x_max, y_max)
    masks = np.zeros((2, 6, 6), dtype=bool)
    masks[0, 2:5, 1:4] = True  # rows 2..4, columns 1..3
    masks[1, 0:1, 0:6] = True
    np.testing.assert_array_equal(as_masks(boxes, (2, 6, 6, 1)), masks[..., None])
    for metric in LOCALISATION:
        np.testing.assert_array_equal(metric(maps, boxes).values, metric(maps, masks).values)
    np.testing.assert_array_equal(as_masks(boxes.astype(np.float32), (2, 6, 6, 1)),
                                  masks[..., None])
    np.testing.assert_array_equal(as_masks([list(b) for b in boxes], (2, 6, 6, 1)),
                                  masks[..., None])


def test_list_of_boxes_is_their_union():
    boxes = [np.array([[0, 0, 2, 2], [3, 3, 5, 5]]), np.array([[1, 1, 2, 3]])]
    masks = np.zeros((2, 6, 6), dtype=bool)
    masks[0, 0:2, 0:2] = masks[0, 3:5, 3:5] = True
    masks[1, 1:3, 1:2] = True
    np.testing.assert_array_equal(as_masks(boxes, (2, 6, 6, 3)), masks[..., None])
    maps = np.zeros((2, 6, 6), dtype=np.float32)
    maps[0, 4, 4] = 1.0  # in the second box of image 0
    maps[1, 5, 5] = 1.0  # outside image 1's box
    assert pointing_game(maps, boxes, tolerance=0).values.tolist() == [1.0, 0.0]


def test_boxes_are_clipped_and_fractional_coordinates_follow_the_half_open_rule():
    boxes = np.array([[-3.0, -3.0, 2.0, 2.0], [4.0, 4.0, 100.0, 100.0], [0.5, 0.0, 2.5, 1.0]])
    masks = np.zeros((3, 6, 6), dtype=bool)
    masks[0, 0:2, 0:2] = True
    masks[1, 4:6, 4:6] = True
    masks[2, 0, 1:3] = True  # 0.5 <= col < 2.5: columns 1 and 2
    np.testing.assert_array_equal(as_masks(boxes, (3, 6, 6, 1)), masks[..., None])


@pytest.mark.parametrize("boxes", [
    np.array([[0, 0, 2, 2], [10, 10, 12, 12]]),  # clipped away
    np.array([[0, 0, 2, 2], [-5, 0, 0, 3]]),  # ends before column 0
    np.array([[0, 0, 2, 2], [2, 2, 2, 5]]),  # zero width
    [np.array([[0, 0, 2, 2]]), np.zeros((0, 4))],  # no box
])
def test_empty_box_is_an_error_naming_the_image(boxes):
    for metric in LOCALISATION:
        with pytest.raises(ValueError, match="image 1"):
            metric(np.ones((2, 6, 6)), boxes)


def test_empty_mask_is_an_error_naming_the_image():
    masks = np.ones((3, 5, 5), dtype=bool)
    masks[2] = False
    for metric in LOCALISATION:
        with pytest.raises(ValueError, match="image 2"):
            metric(np.ones((3, 5, 5)), masks)
    per_target = np.ones((3, 5, 5, 2), dtype=bool)
    per_target[1, :, :, 1] = False
    with pytest.raises(ValueError, match=r"image 1 \(target 1\)"):
        pointing_game(np.ones((3, 5, 5, 2)), per_target)


def test_bad_boxes():
    maps = np.ones((2, 6, 6))
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        pointing_game(maps, np.array([[0, 0, 2, 2]] * 3))
    with pytest.raises(ValueError, match="2 in all"):
        pointing_game(maps, [np.array([[0, 0, 2, 2]])] * 3)
    with pytest.raises(ValueError, match="x_max < x_min"):
        pointing_game(maps, np.array([[0, 0, 2, 2], [4, 0, 2, 2]]))
    with pytest.raises(ValueError, match="NaN"):
        pointing_game(maps, np.array([[0, 0, 2, 2], [0, 0, np.nan, 2]]))


@pytest.mark.parametrize("masks", [
    np.ones((2, 5, 5)),  # float
    np.ones((2, 5, 5), dtype=np.int64),
    np.ones((2, 5, 5, 1), dtype=np.uint8),
    "mask",
    None,
])
def test_masks_must_be_boolean(masks):
    with pytest.raises(TypeError, match="masks"):
        energy_pointing_game(np.ones((2, 5, 5)), masks)


@pytest.mark.parametrize("shape", [(2, 4, 5), (3, 5, 5), (2, 5, 5, 2), (5, 5), (2, 5, 5, 3, 1)])
def test_masks_shape(shape):
    maps = np.ones((2, 5, 5, 3))
    with pytest.raises(ValueError, match="masks") as info:
        relevance_rank_accuracy(maps, np.ones(shape, dtype=bool))
    assert "(2, 5, 5, 3)" in str(info.value) and str(shape) in str(info.value)


# ---------------------------------------------------------------- targets and inputs


def test_several_targets_give_n_by_k_values():
    maps = np.zeros((2, 5, 5, 2), dtype=np.float32)
    maps[:, 0, 0, 0] = 1.0  # target 0 points at (0, 0)
    maps[:, 4, 4, 1] = 1.0  # target 1 points at (4, 4)
    shared = pixel_mask(5, [(0, 0)], n=2)
    assert pointing_game(maps, shared, tolerance=0).values.tolist() == [[1, 0], [1, 0]]
    per_target = np.zeros((2, 5, 5, 2), dtype=bool)
    per_target[0, 0, 0, 0] = per_target[0, 4, 4, 1] = True  # image 0: both right
    per_target[1, 4, 4, 0] = per_target[1, 0, 0, 1] = True  # image 1: both wrong
    result = pointing_game(maps, per_target, tolerance=0)
    assert result.values.shape == (2, 2)
    assert result.values.tolist() == [[1, 1], [0, 0]]
    assert energy_pointing_game(maps, per_target).values.tolist() == [[1, 1], [0, 0]]
    assert relevance_rank_accuracy(maps, per_target).values.tolist() == [[1, 1], [0, 0]]
    boxes = np.array([[0, 0, 1, 1], [4, 4, 5, 5]])  # one box per image, for both targets
    assert pointing_game(maps, boxes, tolerance=0).values.tolist() == [[1, 0], [0, 1]]
    for metric in COMPLEXITY:
        assert metric(maps).values.shape == (2, 2)


def test_explanation_input():
    maps = np.zeros((2, 5, 5, 1), dtype=np.float32)
    maps[0, 1, 1, 0] = maps[1, 3, 3, 0] = 1.0
    masks = pixel_mask(5, [(1, 1)], n=2)
    result = pointing_game(explanation(maps, single_target=True), masks, tolerance=0)
    assert result.values.tolist() == [1.0, 0.0]
    result = pointing_game(explanation(maps, single_target=False), masks, tolerance=0)
    assert result.values.tolist() == [[1.0], [0.0]]
    np.testing.assert_allclose(
        sparseness(explanation(maps, single_target=True)).values, [24 / 25, 24 / 25])
    np.testing.assert_allclose(
        complexity(explanation(maps, single_target=False)).values, [[0.0], [0.0]])


def test_results_mean_flags_and_names():
    maps = np.zeros((4, 5, 5), dtype=np.float32)
    maps[[0, 1, 2, 3], [0, 0, 4, 4], [0, 1, 4, 0]] = 1.0
    maps[:, 2, 2] = 0.5  # the second-ranked pixel, outside the mask
    masks = pixel_mask(5, [(0, 0), (0, 1)], n=4)
    # Every peak is within the default 15 px on a 5x5 map.
    expected = {"pointing_game": [1, 1, 1, 1], "energy_pointing_game": [2 / 3, 2 / 3, 0, 0],
                "relevance_rank_accuracy": [0.5, 0.5, 0, 0]}
    for metric in LOCALISATION:
        result = metric(maps, masks)
        assert isinstance(result, MetricResult)
        assert result.name == metric.__name__ and result.higher_is_better
        np.testing.assert_allclose(result.values, expected[metric.__name__])
        assert result.mean == pytest.approx(float(np.mean(result.values)))
        assert result.curves is None and result.fractions is None
    assert relevance_rank_accuracy(maps, masks, random_state=3).params == {"random_state": 3}
    assert sparseness(maps).higher_is_better and not complexity(maps).higher_is_better
    for metric in COMPLEXITY:
        result = metric(maps)
        assert result.name == metric.__name__
        assert result.mean == pytest.approx(float(np.mean(result.values)))


def test_inputs_are_not_modified():
    maps = np.array([[[-1.0, 2.0, 0.0], [3.0, -4.0, 0.5], [0.0, 0.0, 2.0]]])
    masks = pixel_mask(3, [(0, 1), (1, 1)])
    boxes_array = np.array([[0.5, 0.0, 2.0, 2.0]])
    boxes_list = [np.array([[0, 0, 1, 1], [2, 2, 3, 3]])]
    copies = [maps.copy(), masks.copy(), boxes_array.copy(), boxes_list[0].copy()]
    for metric in LOCALISATION:
        for ground_truth in (masks, boxes_array, boxes_list):
            metric(maps, ground_truth)
    for metric in COMPLEXITY:
        metric(maps)
    for before, after in zip(copies, [maps, masks, boxes_array, boxes_list[0]], strict=True):
        np.testing.assert_array_equal(before, after)
        assert before.dtype == after.dtype


# ---------------------------------------------------------------- sparseness (Gini)


@pytest.mark.parametrize("size", [2, 5, 8])
def test_gini_of_one_hot_is_n_minus_one_over_n(size):
    n = size * size
    np.testing.assert_allclose(sparseness(peak_map(size, 1, 1)).values, [(n - 1) / n])
    np.testing.assert_allclose(sparseness(-7 * peak_map(size, 0, 1)).values, [(n - 1) / n])


def test_gini_of_constant_and_zero_maps_is_zero():
    maps = np.stack([np.full((5, 5), 2.5), np.full((5, 5), -1.0), np.zeros((5, 5))])
    np.testing.assert_allclose(sparseness(maps).values, [0.0, 0.0, 0.0], atol=1e-12)


def test_gini_by_hand():
    # |a| sorted = 0, 0, 1, 3; weights 2i - n - 1 = -3, -1, 1, 3: (1 + 9) / (4 * 4) = 0.625.
    maps = np.array([[[0.0, 3.0], [-1.0, 0.0]], [[1.0, 1.0], [1.0, 3.0]]])
    # Second: sorted 1, 1, 1, 3: (-3 - 1 + 1 + 9) / (4 * 6) = 0.25.
    np.testing.assert_allclose(sparseness(maps).values, [0.625, 0.25])


# ---------------------------------------------------------------- complexity (entropy)


def test_entropy_of_uniform_and_one_hot_maps():
    np.testing.assert_allclose(complexity(np.full((1, 5, 5), 0.3)).values, [math.log(25)])
    np.testing.assert_allclose(complexity(np.full((1, 8, 8), -2.0)).values, [math.log(64)])
    one_hot = complexity(peak_map(5, 2, 3)).values
    assert one_hot.tolist() == [0.0]


def test_entropy_of_zero_map_is_log_n():
    np.testing.assert_allclose(complexity(np.zeros((2, 4, 4))).values, [math.log(16)] * 2)


def test_entropy_by_hand():
    # p = 1/4, 1/4, 1/2, 0: H = 2 (1/4) log 4 + (1/2) log 2 = 1.5 log 2.
    maps = np.array([[[1.0, -1.0], [2.0, 0.0]]])
    np.testing.assert_allclose(complexity(maps).values, [1.5 * math.log(2)])
    np.testing.assert_allclose(complexity(10 * maps).values, [1.5 * math.log(2)])


@pytest.mark.parametrize("metric", COMPLEXITY)
def test_complexity_metrics_reject_bad_maps(metric):
    with pytest.raises(ValueError):
        metric(np.ones((5, 5)))
    with pytest.raises(TypeError):
        metric("maps")
