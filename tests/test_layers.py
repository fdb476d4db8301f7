"""Automatic and named layers on the models real users have."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import activations, cam_model

import explainkit
from explainkit import GradCAM, gradcam

APPS = keras.applications


@pytest.mark.parametrize(
    ("constructor", "size", "expected"),
    [
        (APPS.VGG16, 64, "block5_conv3"),
        (APPS.ResNet50, 64, "conv5_block3_out"),
        (APPS.MobileNetV2, 96, "out_relu"),
        (APPS.InceptionV3, 139, "mixed10"),
        (APPS.DenseNet121, 64, "relu"),
        (APPS.EfficientNetB0, 64, "top_activation"),
        (APPS.Xception, 96, "block14_sepconv2_act"),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_automatic_layers_on_applications(constructor, size, expected):
    """Check the automatic feature layer of keras.applications and the logits reduction."""
    net = constructor(weights=None, input_shape=(size, size, 3), classes=7)
    explainer = GradCAM(net).fit()
    assert explainer.feature_layer_ == expected
    assert explainer.reduction_layer_ == "predictions"
    assert explainer.task_ == "classification"


def _feeding_layer(net, consumer):
    """The layer whose output is ``consumer``'s input (read off the Keras graph)."""
    target = net.get_layer(consumer).input
    return next(layer.name for layer in net.layers if layer.output is target)


def test_mobilenetv3_unknown_input_size_needs_example_image():
    """Check MobileNetV3Small (None, None, 3): fit() says to pass an image, fit(X) works."""
    net = APPS.MobileNetV3Small(weights=None, input_shape=(None, None, 3), classes=5)
    with pytest.raises(ValueError, match=r"fit\(X\)"):
        GradCAM(net).fit()
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 96, 96, 3)).astype("float32")
    explainer = GradCAM(net).fit(x)
    gap = [layer.name for layer in net.layers
           if isinstance(layer, keras.layers.GlobalAveragePooling2D)][-1]  # the head's
    # the last activation before global pooling, not the 1x1 convs after it
    assert explainer.feature_layer_ == _feeding_layer(net, gap)
    assert explainer.reduction_layer_ == _feeding_layer(net, "predictions")
    maps = explainer.explain(x, 3).score_map
    assert maps.shape == (2, 96, 96)
    assert np.isfinite(maps).all() and maps.max() > 0


def _nested(kind, backbone, classes=5):
    head = [keras.layers.GlobalAveragePooling2D(name="pool"),
            keras.layers.Dense(classes, activation="softmax", name="head")]
    if kind == "sequential":
        return keras.Sequential([backbone, *head])
    inputs = keras.Input(backbone.inputs[0].shape[1:])
    x = backbone(inputs, training=False)
    for layer in head:
        x = layer(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_nested_mobilenetv2_automatic_layers(kind):
    """Check a MobileNetV2 nested in a transfer-learning model: out_relu and the head."""
    keras.utils.set_random_seed(0)
    backbone = APPS.MobileNetV2(include_top=False, weights=None, input_shape=(96, 96, 3))
    net = _nested(kind, backbone)
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 96, 96, 3)).astype("float32")
    maps, feature, reduction = gradcam(net, x, 1, return_layers=True)
    assert (feature, reduction) == ("out_relu", "head")
    assert maps.shape == (2, 96, 96)


def test_batch_normalization_runs_in_inference_mode():
    """Check the explained scores are the logits of the model in inference mode."""
    keras.utils.set_random_seed(0)
    backbone = APPS.MobileNetV2(include_top=False, weights=None, input_shape=(64, 64, 3))
    rng = np.random.default_rng(0)
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(size=layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2, size=layer.moving_variance.shape))
    net = _nested("functional", backbone)
    x = rng.uniform(-1, 1, size=(3, 64, 64, 3)).astype("float32")
    head = net.get_layer("head")
    features = backbone.predict(x, verbose=0).mean(axis=(1, 2))
    logits = features @ head.kernel.numpy() + head.bias.numpy()
    explanation = explainkit.explain(net, x, [0, 4])
    np.testing.assert_allclose(explanation.scores, logits[:, [0, 4]], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("kind", ["sequential", "functional"])
@pytest.mark.parametrize("name", ["block5_conv3", "vgg16/block5_conv3"])
def test_named_layer_inside_nested_vgg16_matches_reference(kind, name):
    """Check naming block5_conv3 inside a nested VGG16 against a two-stage tape reference."""
    keras.utils.set_random_seed(0)
    vgg = APPS.VGG16(include_top=False, weights=None, input_shape=(48, 48, 3))
    net = _nested(kind, vgg)
    x = np.random.default_rng(1).uniform(0, 1, size=(2, 48, 48, 3)).astype("float32")
    inner = keras.Model(vgg.inputs[0], [vgg.get_layer("block5_conv3").output, vgg.outputs[0]])
    dense = net.get_layer("head")
    A, out = inner(x)
    block5_pool = vgg.get_layer("block5_pool")
    with tf.GradientTape() as tape:
        tape.watch(A)
        logits = tf.reduce_mean(block5_pool(A), axis=(1, 2)) @ dense.kernel + dense.bias
        score = logits[:, 3]
    alpha = tf.reduce_mean(tape.gradient(score, A), axis=(1, 2)).numpy()
    expected = np.maximum(np.einsum("nhwk,nk->nhw", A.numpy(), alpha), 0)
    got, feature, _ = gradcam(net, x, 3, feature_layer=name, output_upsampling="none",
                              return_layers=True)
    assert feature == "block5_conv3"
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * expected.max())


def test_loaded_model_matches_cam(tmp_path, images):
    """Check a Sequential model saved to .keras and loaded back (CAM identity)."""
    path = tmp_path / "m.keras"
    cam_model().save(path)
    net = keras.models.load_model(path)
    A = activations(net, "conv", images)
    W = net.get_layer("fc").kernel.numpy()
    got, feature, reduction = gradcam(net, images, 2, output_upsampling="none", relu=False,
                                      return_layers=True)
    assert (feature, reduction) == ("conv", "fc")
    np.testing.assert_allclose(got, np.einsum("nhwk,k->nhw", A, W[:, 2]) / 256, rtol=1e-4,
                               atol=1e-6)


def test_loaded_nested_model(tmp_path):
    """Check a transfer-learning model with a nested backbone after save/load."""
    backbone = APPS.MobileNetV2(include_top=False, weights=None, input_shape=(64, 64, 3))
    path = tmp_path / "nested.keras"
    _nested("functional", backbone).save(path)
    net = keras.models.load_model(path)
    x = np.random.default_rng(0).uniform(-1, 1, size=(64, 64, 3)).astype("float32")
    maps, feature, reduction = gradcam(net, x, return_layers=True)
    assert (feature, reduction) == ("out_relu", "head")
    assert maps.shape == (64, 64)


def test_never_called_sequential(images):
    """Check a Sequential model without Input that was never called."""
    keras.utils.set_random_seed(0)
    net = keras.Sequential([
        keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(4, activation="softmax", name="fc"),
    ])
    with pytest.raises(ValueError, match=r"fit\(X\)"):
        GradCAM(net).fit()
    got = gradcam(net, images, 1, output_upsampling="none", relu=False)
    A = activations(net, "conv", images)
    W = net.get_layer("fc").kernel.numpy()
    np.testing.assert_allclose(got, np.einsum("nhwk,k->nhw", A, W[:, 1]) / 256, rtol=1e-4,
                               atol=1e-6)


def test_separate_activation_layer_and_sigmoid():
    """Check Dense -> Activation('sigmoid'): the Dense is the reduction layer."""
    keras.utils.set_random_seed(0)
    net = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(1, name="logit"),
        keras.layers.Activation("sigmoid"),
    ])
    explanation = explainkit.explain(net, np.ones((16, 16, 3)))
    assert explanation.reduction_layer == "logit"
    assert explanation.task == "classification"


def test_frozen_model_still_gets_gradients(images):
    """Check a model with trainable=False everywhere still yields the CAM map."""
    net = cam_model(seed=5)
    net.trainable = False
    A = activations(net, "conv", images)
    W = net.get_layer("fc").kernel.numpy()
    got = gradcam(net, images, 0, output_upsampling="none", relu=False)
    np.testing.assert_allclose(got, np.einsum("nhwk,k->nhw", A, W[:, 0]) / 256, rtol=1e-4,
                               atol=1e-6)
