"""explainkit.matlab: the MATLAB-named wrappers give the Python functions' exact results."""

import numpy as np
import pytest
from conftest import cam_model
from keras import ops

import explainkit
from explainkit import gradcam, image_lime, occlusion_sensitivity
from explainkit.matlab import _target, gradCAM, imageLIME, occlusionSensitivity

NAMES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def net():
    return cam_model(size=16, classes=4, filters=6)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).uniform(0, 1, size=(16, 16, 3)).astype("float32")


@pytest.fixture(scope="module")
def batch():
    return np.random.default_rng(1).uniform(0, 1, size=(2, 16, 16, 3)).astype("float32")


def test_module_surface():
    """Check the public names, and that the package namespace does not export them."""
    import explainkit.matlab as matlab

    assert matlab.__all__ == ["gradCAM", "occlusionSensitivity", "imageLIME", "drise"]
    assert not hasattr(explainkit, "gradCAM")


# --- labels ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "target"),
    [
        (None, None),
        (1, 0),
        (4, 3),
        (np.int64(2), 1),
        (np.array(3), 2),
        ("b", "b"),
        (np.str_("c"), "c"),
        ([1, 3], [0, 2]),
        ((2,), [1]),
        (["a", 2], ["a", 1]),
    ],
)
def test_labels_are_one_based(label, target):
    """Check int labels lose 1 (elementwise in lists) and names pass unchanged."""
    got = _target(label)
    assert got == target
    if isinstance(got, list):
        assert all(type(item) in (int, str) for item in got)


@pytest.mark.parametrize(
    ("label", "target"),
    [
        (np.array([1, 2, 4]), [0, 1, 3]),
        (np.array([[1, 2], [4, 3]]), [[0, 1], [3, 2]]),
        (np.array(["a", "d"]), ["a", "d"]),
    ],
)
def test_label_arrays_stay_per_image(label, target):
    """Check a numpy label array stays an array of the same shape (one row per image),
    1-based ints made 0-based."""
    got = _target(label)
    assert isinstance(got, np.ndarray) and got.shape == label.shape
    assert got.tolist() == target


@pytest.mark.parametrize("label", [0, -1, [1, 0], np.array([2, -3]), np.int32(0)])
def test_zero_and_negative_labels_are_refused(label, net, image):
    """Check 0 and negative labels raise a ValueError saying labels count from 1."""
    for call in (gradCAM, occlusionSensitivity, imageLIME):
        with pytest.raises(ValueError, match="counts labels from 1"):
            call(net, image, label)


@pytest.mark.parametrize("label", [True, 1.0, [1, 2.5], object()])
def test_labels_of_other_types_are_refused(label):
    """Check bools, floats and other objects raise a TypeError naming the accepted types."""
    with pytest.raises(TypeError, match="1-based index"):
        _target(label)


def test_label_past_the_last_class_says_indices_are_one_based(net, image):
    """Check label 5 of 4 classes raises explainkit's range error with the 1-based note."""
    with pytest.raises(ValueError, match=r"out of range.*explainkit\.matlab counts labels"):
        gradCAM(net, image, 5)
    with pytest.raises(ValueError, match=r"out of range.*explainkit\.matlab counts labels"):
        occlusionSensitivity(net, image, 5, MaskSize=8, Stride=8)


def test_unknown_option_is_a_type_error(net, image):
    """Check a MATLAB option these wrappers lack raises TypeError."""
    with pytest.raises(TypeError, match="ExecutionEnvironment"):
        gradCAM(net, image, 1, ExecutionEnvironment="cpu")
    with pytest.raises(TypeError, match="mask_size"):
        occlusionSensitivity(net, image, 1, mask_size=4)  # Python names are not accepted


# --- gradCAM --------------------------------------------------------------------------------


def test_gradcam_returns_map_and_layer_names_like_gradcam(net, image):
    """Check gradCAM = gradcam(return_layers=True) with label 2 = target 1 and every option."""
    got = gradCAM(net, image, 2, FeatureLayer="conv", ReductionLayer="fc",
                  OutputUpsampling="nearest", MiniBatchSize=1)
    expected = gradcam(net, image, 1, feature_layer="conv", reduction_layer="fc",
                       output_upsampling="nearest", batch_size=1, return_layers=True)
    assert isinstance(got, tuple) and len(got) == 3
    np.testing.assert_array_equal(got[0], expected[0])
    assert got[1:] == expected[1:] == ("conv", "fc")


def test_gradcam_defaults_and_label_list(net, batch):
    """Check the default options and a list of 1-based labels on a batch."""
    score_map, feature_layer, reduction_layer = gradCAM(net, batch, [1, 4])
    expected = gradcam(net, batch, [0, 3])
    assert score_map.shape == (2, 16, 16, 2)
    np.testing.assert_array_equal(score_map, expected)
    assert (feature_layer, reduction_layer) == ("conv", "fc")


def test_gradcam_class_name_labels(net, image):
    """Check a class name (with ClassNames) gives the map of that class's index."""
    score_map = gradCAM(net, image, "c", ClassNames=NAMES)[0]
    np.testing.assert_array_equal(score_map, gradcam(net, image, 2))
    np.testing.assert_array_equal(score_map, gradCAM(net, image, 3)[0])
    with pytest.raises(ValueError, match="class_names"):
        gradCAM(net, image, "c")


def test_gradcam_reduction_fcn(net, image):
    """Check ReductionFcn (keyword or MATLAB's positional form) = gradcam's reduction_fn."""

    def reduction(outputs):
        return ops.sum(outputs[:, 1:3], axis=1)

    expected = gradcam(net, image, reduction_fn=reduction, return_layers=True)
    for got in (gradCAM(net, image, None, ReductionFcn=reduction), gradCAM(net, image, reduction)):
        np.testing.assert_array_equal(got[0], expected[0])
        assert got[1:] == expected[1:]
    with pytest.raises(ValueError, match="ReductionFcn replaces label"):
        gradCAM(net, image, 1, ReductionFcn=reduction)
    with pytest.raises(ValueError, match="once"):
        gradCAM(net, image, reduction, ReductionFcn=reduction)


# --- occlusionSensitivity -------------------------------------------------------------------


def test_occlusion_matches_occlusion_sensitivity(net, image):
    """Check every option maps to its Python parameter and label 3 = target 2."""
    got = occlusionSensitivity(net, image, 3, MaskSize=(4, 6), Stride=3, MaskValue=0.5,
                               OutputUpsampling="nearest", MaskClipping="off", MiniBatchSize=5)
    expected = occlusion_sensitivity(net, image, 2, mask_size=(4, 6), stride=3, mask_value=0.5,
                                     output_upsampling="nearest", mask_clipping=False,
                                     batch_size=5)
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, expected)


def test_occlusion_defaults_labels_and_class_names(net, batch):
    """Check the defaults, a list of labels and class names on a batch."""
    expected = occlusion_sensitivity(net, batch, [0, 3])
    np.testing.assert_array_equal(occlusionSensitivity(net, batch, [1, 4]), expected)
    np.testing.assert_array_equal(
        occlusionSensitivity(net, batch, ["a", "d"], ClassNames=NAMES), expected
    )


@pytest.mark.parametrize(
    ("value", "clipping"),
    [("on", True), ("off", False), ("On", True), ("OFF", False), (True, True),
     (False, False), (np.bool_(False), False)],
)
def test_mask_clipping_on_off(net, image, value, clipping):
    """Check MaskClipping "on"/"off" (any case) and booleans give mask_clipping True/False."""
    options = {"MaskSize": 5, "Stride": 4, "OutputUpsampling": "none"}
    got = occlusionSensitivity(net, image, 1, MaskClipping=value, **options)
    expected = occlusion_sensitivity(net, image, 0, mask_size=5, stride=4,
                                     output_upsampling="none", mask_clipping=clipping)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("value", ["yes", "", 1, None, "onn"])
def test_mask_clipping_bad_value(net, image, value):
    """Check any other MaskClipping raises a ValueError naming MaskClipping and the value."""
    with pytest.raises(ValueError, match=rf"MaskClipping.*{value!r}"):
        occlusionSensitivity(net, image, 1, MaskClipping=value)


@pytest.mark.parametrize("channel", [1, 6, np.int64(3)])
def test_occlusion_layer_channel_is_one_based(net, image, channel):
    """Check occlusionSensitivity(net, X, layer, channel) = layer=..., channel=channel - 1."""
    got = occlusionSensitivity(net, image, "conv", channel, MaskSize=4, Stride=4)
    expected = occlusion_sensitivity(net, image, layer="conv", channel=int(channel) - 1,
                                     mask_size=4, stride=4)
    np.testing.assert_array_equal(got, expected)


def test_occlusion_layer_channel_errors(net, image):
    """Check bad channels and a non-name layer argument are refused with clear errors."""
    with pytest.raises(ValueError, match="counts channels from 1"):
        occlusionSensitivity(net, image, "conv", 0)
    with pytest.raises(ValueError, match=r"out of range.*counts labels and channels from 1"):
        occlusionSensitivity(net, image, "conv", 7)  # the layer has 6 channels
    with pytest.raises(TypeError, match="1-based int"):
        occlusionSensitivity(net, image, "conv", 1.0)
    with pytest.raises(TypeError, match="1-based int"):
        occlusionSensitivity(net, image, "conv", True)
    with pytest.raises(TypeError, match="layer's name"):
        occlusionSensitivity(net, image, 1, 1)
    with pytest.raises(ValueError, match="not found"):
        occlusionSensitivity(net, image, "nope", 1)


# --- imageLIME ------------------------------------------------------------------------------


def test_image_lime_matches_image_lime(net, image):
    """Check every option maps to its Python parameter and the three outputs are equal."""
    got = imageLIME(net, image, 2, NumFeatures=9, NumSamples=64, Segmentation="grid",
                    Model="linear", OutputUpsampling="bicubic", MiniBatchSize=16, MaskValue=0,
                    RandomState=0)
    expected = image_lime(net, image, 1, num_features=9, num_samples=64, segmentation="grid",
                          model="linear", output_upsampling="bicubic", batch_size=16,
                          mask_value=0, random_state=0, return_features=True)
    assert isinstance(got, tuple) and len(got) == 3
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)
    assert got[2].shape == (9,)


def test_image_lime_defaults_labels_and_class_names(net, batch):
    """Check superpixels/tree defaults, a list of labels and class names on a batch."""
    expected = image_lime(net, batch, [1, 2], num_samples=64, random_state=0,
                          return_features=True)
    for label, names in (([2, 3], None), (["b", "c"], NAMES)):
        score_map, feature_map, importance = imageLIME(net, batch, label, NumSamples=64,
                                                       RandomState=0, ClassNames=names)
        np.testing.assert_array_equal(score_map, expected[0])
        np.testing.assert_array_equal(feature_map, expected[1])
        assert len(importance) == 2
        for g, e in zip(importance, expected[2], strict=True):
            np.testing.assert_array_equal(g, e)
