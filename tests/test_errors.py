"""Bad input gets a clear error naming the argument and the value; nothing is modified."""

import keras
import numpy as np
import pytest
from conftest import cam_model, seg_model
from sklearn.exceptions import NotFittedError

import explainkit
from explainkit import GradCAM, gradcam


@pytest.mark.parametrize(
    ("X", "error", "match"),
    [
        (np.zeros((2, 2, 16, 16, 3)), ValueError, r"shape \(2, 2, 16, 16, 3\)"),
        (np.zeros(16), ValueError, r"got an array of shape \(16,\)"),
        (np.zeros((16, 16, 4)), ValueError, "4 channels"),
        (np.zeros((3, 20, 16, 3)), ValueError, r"spatial size \(20, 16\).*expects \(16, 16\)"),
        (np.zeros((16, 16)), ValueError, "expects 3 channels"),
        (np.full((16, 16, 3), np.nan), ValueError, "NaN or Inf"),
        (np.full((16, 16, 3), np.inf), ValueError, "NaN or Inf"),
        (np.array([["a"]]), TypeError, "numbers"),
        ("image.png", TypeError, "image array"),
    ],
)
def test_bad_images(cam_net, X, error, match):
    """Check wrong rank, channel count, NaN/Inf and non-numeric images are refused."""
    with pytest.raises(error, match=match):
        gradcam(cam_net, X)


@pytest.mark.parametrize(
    ("target", "options", "error", "match"),
    [
        (4, {}, ValueError, r"target 4 is out of range.*4 outputs.*0\.\.3"),
        (-1, {}, ValueError, "target -1 is out of range"),
        ([0, 9], {}, ValueError, "target 9 is out of range"),
        ("dgo", {"class_names": ["cat", "dog", "cow", "pig"]}, ValueError, "did you mean 'dog'"),
        ("dog", {}, ValueError, "no class_names"),
        (1.5, {}, TypeError, "got 1.5"),
        (True, {}, TypeError, "got True"),
        (None, {"class_names": ["a", "b"]}, ValueError, "2 names but the model has 4"),
        ([], {}, ValueError, "empty"),
    ],
)
def test_bad_targets(cam_net, images, target, options, error, match):
    """Check out-of-range, unknown and ill-typed targets are refused."""
    with pytest.raises(error, match=match):
        gradcam(cam_net, images, target, **options)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"feature_layer": "covn"}, ValueError,
         r"feature_layer 'covn' not found; did you mean 'conv'"),
        ({"reduction_layer": "fcc"}, ValueError, r"reduction_layer 'fcc' not found.*'fc'"),
        ({"feature_layer": "gap"}, ValueError, r"feature_layer 'gap' has output shape \(None, 6\)"),
        ({"feature_layer": "fc"}, ValueError, "spatial output"),
        ({"feature_layer": 3}, TypeError, "feature_layer must be"),
        ({"output_upsampling": "bilinear"}, ValueError,
         r"'output_upsampling' parameter must be one of 'bicubic', 'nearest', 'none'\. "
         r"Got 'bilinear'"),
        ({"batch_size": 0}, ValueError, r"'batch_size' parameter must be an int in the range "
                                        r"\[1, inf\)\. Got 0"),
        ({"batch_size": 2.0}, TypeError, "'batch_size' parameter must be an int"),
        ({"relu": "yes"}, TypeError, "relu must be True or False"),
        ({"task": "clustering"}, ValueError, "'task' parameter must be one of"),
        ({"task": "segmentation"}, ValueError, "does not fit the reduction layer"),
        ({"reduction_fn": "sum"}, TypeError, "reduction_fn must be callable"),
        ({"roi": np.ones((16, 16), bool)}, ValueError, "roi applies to segmentation models"),
    ],
)
def test_bad_options(cam_net, images, options, error, match):
    """Check unknown layers, non-spatial layers and bad option values are refused."""
    with pytest.raises(error, match=match):
        gradcam(cam_net, images, **options)


def test_reduction_fn_with_target_or_bad_output(cam_net, images):
    """Check reduction_fn cannot be combined with target and must return (n,)."""
    with pytest.raises(ValueError, match="reduction_fn replaces target"):
        gradcam(cam_net, images, 1, reduction_fn=lambda z: z[:, 0])
    with pytest.raises(ValueError, match=r"one score per sample, shape \(n,\)"):
        gradcam(cam_net, images, reduction_fn=lambda z: z)


@pytest.mark.parametrize(
    ("roi", "error", "match"),
    [
        (np.ones((10, 12), bool), ValueError, r"spatial shape \(12, 12\).*got shape \(10, 12\)"),
        (np.ones((12, 12)), TypeError, "boolean mask"),
        ("everything", ValueError, "'predicted'"),
    ],
)
def test_bad_roi(roi, error, match):
    """Check an roi of the wrong shape, type or name is refused."""
    with pytest.raises(error, match=match):
        gradcam(seg_model(), np.zeros((12, 12, 3)), 1, roi=roi)


def test_model_without_spatial_layer():
    """Check an MLP on images has no feature map to explain."""
    net = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Flatten(),
        keras.layers.Dense(4, activation="softmax"),
    ])
    with pytest.raises(ValueError, match="no layer with a spatial output"):
        gradcam(net, np.zeros((8, 8, 3)))


def test_not_a_keras_model():
    """Check a non-Keras net gets a TypeError naming what was received."""
    with pytest.raises(TypeError, match="net must be a Keras 3 model.*got function"):
        gradcam(lambda x: x, np.zeros((8, 8, 3)))


def test_explain_before_fit(cam_net, images):
    """Check explain() before fit() raises NotFittedError saying what to call."""
    with pytest.raises(NotFittedError, match=r"call fit\(\) before explain\(\)"):
        GradCAM(cam_net).explain(images)


def test_unknown_method_and_option(cam_net, images):
    """Check explain() refuses unknown methods and options by name."""
    with pytest.raises(ValueError, match=r"Unknown method 'gradcam\+'; choose one of .*'scorecam'"):
        explainkit.explain(cam_net, images, method="gradcam+")
    with pytest.raises(TypeError, match="unknown option\\(s\\) 'mask_size'"):
        explainkit.explain(cam_net, images, mask_size=3)


def _state(net):
    return ([w.copy() for w in net.get_weights()],
            [(layer.name, layer.trainable) for layer in net.layers], net.trainable)


def test_nothing_is_modified(images):
    """Check the caller's images, the weights, trainable flags and layers are unchanged."""
    net = cam_model(seed=7)
    net.get_layer("conv").trainable = False
    layers_before = list(net.layers)
    weights, flags, trainable = _state(net)
    x = (images * 255).astype(np.uint8)
    x_before = x.copy()
    gradcam(net, x, [0, 1])
    explainkit.explain(net, x, reduction_layer="fc", relu=False)
    new_weights, new_flags, new_trainable = _state(net)
    np.testing.assert_array_equal(x, x_before)
    for before, after in zip(weights, new_weights, strict=True):
        np.testing.assert_array_equal(before, after)
    assert new_flags == flags and new_trainable == trainable
    assert list(net.layers) == layers_before
    assert net.get_layer("fc").activation is keras.activations.softmax
