"""Expected gradients against linear models and hand-written Integrated Gradients loops."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import cam_model

import explainkit
from explainkit import ExpectedGradients


@pytest.fixture(scope="module")
def linear():
    """Dense on the flattened pixels, no activation: d output_k / d x = w[:, k] exactly."""
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(2, name="fc")])


def _kernel(linear):
    return linear.get_layer("fc").get_weights()[0].reshape(4, 4, 3, 2)


def _pre_softmax(net, x):
    dense = net.get_layer("fc")
    features = keras.Model(net.inputs[0], net.get_layer("gap").output)(x)
    return (tf.matmul(features, dense.kernel) + dense.bias).numpy()


def _integrated_gradients(net, x, baseline, target, steps=100):
    """Integrated Gradients of the logit by a plain midpoint loop with tf.GradientTape."""
    total = np.zeros_like(x)
    for i in range(1, steps + 1):
        point = tf.convert_to_tensor(baseline + (i - 0.5) / steps * (x - baseline))
        with tf.GradientTape() as tape:
            tape.watch(point)
            dense = net.get_layer("fc")
            features = keras.Model(net.inputs[0], net.get_layer("gap").output)(point)
            score = (tf.matmul(features, dense.kernel) + dense.bias)[:, target]
        total += tape.gradient(score, point).numpy()
    return ((x - baseline) * total / steps).sum(axis=-1)


def test_one_baseline_on_a_linear_model_is_exact(linear):
    """Check (x - b) . w summed over channels, whatever the path points drawn."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 4, 4, 3)).astype(np.float32)
    b = rng.uniform(-1, 1, (1, 4, 4, 3)).astype(np.float32)
    kept = b.copy()
    explanation = ExpectedGradients(linear, num_samples=7, background=b,
                                    random_state=1).fit().explain(x, [0, 1])
    expected = ((x - b)[..., None] * _kernel(linear)).sum(axis=3)
    np.testing.assert_allclose(explanation.maps, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(b, kept)  # the caller's background is not changed


def test_baselines_are_drawn_uniformly_from_the_background(linear):
    """Check that on a linear model the map tends to (x - mean background) . w."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (1, 4, 4, 3)).astype(np.float32)
    background = rng.uniform(-1, 1, (3, 4, 4, 3)).astype(np.float32)
    explanation = ExpectedGradients(linear, num_samples=4000, background=background,
                                    random_state=2, batch_size=500).fit().explain(x, 1)
    expected = ((x - background.mean(axis=0)) * _kernel(linear)[..., 1]).sum(axis=-1)
    first = ((x - background[0]) * _kernel(linear)[..., 1]).sum(axis=-1)
    error = np.abs(explanation.score_map - expected).max()
    assert error < 0.05 * np.abs(expected).max()
    assert np.abs(first - expected).max() > 4 * error  # one baseline alone would not pass


def test_one_baseline_and_many_points_is_integrated_gradients():
    """Check that with one baseline the map tends to IG from that baseline (a hand loop)."""
    net = cam_model(seed=4)
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)
    b = rng.uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)
    explanation = ExpectedGradients(net, num_samples=1500, background=b, random_state=0,
                                    batch_size=250).fit().explain(x, 2)
    reference = _integrated_gradients(net, x, b, 2)[0]
    error = np.abs(explanation.score_map - reference).max()
    assert error < 0.08 * np.abs(reference).max()
    assert np.corrcoef(explanation.score_map.ravel(), reference.ravel())[0, 1] > 0.995
    # Completeness in expectation: the map sums to f(x) - f(b).
    gap = explanation.score_map.sum() - (_pre_softmax(net, x) - _pre_softmax(net, b))[0, 2]
    assert abs(gap) < 0.05 * np.abs(reference).sum()


def test_several_baselines_average_integrated_gradients():
    """Check the map tends to the mean over the background of IG from each image."""
    net = cam_model(seed=6)
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)
    background = rng.uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    explanation = ExpectedGradients(net, num_samples=2000, background=background,
                                    random_state=3, batch_size=250).fit().explain(x, 1)
    reference = np.mean([_integrated_gradients(net, x, b[None], 1)[0] for b in background],
                        axis=0)
    assert np.corrcoef(explanation.score_map.ravel(), reference.ravel())[0, 1] > 0.99
    assert np.abs(explanation.score_map - reference).max() < 0.1 * np.abs(reference).max()


def test_draws_do_not_depend_on_batching_or_the_other_images():
    """Check a batch gives what each image alone gives, at any batch size, and seeds repeat."""
    net = cam_model(seed=8)
    rng = np.random.default_rng(9)
    X = rng.uniform(0, 1, (3, 16, 16, 3)).astype(np.float32)
    background = rng.uniform(0, 1, (4, 16, 16, 3)).astype(np.float32)

    def run(images, batch_size):
        return ExpectedGradients(net, num_samples=12, background=background, random_state=5,
                                 batch_size=batch_size).fit().explain(images, [0, 3]).maps

    together = run(X, 32)
    np.testing.assert_allclose(run(X, 5), together, rtol=1e-5, atol=1e-7)
    alone = np.concatenate([run(X[i:i + 1], 1) for i in range(3)])
    np.testing.assert_allclose(alone, together, rtol=1e-5, atol=1e-7)
    other = ExpectedGradients(net, num_samples=12, background=background,
                              random_state=6).fit().explain(X, [0, 3]).maps
    assert not np.allclose(other, together)


def test_the_one_liner_draws_from_the_images_explained(linear):
    """Check explain(net, X, method="expected_gradients") uses X as the background set."""
    x = np.random.default_rng(2).uniform(-1, 1, (1, 4, 4, 3)).astype(np.float32)
    explanation = explainkit.explain(linear, x, 0, method="expected_gradients", num_samples=3)
    np.testing.assert_allclose(explanation.score_map, 0.0, atol=1e-6)  # x - x = 0
    assert explanation.method == "expected_gradients"


def test_bad_input_is_a_clear_error(linear):
    with pytest.raises(ValueError, match="background set"):
        ExpectedGradients(linear).fit()
    with pytest.raises(ValueError, match="num_samples"):
        ExpectedGradients(linear, num_samples=0).fit(np.zeros((1, 4, 4, 3)))
    with pytest.raises(ValueError, match="background"):
        ExpectedGradients(linear, background=np.zeros((2, 5, 4, 3))).fit()
    with pytest.raises(TypeError, match="random_state"):
        ExpectedGradients(linear, random_state="x").fit(np.zeros((1, 4, 4, 3)))
