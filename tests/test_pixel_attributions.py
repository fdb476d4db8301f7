"""Pixel attributions against mathematics and hand-written tapes."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import cam_model, seg_model, subclassed_copy

import explainkit


@pytest.fixture(scope="module")
def linear():
    """Dense on the flattened pixels, no activation: d output_k / d x = w[:, k] exactly."""
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(2, name="fc")])


@pytest.fixture
def X():
    return np.random.default_rng(0).uniform(-1, 1, (3, 4, 4, 3)).astype(np.float32)


def test_saliency_and_gradient_input_of_a_linear_model(linear, X):
    """Check saliency = |w| and gradient x input = w * x, exactly, for each output."""
    kernel = linear.get_layer("fc").get_weights()[0].reshape(4, 4, 3, 2)
    explanation = explainkit.Saliency(linear, channel_reduction=None).fit().explain(X, [0, 1])
    np.testing.assert_allclose(explanation.attributions,
                               np.broadcast_to(np.abs(kernel), (3, 4, 4, 3, 2)), rtol=1e-6)
    maximum = explainkit.Saliency(linear).fit().explain(X, [0, 1])
    np.testing.assert_allclose(maximum.maps, np.broadcast_to(np.abs(kernel).max(axis=2),
                                                             (3, 4, 4, 2)), rtol=1e-6)
    assert maximum.attributions is None
    l2 = explainkit.Saliency(linear, channel_reduction="l2").fit().explain(X, 1)
    np.testing.assert_allclose(l2.score_map, np.broadcast_to(
        np.sqrt((kernel[..., 1] ** 2).sum(axis=2)), (3, 4, 4)), rtol=1e-6)
    product = explainkit.GradientInput(linear).fit().explain(X, 1)
    np.testing.assert_allclose(product.score_map, (X * kernel[..., 1]).sum(axis=-1),
                               rtol=1e-5, atol=1e-6)
    assert product.task == "regression"


def test_smoothgrad_without_noise_is_saliency(X):
    """Check SmoothGrad with noise_level=0 equals saliency, and noise changes it."""
    net = cam_model(seed=2, size=4)
    saliency = explainkit.Saliency(net).fit().explain(X, [0, 3]).maps
    quiet = explainkit.SmoothGrad(net, noise_level=0.0, num_samples=3).fit().explain(X, [0, 3])
    np.testing.assert_allclose(quiet.maps, saliency, rtol=1e-5, atol=1e-7)
    noisy = explainkit.SmoothGrad(net, num_samples=3, random_state=0).fit().explain(X, [0, 3])
    assert not np.allclose(noisy.maps, saliency)
    square = explainkit.SmoothGrad(net, noise_level=0.0, num_samples=2, squared=True,
                                   channel_reduction=None).fit().explain(X, 0)
    gradient = explainkit.Saliency(net, channel_reduction=None).fit().explain(X, 0)
    np.testing.assert_allclose(square.attributions, gradient.attributions ** 2, rtol=1e-5,
                               atol=1e-9)


def _midpoint_ig(net, x, baseline, target, steps):
    """Integrated Gradients by a plain loop over path points with tf.GradientTape."""
    total = np.zeros_like(x)
    for i in range(1, steps + 1):
        point = tf.convert_to_tensor(baseline + (i - 0.5) / steps * (x - baseline))
        with tf.GradientTape() as tape:
            tape.watch(point)
            score = _pre_softmax(net, point)[:, target]
        total += tape.gradient(score, point).numpy()
    return ((x - baseline) * total / steps).sum(axis=-1)


def _pre_softmax(net, x):
    dense = net.get_layer("fc")
    features = keras.Model(net.inputs[0], net.get_layer("gap").output)(x)
    return tf.matmul(features, dense.kernel) + dense.bias


def test_integrated_gradients_equals_a_midpoint_loop_and_is_complete():
    """Check IG equals a hand-written midpoint loop, and completeness at 200 steps."""
    net = cam_model(seed=4)
    x = np.random.default_rng(5).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    explanation = explainkit.IntegratedGradients(net, steps=20).fit().explain(x, 2)
    np.testing.assert_allclose(explanation.score_map,
                               _midpoint_ig(net, x, np.zeros_like(x), 2, 20), rtol=1e-4,
                               atol=1e-6)
    exact = explainkit.IntegratedGradients(net, steps=200).fit().explain(x, 2)
    logit_x = _pre_softmax(net, x).numpy()[:, 2]
    logit_0 = _pre_softmax(net, np.zeros_like(x)).numpy()[:, 2]
    np.testing.assert_allclose(exact.maps.sum(axis=(1, 2, 3)), logit_x - logit_0, rtol=0.01)
    np.testing.assert_allclose(exact.completeness_gap[:, 0],
                               exact.maps.sum(axis=(1, 2, 3)) - (logit_x - logit_0),
                               rtol=1e-3, atol=1e-5)
    assert np.abs(exact.completeness_gap).max() <= 0.01 * np.abs(logit_x - logit_0).max()
    np.testing.assert_allclose(exact.scores[:, 0], logit_x, rtol=1e-5)


def test_integrated_gradients_baselines():
    """Check the "mean" and "blur" baselines and an image baseline start the path there."""
    net = cam_model(seed=4)
    x = np.random.default_rng(6).uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True) * np.ones_like(x)
    by_name = explainkit.IntegratedGradients(net, steps=8, baseline="mean").fit().explain(x, 1)
    by_image = explainkit.IntegratedGradients(net, steps=8, baseline=mean[0]).fit().explain(x, 1)
    np.testing.assert_allclose(by_name.maps, by_image.maps, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(by_name.score_map, _midpoint_ig(net, x, mean, 1, 8),
                               rtol=1e-4, atol=1e-6)
    blurred = explainkit.IntegratedGradients(net, steps=8, baseline="blur").fit().explain(x, 1)
    assert np.isfinite(blurred.maps).all() and not np.allclose(blurred.maps, by_name.maps)
    with pytest.raises(ValueError, match="'baseline'"):
        explainkit.IntegratedGradients(net, baseline="noise").fit()


def two_relu_model():
    """A fused ReLU (Conv2D activation) and a separate ReLU layer, then logits."""
    keras.utils.set_random_seed(8)
    return keras.Sequential([
        keras.Input((8, 8, 2)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
        keras.layers.Conv2D(4, 3, padding="same", name="c2"),
        keras.layers.ReLU(name="r2"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, name="fc"),
    ])  # fmt: skip


@tf.custom_gradient
def _guided_relu(z):
    def grad(dy):
        return dy * tf.cast(z > 0, dy.dtype) * tf.cast(dy > 0, dy.dtype)

    return tf.nn.relu(z), grad


def _guided_reference(net, x, target):
    """The guided gradient by a hand-written tape through the model's own weights."""
    c1, c2, fc = (net.get_layer(n) for n in ("c1", "c2", "fc"))
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z1 = tf.nn.conv2d(x, c1.kernel, 1, "SAME") + c1.bias
        z2 = tf.nn.conv2d(_guided_relu(z1), c2.kernel, 1, "SAME") + c2.bias
        flat = tf.reshape(_guided_relu(z2), (x.shape[0], -1))
        score = (tf.matmul(flat, fc.kernel) + fc.bias)[:, target]
    return tape.gradient(score, x).numpy()


@pytest.mark.parametrize("kind", ["sequential", "subclassed"])
def test_guided_backprop_equals_a_hand_written_tape(kind):
    """Check guided backpropagation through fused and separate ReLUs, and that the model
    is left as it was."""
    net = two_relu_model()
    model = net if kind == "sequential" else subclassed_copy(net)
    x = np.random.default_rng(9).normal(size=(2, 8, 8, 2)).astype(np.float32)
    activations = [getattr(layer, "activation", None) for layer in net.layers]
    weights = [w.copy() for w in net.get_weights()]
    guided = explainkit.GuidedBackprop(model, channel_reduction=None, task="classification")
    explanation = guided.fit(x).explain(x, 1)
    reference = _guided_reference(net, x, 1)
    np.testing.assert_allclose(explanation.attributions[..., 0], reference, rtol=1e-4,
                               atol=1e-6)
    plain = explainkit.Saliency(model, channel_reduction=None, task="classification")
    assert not np.allclose(plain.fit(x).explain(x, 1).attributions[..., 0],
                           np.abs(reference), atol=1e-6)  # guidance changed the gradient
    assert [getattr(layer, "activation", None) for layer in net.layers] == activations
    assert all(np.array_equal(a, b) for a, b in zip(net.get_weights(), weights, strict=True))
    assert not any("call" in vars(layer) for layer in net.layers)


def test_guided_gradcam_is_guided_backprop_times_gradcam():
    """Check Guided Grad-CAM = guided backpropagation x the upsampled Grad-CAM map."""
    net = cam_model(seed=12)
    x = np.random.default_rng(3).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    got = explainkit.GuidedGradCAM(net).fit().explain(x, [0, 2])
    cam = explainkit.GradCAM(net).fit().explain(x, [0, 2])
    guided = explainkit.GuidedBackprop(net).fit().explain(x, [0, 2])
    np.testing.assert_allclose(got.maps, cam.maps * guided.maps, rtol=1e-5, atol=1e-8)
    np.testing.assert_array_equal(got.targets, cam.targets)
    assert got.method == "guided_gradcam" and got.feature_layer == "conv"


@pytest.mark.parametrize("name", ["saliency", "gradient_input", "smoothgrad",
                                  "integrated_gradients", "guided_backprop", "guided_gradcam"])
def test_segmentation_with_roi(name):
    """Check every pixel method explains a segmentation class over an roi."""
    net = seg_model(seed=3)
    x = np.random.default_rng(4).uniform(0, 1, (2, 12, 12, 3)).astype(np.float32)
    roi = np.zeros((12, 12), bool)
    roi[2:6, 2:6] = True
    options = {"smoothgrad": {"num_samples": 4, "random_state": 0},
               "integrated_gradients": {"steps": 4}}.get(name, {})
    explanation = explainkit.explain(net, x, [0, 2], method=name, roi=roi, **options)
    assert explanation.task == "segmentation"
    assert explanation.maps.shape == (2, 12, 12, 2)
    assert np.isfinite(explanation.maps).all() and np.abs(explanation.maps).max() > 0
    whole = explainkit.explain(net, x, [0, 2], method=name, **options)
    assert not np.allclose(whole.maps, explanation.maps)


def test_bad_options_are_clear_errors(linear):
    """Check the options' errors name them."""
    with pytest.raises(ValueError, match="'channel_reduction'"):
        explainkit.Saliency(linear, channel_reduction="mean").fit()
    with pytest.raises(ValueError, match="noise_level"):
        explainkit.SmoothGrad(linear, noise_level=-1).fit()
    with pytest.raises(ValueError, match="steps"):
        explainkit.IntegratedGradients(linear, steps=0).fit()
    with pytest.raises(TypeError, match="random_state"):
        explainkit.SmoothGrad(linear, random_state="seed").fit()
    with pytest.raises(TypeError, match="net must be a Keras 3 model"):
        explainkit.Saliency(lambda x: x).fit()


@pytest.mark.parametrize("name", ["IntegratedGradients", "SmoothGrad"])
def test_given_targets_need_no_separate_forward_pass(name, monkeypatch):
    """Check given classes score the unchanged image (and IG's baseline) in the copies'
    gradient calls: no other model call, and the same scores and maps as when the class
    is predicted."""
    net = cam_model(seed=4)
    x = np.random.default_rng(7).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    options = {"steps": 5} if name == "IntegratedGradients" else {"num_samples": 5,
                                                             "random_state": 0}
    predicted = getattr(explainkit, name)(net, batch_size=4, **options).fit().explain(x)
    method = getattr(explainkit, name)(net, batch_size=4, **options).fit()
    calls, extras = [], []
    gradient_function = method._adapter.input_gradient_function

    def counted(*args, **kwargs):
        function = gradient_function(*args, **kwargs)

        def run(batch, *rest):
            calls.append(len(batch))
            if len(rest) > 2:  # the scored variant's second, forward-only batch
                extras.append(len(rest[2]))
            return function(batch, *rest)
        return run

    def forbidden(*args, **kwargs):
        raise AssertionError("a separate forward pass")

    monkeypatch.setattr(method._adapter, "input_gradient_function", counted)
    monkeypatch.setattr(method._adapter, "forward_function", forbidden)
    given = method.explain(x, predicted.targets[:, 0])
    assert calls == [4, 4, 2]
    assert extras == ([4] if name == "IntegratedGradients" else [2])
    logits = _pre_softmax(net, x).numpy()[np.arange(2), predicted.targets[:, 0]]
    np.testing.assert_allclose(given.scores[:, 0], logits, rtol=1e-5)
    np.testing.assert_allclose(predicted.scores[:, 0], logits, rtol=1e-5)
    np.testing.assert_allclose(given.maps, predicted.maps, rtol=1e-4, atol=1e-7)
    if name == "IntegratedGradients":
        np.testing.assert_allclose(given.completeness_gap, predicted.completeness_gap,
                                   rtol=1e-4, atol=1e-6)


def test_more_extra_scores_than_gradient_calls():
    """Check IG with one step and batches of one (four extra scores, two gradient calls):
    the scores are the logits and the gap is sum(map) - (f(x) - f(0))."""
    net = cam_model(seed=4)
    x = np.random.default_rng(8).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    explanation = explainkit.IntegratedGradients(net, steps=1, batch_size=1).fit().explain(
        x, [1, 2])
    logits = _pre_softmax(net, x).numpy()[:, [1, 2]]
    zero = _pre_softmax(net, np.zeros_like(x)).numpy()[:, [1, 2]]
    np.testing.assert_allclose(explanation.scores, logits, rtol=1e-5)
    np.testing.assert_allclose(explanation.completeness_gap,
                               explanation.maps.sum(axis=(1, 2)) - (logits - zero),
                               rtol=1e-3, atol=1e-5)
