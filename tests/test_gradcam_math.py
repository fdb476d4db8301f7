"""Grad-CAM values checked against mathematics and hand-written references."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import activations, cam_model, pixel_classifier, seg_model

import explainkit
from explainkit import gradcam


def test_gradcam_equals_cam_up_to_positive_constant(cam_net, images):
    """Check Grad-CAM = CAM / (h w) on Conv -> GAP -> Dense (Zhou et al.'s CAM)."""
    A = activations(cam_net, "conv", images)
    W = cam_net.get_layer("fc").kernel.numpy()
    for c in range(4):
        cam = np.einsum("nhwk,k->nhw", A, W[:, c])
        got = gradcam(cam_net, images, c, output_upsampling="none", relu=False)
        np.testing.assert_allclose(got, cam / (16 * 16), rtol=1e-4, atol=1e-6)
        got_relu = gradcam(cam_net, images, c, output_upsampling="none")
        np.testing.assert_allclose(got_relu, np.maximum(cam, 0) / 256, rtol=1e-4, atol=1e-6)


def test_default_target_is_predicted_class(cam_net, images):
    """Check target=None explains each image's predicted class."""
    explanation = explainkit.explain(cam_net, images)
    predicted = cam_net.predict(images, verbose=0).argmax(axis=1)
    np.testing.assert_array_equal(explanation.targets[:, 0], predicted)
    pairs = zip(images, predicted, strict=True)
    expected = np.stack([gradcam(cam_net, im, int(c)) for im, c in pairs])
    np.testing.assert_allclose(explanation.score_map, expected, rtol=1e-5, atol=1e-7)


def test_scores_are_the_logits(cam_net, images):
    """Check the explained scores are the pre-softmax logits of the targets."""
    logits = activations(cam_net, "gap", images) @ cam_net.get_layer("fc").kernel.numpy()
    logits += cam_net.get_layer("fc").bias.numpy()
    explanation = explainkit.explain(cam_net, images, [1, 3])
    np.testing.assert_allclose(explanation.scores, logits[:, [1, 3]], rtol=1e-5, atol=1e-6)


def _reference_gradcam(head, A, index):
    """Plain Grad-CAM: tape on the activations, head = the rest of the model."""
    A = tf.constant(A)
    with tf.GradientTape() as tape:
        tape.watch(A)
        score = head(A)[:, index]
    alpha = tf.reduce_mean(tape.gradient(score, A), axis=(1, 2))
    return np.maximum(np.einsum("nhwk,nk->nhw", A.numpy(), alpha.numpy()), 0)


def test_flatten_head_matches_reference(images):
    """Check a Conv -> Flatten -> Dense model against a plain tape reference."""
    keras.utils.set_random_seed(1)
    net = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="conv"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, name="logits"),
        keras.layers.Softmax(),
    ])
    A = activations(net, "conv", images)
    dense = net.get_layer("logits")
    head = lambda a: dense(tf.reshape(a, (a.shape[0], -1)))  # noqa: E731
    got, feature, reduction = gradcam(net, images, 2, output_upsampling="none",
                                      return_layers=True)
    assert (feature, reduction) == ("conv", "logits")
    np.testing.assert_allclose(got, _reference_gradcam(head, A, 2), rtol=1e-4, atol=1e-6)


def test_reduction_layer_by_name_explains_probabilities(cam_net, images):
    """Check reduction_layer='fc' scores the softmax output itself (MATLAB's 'prob')."""
    A = activations(cam_net, "conv", images)
    fc = cam_net.get_layer("fc")
    head = lambda a: fc(tf.reduce_mean(a, axis=(1, 2)))  # noqa: E731
    got = gradcam(cam_net, images, 1, reduction_layer="fc", output_upsampling="none")
    np.testing.assert_allclose(got, _reference_gradcam(head, A, 1), rtol=1e-4, atol=1e-8)


def test_reduction_fn_replaces_target(cam_net, images):
    """Check reduction_fn gets the logits and its score is explained."""
    W = cam_net.get_layer("fc").kernel.numpy()
    A = activations(cam_net, "conv", images)
    got = gradcam(cam_net, images, reduction_fn=lambda z: z[:, 0] - z[:, 2],
                  output_upsampling="none", relu=False)
    expected = np.einsum("nhwk,k->nhw", A, W[:, 0] - W[:, 2]) / 256
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_regression_signed_map_and_default_output(images):
    """Check a linear-output model is regression, target None = output 0, signed maps."""
    net = cam_model(classes=2, activation=None, seed=3)
    A = activations(net, "conv", images)
    W = net.get_layer("fc").kernel.numpy()
    explanation = explainkit.explain(net, images, output_upsampling="none", relu=False)
    assert explanation.task == "regression"
    np.testing.assert_array_equal(explanation.targets, 0)
    expected = np.einsum("nhwk,k->nhw", A, W[:, 0]) / 256
    np.testing.assert_allclose(explanation.score_map, expected, rtol=1e-4, atol=1e-6)
    assert (explanation.score_map < 0).any()


@pytest.mark.parametrize("roi_kind", ["all", "mask", "predicted"])
def test_segmentation_gradcam_is_masked_logit_map(roi_kind, images):
    """Check a 1x1-conv head: map = mean(roi) * (A . W_c), the class logit minus its bias."""
    net = seg_model()
    x = np.random.default_rng(1).uniform(0, 1, size=(2, 12, 12, 3)).astype("float32")
    A = activations(net, "enc", x)
    W = net.get_layer("seg").kernel.numpy()[0, 0]
    b = net.get_layer("seg").bias.numpy()
    c = 1
    if roi_kind == "all":
        roi, mask = None, np.ones((2, 12, 12))
    elif roi_kind == "mask":
        roi = np.zeros((12, 12), dtype=bool)
        roi[2:7, 3:11] = True
        mask = np.broadcast_to(roi, (2, 12, 12))
    else:
        roi, mask = "predicted", ((A @ W + b).argmax(-1) == c)
    explanation = explainkit.explain(net, x, c, roi=roi, relu=False, output_upsampling="none")
    assert explanation.task == "segmentation"
    assert (explanation.feature_layer, explanation.reduction_layer) == ("enc", "seg")
    expected = mask.mean(axis=(1, 2))[:, None, None] * (A @ W[:, c])
    np.testing.assert_allclose(explanation.score_map, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(explanation.scores[:, 0],
                               ((A @ W[:, c] + b[c]) * mask).sum(axis=(1, 2)), rtol=1e-4)


def test_segmentation_default_target_is_majority_class():
    """Check target=None picks the class predicted at the most pixels (not class 0)."""
    net = pixel_classifier()
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 0.5, size=(3, 12, 12, 3)).astype("float32")
    for image, dominant in zip(x, (1, 2, 1), strict=True):
        image[rng.random((12, 12)) < 0.6, dominant] += 1.0  # brightest at ~60% of pixels
    majority = [np.bincount(p.ravel(), minlength=3).argmax() for p in x.argmax(-1)]
    assert majority == [1, 2, 1]
    explanation = explainkit.explain(net, x)
    np.testing.assert_array_equal(explanation.targets[:, 0], majority)


def test_encoder_decoder_segmentation_shapes():
    """Check a downsampling encoder-decoder: maps at input size, feature before the head."""
    keras.utils.set_random_seed(0)
    net = keras.Sequential([
        keras.Input((16, 20, 3)),
        keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="enc"),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="dec"),
        keras.layers.UpSampling2D(),
        keras.layers.Conv2D(4, 1, name="logits"),
        keras.layers.Activation("softmax"),
    ])
    x = np.random.default_rng(0).uniform(size=(2, 16, 20, 3)).astype("float32")
    score_map, feature, reduction = gradcam(net, x, [0, 3], roi="predicted", return_layers=True)
    assert (feature, reduction) == ("dec", "logits")
    assert score_map.shape == (2, 16, 20, 2)


def test_multiple_targets_equal_single_calls(cam_net, images):
    """Check a list of targets gives the same maps as one call per target."""
    both = gradcam(cam_net, images, [2, 0])
    np.testing.assert_allclose(both[..., 0], gradcam(cam_net, images, 2), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(both[..., 1], gradcam(cam_net, images, 0), rtol=1e-5, atol=1e-7)


def _coarse_net():
    """A model whose 4x4 feature map is a quarter of the 16x16 input."""
    keras.utils.set_random_seed(4)
    return keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(4, 4, strides=4, activation="relu", name="conv"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax"),
    ])


def test_nearest_upsampling_repeats_cells(images):
    """Check 'nearest' upsampling of a 4x4 feature map to 16x16 repeats each cell 4x4."""
    net = _coarse_net()
    small = gradcam(net, images, 1, output_upsampling="none")
    assert small.shape == (5, 4, 4)
    big = gradcam(net, images, 1, output_upsampling="nearest")
    np.testing.assert_allclose(big, np.repeat(np.repeat(small, 4, axis=1), 4, axis=2), rtol=1e-6)


def test_bicubic_upsampling_matches_matlab_imresize(images):
    """Check bicubic = Keys cubic (a=-0.5) with mirrored borders (imresize), clipped at 0."""
    net = _coarse_net()
    small = gradcam(net, images[:1], 1, output_upsampling="none", relu=False)[0]

    def keys(t):
        t = abs(t)
        return 1.5 * t**3 - 2.5 * t**2 + 1 if t <= 1 else (
            -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2 if t < 2 else 0.0)

    M = np.zeros((16, 4))
    for i in range(16):
        x = (i + 0.5) / 4 - 0.5  # half-pixel centres
        for tap in range(int(np.floor(x)) - 1, int(np.floor(x)) + 3):
            mirrored = -tap - 1 if tap < 0 else (7 - tap if tap > 3 else tap)
            M[i, mirrored] += keys(x - tap)
    expected = M @ small @ M.T
    got = gradcam(net, images[:1], 1, relu=False)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    # where no tap crosses a border, any Keys-cubic resizer agrees (TensorFlow's, here)
    tf_resized = tf.image.resize(small[None, ..., None], (16, 16), method="bicubic")[0, ..., 0]
    np.testing.assert_allclose(got[6:10, 6:10], np.asarray(tf_resized)[6:10, 6:10],
                               rtol=1e-4, atol=1e-6)
    clipped = gradcam(net, images[:1], 1)[0]
    assert clipped.min() >= 0
    np.testing.assert_allclose(clipped, np.maximum(M @ np.maximum(small, 0) @ M.T, 0),
                               rtol=1e-4, atol=1e-6)
