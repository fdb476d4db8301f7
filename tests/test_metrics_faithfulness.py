"""Faithfulness metrics against hand-computed curves, areas and drops."""

import keras
import numpy as np
import pytest
from conftest import cam_model

import explainkit
from explainkit import metrics

# A 4 x 4 image whose score is the mean of its top two rows (the region R, 8 pixels).
REGION = np.zeros((4, 4), bool)
REGION[:2] = True
ONES = np.ones((2, 4, 4, 3), np.float32)
PERFECT = np.broadcast_to(REGION.astype(np.float32), (2, 4, 4)).copy()
INVERTED = 1 - PERFECT


def region_mean(x):
    """Regression: the mean of the region over its pixels and channels, shape (N, 1)."""
    return x[:, REGION, :].mean(axis=(1, 2))[:, None]


def region_classifier():
    """Keras: logits (2 * mean of R, 0) -> softmax, so P(class 0) = sigmoid(2 * mean of R)."""
    net = keras.Sequential([
        keras.Input((4, 4, 3)),
        keras.layers.Conv2D(1, 1, use_bias=False, name="mean"),
        keras.layers.Flatten(),
        keras.layers.Dense(2, activation="softmax", name="fc"),
    ])  # fmt: skip
    net.get_layer("mean").set_weights([np.full((1, 1, 3, 1), 1 / 3, np.float32)])
    kernel = np.zeros((16, 2), np.float32)
    kernel[:, 0] = 2 * REGION.ravel() / REGION.sum()
    net.get_layer("fc").set_weights([kernel, np.zeros(2, np.float32)])
    return net


def _area(curve):
    curve = np.asarray(curve, dtype=np.float64)
    return float(np.sum((curve[:-1] + curve[1:]) / 2) / (len(curve) - 1))


# Steps of 4 pixels (16 pixels, steps=4): what is left of the region's 8 pixels.
PERFECT_DELETION = [1, 0.5, 0, 0, 0]       # the region goes first
INVERTED_DELETION = [1, 1, 1, 0.5, 0]      # the region goes last


@pytest.mark.parametrize(("maps", "curve", "area"), [
    (PERFECT, PERFECT_DELETION, 0.25),
    (INVERTED, INVERTED_DELETION, 0.75),
])
def test_deletion_by_hand(maps, curve, area):
    """Check deletion's curve and area on the region model: 1/8 * sum of trapezoids."""
    result = metrics.deletion(region_mean, ONES, maps, steps=4, random_state=0)
    np.testing.assert_allclose(result.curves, [curve, curve], atol=1e-6)
    np.testing.assert_allclose(result.values, [area, area], atol=1e-6)
    assert _area(curve) == pytest.approx(area)
    np.testing.assert_allclose(result.fractions, [0, 0.25, 0.5, 0.75, 1])
    assert result.name == "deletion" and not result.higher_is_better
    assert result.mean == pytest.approx(area)


def test_insertion_by_hand_and_the_perfect_map_wins():
    """Check insertion into a zero baseline mirrors deletion; the perfect map wins both."""
    perfect = metrics.insertion(region_mean, ONES, PERFECT, steps=4, baseline=0)
    inverted = metrics.insertion(region_mean, ONES, INVERTED, steps=4, baseline=0)
    np.testing.assert_allclose(perfect.curves[0], [0, 0.5, 1, 1, 1], atol=1e-6)
    np.testing.assert_allclose(inverted.curves[0], [0, 0, 0, 0.5, 1], atol=1e-6)
    assert perfect.mean == pytest.approx(0.75) and inverted.mean == pytest.approx(0.25)
    assert perfect.higher_is_better
    assert metrics.deletion(region_mean, ONES, PERFECT, steps=4).mean < metrics.deletion(
        region_mean, ONES, INVERTED, steps=4).mean


def test_max_fraction_and_baselines():
    """Check max_fraction stops early (Xplique's floor(linspace) counts) and the baselines."""
    result = metrics.deletion(region_mean, ONES, PERFECT, steps=2, max_fraction=0.5)
    np.testing.assert_allclose(result.fractions, [0, 0.25, 0.5])
    np.testing.assert_allclose(result.curves[0], [1, 0.5, 0], atol=1e-6)
    # A baseline of 0.5 everywhere: the region's mean falls to 0.5, not 0.
    half = metrics.deletion(region_mean, ONES, PERFECT, steps=4, baseline=0.5)
    np.testing.assert_allclose(half.curves[0], [1, 0.75, 0.5, 0.5, 0.5], atol=1e-6)
    # "mean" of an all-ones image is 1: deleting changes nothing.
    same = metrics.deletion(region_mean, ONES, PERFECT, steps=4, baseline="mean")
    np.testing.assert_allclose(same.curves[0], np.ones(5), atol=1e-6)
    # "blur" of a constant image is the image (nearest edges): nothing changes either.
    blurred = metrics.insertion(region_mean, ONES, PERFECT, steps=4)
    np.testing.assert_allclose(blurred.curves[0], np.ones(5), atol=1e-6)
    assert blurred.params["baseline"] == "blur"


def test_probability_and_logit_scores():
    """Check a classifier is scored by its probability, or by its logit with score='logit'."""
    net = region_classifier()
    logit = metrics.deletion(net, ONES, PERFECT, 0, steps=4, score="logit")
    np.testing.assert_allclose(logit.curves[0], 2 * np.array(PERFECT_DELETION), atol=1e-5)
    probability = metrics.deletion(net, ONES, PERFECT, 0, steps=4)
    expected = 1 / (1 + np.exp(-2 * np.array(PERFECT_DELETION)))
    np.testing.assert_allclose(probability.curves[0], expected, atol=1e-5)
    assert probability.mean == pytest.approx(_area(expected), abs=1e-5)
    with pytest.raises(ValueError, match="score='logit' needs a Keras model"):
        metrics.deletion(region_mean, ONES, PERFECT, score="logit")


def test_ties_are_broken_at_random_reproducibly():
    """Check a flat map ranks pixels at random: equal for one seed, different for others."""
    flat = np.zeros((2, 4, 4))
    first = metrics.deletion(region_mean, ONES, flat, steps=16, random_state=1).curves
    again = metrics.deletion(region_mean, ONES, flat, steps=16, random_state=1).curves
    other = metrics.deletion(region_mean, ONES, flat, steps=16, random_state=2).curves
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_several_targets_and_per_image_targets():
    """Check (N, H, W, K) maps give (N, K) values and (N, K, steps + 1) curves, and a numpy
    (N,) target scores each image for its own class."""
    net = region_classifier()
    maps = np.stack([PERFECT, INVERTED], axis=-1)
    result = metrics.deletion(net, ONES, maps, [0, 1], steps=4, score="logit")
    assert result.values.shape == (2, 2) and result.curves.shape == (2, 2, 5)
    np.testing.assert_allclose(result.curves[:, 0], 2 * np.array([PERFECT_DELETION] * 2),
                               atol=1e-5)
    np.testing.assert_allclose(result.curves[:, 1], 0, atol=1e-6)  # class 1's logit is 0
    own = metrics.deletion(net, ONES, PERFECT, np.array([0, 1]), steps=4, score="logit")
    np.testing.assert_allclose(own.curves[0], 2 * np.array(PERFECT_DELETION), atol=1e-5)
    np.testing.assert_allclose(own.curves[1], 0, atol=1e-6)
    with pytest.raises(ValueError, match=r"shape \(2,\) or \(2, K\)"):
        metrics.deletion(net, ONES, PERFECT, np.array([0, 1, 1]))


def test_an_explanation_brings_its_targets():
    """Check an Explanation's targets are the default and its maps are scored."""
    net = cam_model(seed=3)
    X = np.random.default_rng(0).uniform(0, 1, (3, 16, 16, 3)).astype(np.float32)
    explanation = explainkit.explain(net, X, np.array([1, 3, 0]))
    got = metrics.deletion(net, X, explanation, steps=5, random_state=0)
    want = metrics.deletion(net, X, explanation.score_map, np.array([1, 3, 0]), steps=5,
                            random_state=0)
    np.testing.assert_allclose(got.values, want.values, rtol=1e-6)
    assert got.values.shape == (3,)


def _segmenter(x):
    """Two classes per pixel: class 1 = the pixel's channel mean, class 0 = 1 - it."""
    bright = x.mean(axis=-1, keepdims=True)
    return np.concatenate([1 - bright, bright], axis=-1)


def test_segmentation_and_roi():
    """Check segmentation sums the class over all pixels, or over an roi."""
    result = metrics.deletion(_segmenter, ONES, PERFECT, 1, steps=4)
    # Class 1 summed over 16 pixels: 16 minus the removed pixels.
    np.testing.assert_allclose(result.curves[0], [16, 12, 8, 4, 0], atol=1e-5)
    bottom = ~REGION
    inside = metrics.deletion(_segmenter, ONES, PERFECT, 1, steps=4, roi=bottom)
    # The region (top rows) goes first; the roi (bottom rows) keeps 8 until then.
    np.testing.assert_allclose(inside.curves[0], [8, 8, 8, 4, 0], atol=1e-5)


def test_average_drop_increase_and_gain_by_hand():
    """Check AD/IC/AG: O = score of image * M, M the min-max normalised map."""
    def score(x):  # P(class 0) = 1 - half the mean outside the region: 0.5 on ONES
        s = 1 - 0.5 * x[:, ~REGION, :].mean(axis=(1, 2))
        return np.stack([s, 1 - s], axis=1)

    # Keeping only the region (the map is R) doubles the score: 0.5 -> 1.
    assert metrics.average_drop(score, ONES, PERFECT, 0).mean == pytest.approx(0)
    assert metrics.increase_in_confidence(score, ONES, PERFECT, 0).mean == pytest.approx(100)
    assert metrics.average_gain(score, ONES, PERFECT, 0).mean == pytest.approx(100)
    # A map 0.25 on R, 1 elsewhere keeps the outside: O = Y, no drop, no increase.
    soft = np.where(REGION, 0.25, 1.0)[None].repeat(2, axis=0)
    np.testing.assert_allclose(metrics.average_drop(score, ONES, soft, 0).values, 0, atol=1e-5)
    assert metrics.increase_in_confidence(score, ONES, soft, 0).mean == 0
    # Regression on the region's mean: a map 0.5 on R, 0 elsewhere but one pixel at 1 keeps
    # half of R: O = 0.5, Y = 1, AD = 50 %.
    half = np.where(REGION, 0.5, 0.0)
    half[3, 3] = 1.0
    result = metrics.average_drop(region_mean, ONES, np.stack([half, half]))
    np.testing.assert_allclose(result.values, [50, 50], atol=1e-4)
    assert not result.higher_is_better


def test_keep_and_absolute_options():
    """Check keep= keeps only the top pixels and absolute= normalises |map|."""
    ramp = np.arange(16, dtype=np.float32).reshape(4, 4)[::-1].copy()  # top rows highest
    maps = np.stack([ramp, ramp])
    # keep=0.5 keeps the 8 top-ranked pixels (the region) with their normalised values:
    # (15..8) / 15, whose mean is 11.5 / 15.
    kept = metrics.average_drop(region_mean, ONES, maps, keep=0.5)
    np.testing.assert_allclose(kept.values, 100 * (1 - 11.5 / 15), atol=1e-4)
    # keep=0.25: the 4 best pixels, 15..12, mean over the region's 8 pixels = 54 / 15 / 8.
    quarter = metrics.average_drop(region_mean, ONES, maps, keep=0.25)
    np.testing.assert_allclose(quarter.values, 100 * (1 - 54 / 15 / 8), atol=1e-4)
    signed = np.stack([np.where(REGION, -1.0, 0.0)] * 2)
    # Signed: min-max puts R at 0 (all lost); absolute: R at 1 (all kept).
    np.testing.assert_allclose(metrics.average_drop(region_mean, ONES, signed).values, 100)
    np.testing.assert_allclose(
        metrics.average_drop(region_mean, ONES, signed, absolute=True).values, 0, atol=1e-5)


def test_average_gain_needs_probabilities():
    """Check average gain refuses scores outside [0, 1] (it divides by 1 - Y)."""
    with pytest.raises(ValueError, match=r"scores in \[0, 1\]"):
        metrics.average_gain(lambda x: 3 * region_mean(x), ONES, PERFECT)


def test_mu_fidelity_is_one_for_the_exact_attribution_of_a_linear_model():
    """Check a linear model's exact attribution (w * x) correlates perfectly, a wrong map not."""
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(8, 8, 1)).astype(np.float32)

    def linear(x):
        return (x * weights).sum(axis=(1, 2, 3))[:, None]

    X = rng.uniform(0, 1, (2, 8, 8, 1)).astype(np.float32)
    exact = (X * weights)[..., 0]
    for correlation in ("pearson", "spearman"):
        result = metrics.mu_fidelity(linear, X, exact, grid_size=4, num_samples=32,
                                     correlation=correlation, random_state=0)
        np.testing.assert_allclose(result.values, 1, atol=1e-5)
    wrong = metrics.mu_fidelity(linear, X, -exact, grid_size=4, num_samples=32,
                                random_state=0)
    np.testing.assert_allclose(wrong.values, -1, atol=1e-5)
    flat = metrics.mu_fidelity(linear, X, np.ones((2, 8, 8)), grid_size=4, num_samples=32,
                               random_state=0)
    np.testing.assert_array_equal(flat.values, 0)  # no variation: no correlation


def test_batch_size_invariance_and_inputs_untouched():
    """Check the results do not depend on batch_size and nothing given is modified."""
    net = cam_model(seed=5)
    X = np.random.default_rng(1).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    maps = np.random.default_rng(2).uniform(0, 1, (2, 16, 16)).astype(np.float32)
    before = X.copy(), maps.copy()
    one = metrics.deletion(net, X, maps, 1, steps=6, batch_size=1)
    many = metrics.deletion(net, X, maps, 1, steps=6, batch_size="auto")
    np.testing.assert_allclose(one.curves, many.curves, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(X, before[0])
    np.testing.assert_array_equal(maps, before[1])


def test_bad_arguments_are_clear_errors():
    """Check the errors name the argument, the expectation and what was received."""
    with pytest.raises(ValueError, match=r"one map per image.*\(2, 4, 4\).*\(2, 3, 3\)"):
        metrics.deletion(region_mean, ONES, np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match=r"\(N, H, W\) or \(N, H, W, K\).*\(4, 4\)"):
        metrics.deletion(region_mean, ONES, np.zeros((4, 4)))
    with pytest.raises(TypeError, match="Explanation or an array"):
        metrics.deletion(region_mean, ONES, "map")
    with pytest.raises(ValueError, match="'baseline'"):
        metrics.deletion(region_mean, ONES, PERFECT, baseline="noise")
    with pytest.raises(ValueError, match="max_fraction must be in"):
        metrics.deletion(region_mean, ONES, PERFECT, max_fraction=1.5)
    with pytest.raises(ValueError, match="steps"):
        metrics.insertion(region_mean, ONES, PERFECT, steps=0)
    with pytest.raises(ValueError, match="'score'"):
        metrics.average_drop(region_mean, ONES, PERFECT, score="prob")
    with pytest.raises(ValueError, match="'correlation'"):
        metrics.mu_fidelity(region_mean, ONES, PERFECT, correlation="kendall")
    with pytest.raises(ValueError, match="keep must be in"):
        metrics.average_drop(region_mean, ONES, PERFECT, keep=0)


def test_result_interval_and_plot():
    """Check the bootstrap interval brackets the mean and the plots draw."""
    rng = np.random.default_rng(3)
    maps = rng.uniform(0, 1, (6, 4, 4))
    X = rng.uniform(0, 1, (6, 4, 4, 3)).astype(np.float32)
    result = metrics.deletion(region_mean, X, maps, steps=4, random_state=0)
    low, high = result.interval
    assert low <= result.mean <= high
    from explainkit.metrics import MetricResult

    constant = MetricResult("x", np.full(5, 0.3), True)
    assert constant.interval == pytest.approx((0.3, 0.3))  # no spread, no interval
    spread = MetricResult("x", np.array([0.0, 1.0] * 10), True).interval
    assert 0 < spread[0] < 0.5 < spread[1] < 1  # around the mean 0.5, inside the range
    assert result.plot().get_title() == "deletion"
    assert metrics.average_drop(region_mean, X, maps).plot() is not None
