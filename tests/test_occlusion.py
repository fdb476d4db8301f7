"""Occlusion sensitivity against plain reference loops, linear algebra and MATLAB's geometry."""

import keras
import numpy as np
import pytest
from conftest import activations, pixel_classifier
from scipy import ndimage
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import explainkit
from explainkit import OcclusionSensitivity, occlusion_sensitivity


def reference_occlusion(score, image, mask, stride, value, clipping):
    """One occluded copy at a time, straight from the definition."""
    height, width = image.shape[:2]

    def windows(size, m, s):
        if clipping:
            return [(max(c - m // 2, 0), min(c - m // 2 + m, size)) for c in range(0, size, s)]
        return [(r, r + m) for r in range(0, size - m + 1, s)]

    base = score(image)
    rows, cols = windows(height, mask[0], stride[0]), windows(width, mask[1], stride[1])
    out = np.zeros((len(rows), len(cols)))
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            occluded = image.copy()
            occluded[r0:r1, c0:c1] = value[r0:r1, c0:c1] if np.ndim(value) == 3 else value
            out[i, j] = base - score(occluded)
    return out


def _keras_score(net, target):
    return lambda image: net.predict(image[None], verbose=0)[0, target]


@pytest.mark.parametrize("clipping", [True, False])
@pytest.mark.parametrize(("mask", "stride"), [((3, 3), (1, 1)), ((4, 2), (2, 3)), ((5, 5), (4, 2))])
def test_keras_model_matches_reference_loop(clipping, mask, stride):
    """Check a Keras classifier on a non-square image against the plain loop."""
    net = _conv_net((10, 13, 3))
    image = np.random.default_rng(0).uniform(size=(10, 13, 3)).astype("float32")
    value = image.mean(axis=(0, 1))
    got = occlusion_sensitivity(net, image, 2, mask_size=mask, stride=stride,
                                mask_clipping=clipping, output_upsampling="none", batch_size=7)
    expected = reference_occlusion(_keras_score(net, 2), image, mask, stride, value, clipping)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def _conv_net(shape, classes=3, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input(shape),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(classes, activation="softmax"),
    ])


def test_linear_model_one_pixel_mask_is_w_dot_x():
    """Check a 1x1 mask with mask_value=0 on f(x) = sum(w * x) gives w . x per pixel."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(9, 7, 3))
    image = rng.uniform(size=(9, 7, 3))
    linear = lambda X: np.einsum("nhwc,hwc->n", X, w)  # noqa: E731
    got = occlusion_sensitivity(linear, image, mask_size=1, stride=1, mask_value=0)
    np.testing.assert_allclose(got, (w * image).sum(axis=-1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("size", "clipping", "mask", "stride", "grid"),
    [
        ((224, 224), True, (45, 45), (22, 22), (11, 11)),
        ((224, 224), False, (45, 45), (22, 22), (9, 9)),
        ((100, 60), True, (20, 12), (10, 6), (10, 10)),
        ((100, 60), False, (20, 12), (10, 6), (9, 9)),
    ],
)
def test_automatic_sizes_and_positions(size, clipping, mask, stride, grid):
    """Check 'auto' = round(20%) / round(10%) of each size and the number of positions."""
    calls = []

    def f(X):
        calls.append(len(X))
        return X.mean(axis=(1, 2, 3))[:, None]

    explanation = explainkit.explain(f, np.ones((*size, 1)), method="occlusion",
                                     output_upsampling="none", mask_clipping=clipping)
    assert (explanation.params["mask_size"], explanation.params["stride"]) == (mask, stride)
    assert explanation.score_map.shape == grid
    assert sum(calls) == 1 + grid[0] * grid[1]  # the unoccluded image, then one per position


def test_batches_are_bounded_by_batch_size():
    """Check no model call gets more than batch_size images, across images of a batch."""
    sizes = []

    def f(X):
        sizes.append(len(X))
        return X.sum(axis=(1, 2, 3))[:, None]

    X = np.random.default_rng(0).uniform(size=(3, 12, 12, 2))
    maps = occlusion_sensitivity(f, X, mask_size=3, stride=2, batch_size=10,
                                 output_upsampling="none")
    assert max(sizes) == 10
    assert sum(sizes) == 3 + 3 * 36
    for i in range(3):
        np.testing.assert_allclose(maps[i], occlusion_sensitivity(
            f, X[i], mask_size=3, stride=2, output_upsampling="none"), rtol=1e-5)


def _digits_pipeline():
    digits = load_digits()
    flatten = FunctionTransformer(lambda X: np.asarray(X).reshape(len(X), -1))
    model = make_pipeline(flatten, LogisticRegression(max_iter=2000))
    model.fit(digits.images, digits.target)
    return model, digits


def test_scikit_learn_pipeline_on_grayscale_digits():
    """Check a LogisticRegression pipeline on 8x8 digits (predict_proba) against the loop."""
    model, digits = _digits_pipeline()
    image = digits.images[5]  # (8, 8): one-channel
    target = int(digits.target[5])
    got = occlusion_sensitivity(model, image, target, mask_size=3, stride=1,
                                output_upsampling="none")

    def score(im):
        return model.predict_proba(im.reshape(1, 8, 8, 1))[0, target]

    expected = reference_occlusion(score, image[..., None], (3, 3), (1, 1), image.mean(), True)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)  # float32 images
    explanation = explainkit.explain(model, image, method="occlusion")
    assert explanation.task == "classification"
    assert explanation.targets[0, 0] == model.predict(image.reshape(1, 8, 8))[0]


@pytest.mark.parametrize("roi_kind", ["all", "mask", "predicted"])
def test_segmentation_with_roi_matches_reference(roi_kind):
    """Check segmentation scores summed over all pixels, an roi, or the predicted pixels.

    The class at a pixel is its brightest channel; class 1 covers the left part only, and
    occluding with the image mean changes predictions, so "predicted" must be the region
    frozen on the unoccluded image to match the reference.
    """
    net = pixel_classifier(size=10)
    image = np.random.default_rng(2).uniform(0, 0.5, size=(10, 10, 3)).astype("float32")
    image[:, :4, 1] += 1.0
    base = net.predict(image[None], verbose=0)[0]
    c = 1
    if roi_kind == "all":
        roi, mask = None, np.ones((10, 10), bool)
    elif roi_kind == "mask":
        roi = np.zeros((10, 10), bool)
        roi[2:6, 1:9] = True
        mask = roi
    else:
        roi, mask = "predicted", base.argmax(-1) == c  # frozen on the unoccluded image
        assert 0 < mask.mean() < 1

    def score(im):
        return (net.predict(im[None], verbose=0)[0, ..., c] * mask).sum()

    got = occlusion_sensitivity(net, image, c, roi=roi, mask_size=3, stride=2,
                                output_upsampling="none")
    expected = reference_occlusion(score, image, (3, 3), (2, 2), image.mean(axis=(0, 1)), True)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_layer_channel_form():
    """Check (layer, channel): the channel's activation summed over space."""
    net = _conv_net((12, 12, 3), seed=4)
    image = np.random.default_rng(3).uniform(size=(12, 12, 3)).astype("float32")

    def score(im):
        return activations(net, "conv", im[None])[0, ..., 2].sum()

    explanation = OcclusionSensitivity(net, layer="conv", channel=2, mask_size=4, stride=3,
                                       mask_value=0.5, output_upsampling="none").fit()
    result = explanation.explain(image)
    expected = reference_occlusion(score, image, (4, 4), (3, 3), 0.5, True)
    np.testing.assert_allclose(result.score_map, expected, rtol=1e-4, atol=1e-4)
    assert result.feature_layer == "conv" and result.targets is None


def test_multiple_targets_and_batches_match_single_calls():
    """Check a list of targets on a batch equals one call per image and target."""
    net = _conv_net((12, 12, 3), classes=4, seed=5)
    X = np.random.default_rng(4).uniform(size=(3, 12, 12, 3)).astype("float32")
    both = occlusion_sensitivity(net, X, [3, 0], mask_size=5, stride=3, batch_size=9)
    assert both.shape == (3, 12, 12, 2)
    for i in range(3):
        for k, target in enumerate([3, 0]):
            np.testing.assert_allclose(
                both[i, ..., k], occlusion_sensitivity(net, X[i], target, mask_size=5, stride=3),
                rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["nearest", "bicubic"])
@pytest.mark.parametrize("clipping", [True, False])
def test_upsampling_places_values_at_mask_centres(method, clipping):
    """Check the upsampled map equals each position's value at its mask's centre pixel."""
    rng = np.random.default_rng(5)
    w = rng.normal(size=(16, 20, 1))
    f = lambda X: np.einsum("nhwc,hwc->n", X, w)  # noqa: E731
    image = rng.uniform(size=(16, 20, 1))
    options = dict(mask_size=(4, 5), stride=(3, 4), mask_value=0, mask_clipping=clipping)
    grid = occlusion_sensitivity(f, image, output_upsampling="none", **options)
    full = occlusion_sensitivity(f, image, output_upsampling=method, **options)
    assert full.shape == (16, 20)
    first = (0, 0) if clipping else (2, 2)  # centre = start + mask // 2
    centres_r = first[0] + 3 * np.arange(grid.shape[0])
    centres_c = first[1] + 4 * np.arange(grid.shape[1])
    np.testing.assert_allclose(full[np.ix_(centres_r, centres_c)], grid, rtol=1e-5, atol=1e-6)


def test_mask_value_forms():
    """Check scalar, per-channel, "mean", "blur" (scipy's Gaussian, sigma 5% of the size)
    and replacement-image mask values against the loop."""
    rng = np.random.default_rng(6)
    w = rng.normal(size=(8, 8, 2))
    f = lambda X: np.einsum("nhwc,hwc->n", X, w)  # noqa: E731
    image = rng.uniform(size=(8, 8, 2))
    replacement = rng.uniform(size=image.shape)  # e.g. a blurred copy; any image
    blurred = ndimage.gaussian_filter(image, sigma=(0.4, 0.4, 0), mode="nearest")
    for value, ref in [(0.3, 0.3), ([0.1, 0.9], np.array([0.1, 0.9])),
                       ("mean", image.mean(axis=(0, 1))), ("auto", image.mean(axis=(0, 1))),
                       ("blur", blurred)]:
        got = occlusion_sensitivity(f, image, mask_size=3, stride=2, mask_value=value,
                                    output_upsampling="none")
        expected = reference_occlusion(lambda im: f(im[None])[0], image, (3, 3), (2, 2), ref, True)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    got = occlusion_sensitivity(f, image, mask_size=3, stride=2, mask_value=replacement,
                                output_upsampling="none")
    expected = reference_occlusion(lambda im: f(im[None])[0], image, (3, 3), (2, 2),
                                   replacement, True)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_mask_larger_than_image_with_clipping():
    """Check a mask larger than the image is allowed with clipping (it hides everything)."""
    f = lambda X: X.sum(axis=(1, 2, 3))[:, None]  # noqa: E731
    got = occlusion_sensitivity(f, np.ones((4, 4, 1)), mask_size=20, stride=2, mask_value=0,
                                output_upsampling="none")
    np.testing.assert_allclose(got, np.full((2, 2), 16.0))


def _f(X):
    return np.asarray(X).sum(axis=(1, 2, 3))[:, None]


@pytest.mark.parametrize(
    ("net", "options", "error", "match"),
    [
        (_f, {"mask_size": 9, "mask_clipping": False}, ValueError,
         r"mask_size \(9, 9\) is larger than the images \(8, 8\)"),
        (_f, {"mask_size": 0}, ValueError, r"'mask_size' parameter must be at least 1.*Got 0"),
        (_f, {"stride": (2, -1)}, ValueError, r"'stride' parameter must be at least 1"),
        (_f, {"stride": 1.5}, TypeError, r"'stride' parameter must be 'auto', an int"),
        (_f, {"mask_value": [0, 0]}, ValueError, "mask_value has 2 values but the images have 3"),
        (_f, {"mask_value": np.zeros((4, 4, 3))}, ValueError, r"got shape \(4, 4, 3\)"),
        (_f, {"mask_value": "gray"}, ValueError, "'mask_value' parameter must be one of 'auto'"),
        (_f, {"layer": "conv", "channel": 0}, TypeError, "layer/channel need a Keras model"),
        (_f, {"layer": "conv"}, ValueError, "layer and channel go together"),
        (_f, {"batch_size": 0}, ValueError, "'batch_size' parameter must be 'auto' or an int"),
        (_f, {"output_upsampling": "linear"}, ValueError, "'output_upsampling' parameter"),
        (_f, {"roi": np.ones((8, 8), bool)}, ValueError, "roi applies to segmentation"),
        (lambda X: np.full((len(X), 2), np.nan), {}, ValueError, "NaN or Inf scores"),
        (lambda X: 1.0, {}, ValueError, r"one row per image.*returned shape \(\)"),
        (lambda X: np.zeros((1, 2)), {}, ValueError, r"shape \(\d+, \.\.\.\)"),
        (lambda X: np.array(["a"] * len(X)), {}, ValueError, "must return numbers"),
        ("model.keras", {}, TypeError, "net must be a Keras model, a scikit-learn estimator"),
    ],
)
def test_bad_input(net, options, error, match):
    """Check bad sizes, mask values, layer/channel, roi and predictor outputs are refused."""
    X = np.random.default_rng(0).uniform(size=(2, 8, 8, 3))
    with pytest.raises(error, match=match):
        occlusion_sensitivity(net, X, **options)


def test_bad_channel_and_layer_on_keras_model():
    """Check a channel out of range and an unknown layer name."""
    net = _conv_net((8, 8, 3))
    X = np.zeros((8, 8, 3))
    with pytest.raises(ValueError, match=r"channel 4 is out of range.*4 channels \(valid 0..3\)"):
        occlusion_sensitivity(net, X, layer="conv", channel=4)
    with pytest.raises(ValueError, match="layer 'cnov' not found; did you mean 'conv'"):
        occlusion_sensitivity(net, X, layer="cnov", channel=0)
    with pytest.raises(ValueError, match="target and roi must be None"):
        occlusion_sensitivity(net, X, 1, layer="conv", channel=0)


def test_keras_model_unchanged():
    """Check the model's weights are untouched and probabilities are scored."""
    net = _conv_net((8, 8, 3), seed=8)
    weights = [w.copy() for w in net.get_weights()]
    X = np.random.default_rng(1).uniform(size=(8, 8, 3)).astype("float32")
    explanation = explainkit.explain(net, X, 1, method="occlusion")
    np.testing.assert_allclose(explanation.scores[0, 0],
                               net.predict(X[None], verbose=0)[0, 1], rtol=1e-5)
    for before, after in zip(weights, net.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_subclassed_keras_model_works():
    """Check occlusion only calls the model, so a subclassed Keras model works."""

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.pool = keras.layers.GlobalAveragePooling2D()

        def call(self, x):
            return keras.ops.softmax(self.pool(x)[:, :2] * 3.0)

    net = Net()
    image = np.random.default_rng(7).uniform(size=(6, 6, 3)).astype("float32")

    def score(im):
        return np.asarray(net(im[None]))[0, 1]

    got = occlusion_sensitivity(net, image, 1, mask_size=2, stride=2, output_upsampling="none")
    expected = reference_occlusion(score, image, (2, 2), (2, 2), image.mean(axis=(0, 1)), True)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_progress_bar_on_request(capsys):
    """Check progress=True draws a tqdm bar and progress=False stays silent."""
    f = lambda X: X.sum(axis=(1, 2, 3))[:, None]  # noqa: E731
    image = np.ones((8, 8, 1))
    occlusion_sensitivity(f, image, mask_size=2, stride=1, batch_size=4, progress=True)
    assert "occlusion" in capsys.readouterr().err
    occlusion_sensitivity(f, image, mask_size=2, stride=1, batch_size=4, progress=False)
    assert capsys.readouterr().err == ""
