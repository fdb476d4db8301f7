"""Image formats: uint8, grayscale, any channel count; return_layers; numpy targets."""

import numpy as np
import pytest
from conftest import activations, cam_model

import explainkit
from explainkit import gradcam


def test_uint8_equals_float(cam_net):
    """Check uint8 images give the same maps as the same values in float."""
    x = np.random.default_rng(0).integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8)
    np.testing.assert_allclose(gradcam(cam_net, x, 1), gradcam(cam_net, x.astype(float), 1),
                               rtol=1e-6)


@pytest.mark.parametrize("channels", [1, 4, 13])
def test_any_channel_count(channels):
    """Check models with 1, 4 and 13 channels; (H, W) images for one channel."""
    net = cam_model(channels=channels, seed=channels)
    x = np.random.default_rng(1).uniform(size=(16, 16, channels))
    assert gradcam(net, x).shape == (16, 16)
    # CAM's identity on every channel count: the map is A . W_c / (h w) (all channels used).
    A = activations(net, "conv", x[None])[0]
    W = net.get_layer("fc").kernel.numpy()
    np.testing.assert_allclose(gradcam(net, x, 2, output_upsampling="none", relu=False),
                               A @ W[:, 2] / 256, rtol=1e-4, atol=1e-6)
    if channels == 1:
        np.testing.assert_allclose(gradcam(net, x[..., 0]), gradcam(net, x), rtol=1e-6)


def test_return_layers_and_explanation_fields(cam_net, images):
    """Check return_layers and what the Explanation reports."""
    score_map, feature, reduction = gradcam(cam_net, images[0], return_layers=True)
    assert (score_map.shape, feature, reduction) == ((16, 16), "conv", "fc")
    names = ["a", "b", "c", "d"]
    explanation = explainkit.explain(cam_net, images, ["b", 3], class_names=names,
                                     output_upsampling="nearest")
    np.testing.assert_array_equal(explanation.targets, [[1, 3]] * 5)
    np.testing.assert_array_equal(explanation.target_names, [["b", "d"]] * 5)
    assert explanation.params["output_upsampling"] == "nearest"
    assert explanation.task == "classification"
    np.testing.assert_array_equal(explanation.images, images)


def test_numpy_integer_targets(cam_net, images):
    """Check numpy scalars and 0-d arrays work as ints, and an (N, K) array with equal rows
    as the list of those K targets."""
    expected = explainkit.gradcam(cam_net, images, 2)
    for target in (np.int64(2), np.array(2)):
        np.testing.assert_array_equal(explainkit.gradcam(cam_net, images, target), expected)
    rows = np.tile([2, 0], (len(images), 1))
    np.testing.assert_array_equal(explainkit.gradcam(cam_net, images, rows),
                                  explainkit.gradcam(cam_net, images, [2, 0]))
