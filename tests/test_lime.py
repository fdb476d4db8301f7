"""Image LIME: parity with the lime package, known regions, geometry, tasks, inputs, errors."""

import keras
import numpy as np
import pytest
from conftest import cam_model
from scipy import ndimage
from sklearn.metrics import pairwise_distances

import explainkit
from explainkit import ImageLIME, image_lime
from explainkit.datasets import make_shapes
from explainkit.methods import _lime


def _softmax_net(size=24, channels=3, classes=3, seed=0):
    """A fixed nonlinear classifier of whole images: softmax of a random linear map."""
    weights = np.random.default_rng(seed).normal(size=(size * size * channels, classes))

    def f(X):
        logits = np.asarray(X, dtype=np.float64).reshape(len(X), -1) @ weights / 20
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return f


def _region_net(region):
    """A regressor that looks only at ``region`` (a boolean (H, W) mask) of channel 0."""
    return lambda X: (np.asarray(X)[..., 0] * region).sum(axis=(1, 2))[:, None] / region.sum()


# --- parity with the lime package ---------------------------------------------------------


def test_kernel_weights_match_lime_cosine_kernel():
    """Check the sample weights against lime's kernel on sklearn's cosine distances."""
    rng = np.random.default_rng(0)
    samples = rng.random((300, 17)) < 0.5
    samples[0] = True
    samples[1] = False  # nothing kept: cosine distance 1
    distances = pairwise_distances(samples.astype(float), np.ones((1, 17)), metric="cosine")
    expected = np.sqrt(np.exp(-(distances.ravel() ** 2) / 0.25**2))
    np.testing.assert_allclose(_lime.kernel_weights(samples), expected, rtol=1e-12)


@pytest.mark.parametrize("segmentation", ["superpixels", "grid"])
def test_linear_importances_match_the_lime_package(monkeypatch, segmentation):
    """Check model="linear" gives lime's coefficients on the same segments and samples."""
    from lime.lime_image import LimeImageExplainer

    image = make_shapes(1, 24, random_state=3)[0][0].astype(np.float64)
    f = _softmax_net()
    target, num_samples = 1, 400
    segments = explainkit.ImageLIME(f, segmentation=segmentation, num_features=16)
    segments = segments.fit()._feature_maps(image[None].astype(np.float32))[0][0]
    num_features = int(segments.max()) + 1

    seen = []

    def recording(X):
        seen.append(np.array(X))
        return f(X)

    lime_result = LimeImageExplainer(random_state=0).explain_instance(
        image, recording, labels=(target,), top_labels=None, hide_color=0,
        num_samples=num_samples, batch_size=num_samples, segmentation_fn=lambda _: segments,
        random_seed=0,
    )  # fmt: skip
    # lime's sample matrix, drawn as lime draws it; the images it scored prove it is the same.
    data = np.random.RandomState(0).randint(0, 2, num_samples * num_features)
    data = data.reshape(num_samples, num_features).astype(bool)
    data[0] = True
    np.testing.assert_array_equal(seen[0], np.where(data[:, segments][..., None], image, 0))
    monkeypatch.setattr(_lime, "draw_samples", lambda rng, s, n: data.copy())

    explanation = ImageLIME(f, segmentation=segments, model="linear", mask_value=0,
                            num_samples=num_samples).fit().explain(image, target)
    ours = explanation.feature_importance[0][:, 0]
    theirs = np.zeros(num_features)
    for feature, weight in lime_result.local_exp[target]:
        theirs[feature] = weight
    assert np.corrcoef(ours, theirs)[0, 1] >= 0.99
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-6 * np.abs(theirs).max())


# --- a predictor that looks at one known region -------------------------------------------


@pytest.mark.parametrize("model", ["tree", "linear"])
def test_known_grid_cell_ranks_first(model):
    """Check the only cell the predictor looks at gets the top importance."""
    region = np.zeros((32, 32), dtype=bool)
    region[8:16, 16:24] = True  # cell (1, 2) of the 4 x 4 grid: feature 6
    image = np.random.default_rng(1).uniform(0.5, 1, size=(32, 32, 3))
    explanation = ImageLIME(_region_net(region), num_features=16, segmentation="grid",
                            model=model, num_samples=300, random_state=0).fit().explain(image)
    importance = explanation.feature_importance[0][:, 0]
    assert np.argmax(importance) == 6
    assert np.all(np.abs(np.delete(importance, 6)) < 0.05 * importance[6])
    # The score map gives every pixel its feature's importance.
    np.testing.assert_array_equal(explanation.score_map, importance[explanation.feature_map[0]])


@pytest.mark.parametrize("model", ["tree", "linear"])
def test_known_object_superpixel_ranks_first(model):
    """Check the superpixel that moves the prediction most ranks first.

    The predictor is the mean of the object's pixels, so hiding superpixel j lowers it by
    ``effect_j`` = the sum over its object pixels of (pixel - mask value) / object size,
    computed here by a plain loop; the prediction is linear in the kept features, so the
    linear surrogate must recover the effects themselves.
    """
    X, _, masks = make_shapes(1, 64, random_state=5)
    image, mask = X[0], masks[0]
    score_map, features, importance = image_lime(
        _region_net(mask), image, model=model, mask_value=0, num_samples=500,
        random_state=0, return_features=True,
    )  # fmt: skip
    effect = np.zeros(features.max() + 1)
    for r in range(64):
        for c in range(64):
            if mask[r, c]:
                effect[features[r, c]] += image[r, c, 0] / mask.sum()
    assert np.argmax(importance) == np.argmax(effect)
    assert mask[features == np.argmax(importance)].mean() > 0.75
    if model == "linear":
        assert np.corrcoef(importance, effect)[0, 1] > 0.999
    assert score_map[mask].mean() > 5 * score_map[~mask].mean()


# --- features -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "num_features", "cells"),
    [((224, 224), 49, (7, 7)), ((64, 128), 49, (5, 10)), ((90, 30), 12, (6, 2))],
)
def test_grid_cells_are_near_square_and_numbered_row_by_row(size, num_features, cells):
    """Check the grid follows the aspect ratio with near-square cells numbered row-major."""
    f = _region_net(np.ones(size, dtype=bool))
    _, features, importance = image_lime(f, np.ones((*size, 1)), num_features=num_features,
                                         segmentation="grid", num_samples=20,
                                         return_features=True, random_state=0)
    rows, cols = cells
    assert features.shape == size and importance.shape == (rows * cols,)
    for r in range(rows):
        for c in range(cols):
            ys, xs = np.nonzero(features == r * cols + c)
            # one rectangle per label, sizes within one pixel of H / rows and W / cols
            assert len(ys) == (np.ptp(ys) + 1) * (np.ptp(xs) + 1)
            assert abs(np.ptp(ys) + 1 - size[0] / rows) < 1
            assert abs(np.ptp(xs) + 1 - size[1] / cols) < 1
    height, width = size[0] / rows, size[1] / cols
    assert max(height, width) / min(height, width) < 1.3


def test_grid_upsampling_none_and_bicubic():
    """Check "none" returns the cell grid and "bicubic" passes through the cell centres."""
    image = np.random.default_rng(0).uniform(0, 1, size=(21, 21, 3))
    f = _softmax_net(size=21)
    common = dict(num_features=49, segmentation="grid", num_samples=200, random_state=0,
                  model="linear")  # fmt: skip
    grid_map, _, importance = image_lime(f, image, 0, output_upsampling="none",
                                         return_features=True, **common)
    assert grid_map.shape == (7, 7)
    np.testing.assert_allclose(grid_map, importance.reshape(7, 7), rtol=1e-6)
    smooth = image_lime(f, image, 0, output_upsampling="bicubic", **common)
    assert smooth.shape == (21, 21)
    # 3 x 3 cells: pixel 3 j + 1 is the centre of cell j, where the interpolation is exact.
    np.testing.assert_allclose(smooth[1::3, 1::3], grid_map, rtol=1e-4, atol=1e-6)


def test_custom_label_images_are_renumbered_in_value_order():
    """Check a label image (shared or one per image) defines the features, numbered 0..F-1."""
    labels = np.full((12, 12), 7, dtype=np.int64)
    labels[:, 6:] = 100
    labels[:4] = -3
    X = np.random.default_rng(0).uniform(0.5, 1, size=(2, 12, 12, 3))
    f = _region_net(labels == 100)
    explanation = ImageLIME(f, segmentation=labels, num_samples=100, random_state=0,
                            mask_value=0).fit().explain(X)
    expected = np.searchsorted([-3, 7, 100], labels)
    np.testing.assert_array_equal(explanation.feature_map, [expected, expected])
    for importance in explanation.feature_importance:
        assert importance.shape == (3, 1) and np.argmax(importance[:, 0]) == 2
    per_image = np.stack([labels, (labels == 7).astype(np.int64)])
    explanation = ImageLIME(f, segmentation=per_image, num_samples=100, mask_value=0,
                            random_state=0).fit().explain(X)
    assert [imp.shape for imp in explanation.feature_importance] == [(3, 1), (2, 1)]


def test_superpixels_far_fewer_than_asked_warns():
    """Check a warning says how many features were used when far fewer were produced."""
    noise = np.random.default_rng(0).uniform(size=(96, 96, 3))  # SLIC merges noise
    with pytest.warns(UserWarning, match=r"produced \d+ features .* num_features=49; using"):
        image_lime(_region_net(np.ones((96, 96), bool)), noise, num_samples=20,
                   random_state=0, segmentation="slic")


def _natural_and_noisy_images():
    from skimage import data, transform

    return {
        "noise": np.random.default_rng(0).uniform(size=(64, 64, 3)),
        "shapes": make_shapes(1, 64, random_state=0)[0][0],
        "astronaut": transform.resize(data.astronaut(), (128, 128), anti_aliasing=True),
        "coffee": transform.resize(data.coffee(), (100, 150), anti_aliasing=True),
        "camera (gray)": transform.resize(data.camera(), (96, 96), anti_aliasing=True),
    }


@pytest.mark.parametrize("segmentation", ["superpixels", "slic"])
def test_superpixels_are_scikit_image_slic0_and_slic(segmentation):
    """Check "superpixels" is scikit-image's SLIC0 and "slic" its fixed-compactness SLIC."""
    from skimage.segmentation import slic

    image = _natural_and_noisy_images()["astronaut"].astype(np.float32)
    _, features, _ = image_lime(lambda X: X.mean(axis=(1, 2, 3))[:, None], image,
                                num_samples=4, random_state=0, segmentation=segmentation,
                                return_features=True)
    labels = slic(image.astype(np.float64), n_segments=49, compactness=10, sigma=1.0,
                  start_label=0, convert2lab=True, slic_zero=segmentation == "superpixels")
    np.testing.assert_array_equal(features, np.unique(labels, return_inverse=True)[1]
                                  .reshape(labels.shape))


@pytest.mark.parametrize("num_features", [16, 49, 100])
@pytest.mark.parametrize("name", list(_natural_and_noisy_images()))
def test_superpixel_count_lands_near_num_features(name, num_features):
    """Check SLIC0 gives within 30% of the asked feature count on noisy and natural images."""
    image = _natural_and_noisy_images()[name]
    explainer = ImageLIME(lambda X: X.mean(axis=(1, 2, 3))[:, None], num_features=num_features)
    features, counts = explainer.fit()._feature_maps(np.atleast_3d(image)[None])
    assert 0.7 * num_features <= counts[0] <= 1.3 * num_features


def test_segmentation_function():
    """Check a segmentation function gives what its label image gives, and bad ones fail."""
    from skimage.segmentation import felzenszwalb

    X, _, masks = make_shapes(2, 32, random_state=3)
    f = _region_net(masks[0])
    segment = lambda image: felzenszwalb(image, scale=50)  # noqa: E731
    got = ImageLIME(f, segmentation=segment, num_samples=64, random_state=0).fit().explain(X)
    labels = np.stack([felzenszwalb(x, scale=50) for x in X])
    want = ImageLIME(f, segmentation=labels, num_samples=64, random_state=0).fit().explain(X)
    np.testing.assert_allclose(got.maps, want.maps)
    np.testing.assert_array_equal(got.feature_map, want.feature_map)
    with pytest.raises(ValueError, match=r"'<lambda>' must return a label image of the "
                                         r"image's shape \(32, 32\); it returned shape \(32,\)"):
        image_lime(f, X[0], segmentation=lambda image: image[0, :, 0].astype(int))
    with pytest.raises(TypeError, match="must return integer labels.*float"):
        image_lime(f, X[0], segmentation=lambda image: image[..., 0])


# --- inputs and tasks ---------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 4, 13])
def test_any_channel_count(channels):
    """Check grayscale (also as (H, W)), 4- and 13-channel images with superpixels."""
    X, _, masks = make_shapes(2, 32, channels=channels, random_state=1)
    f = _region_net(masks[0])
    images = X[0, ..., 0] if channels == 1 else X[0]
    score_map, features, importance = image_lime(f, images, num_samples=200, random_state=0,
                                                 return_features=True)
    assert score_map.shape == features.shape == (32, 32)
    assert importance.shape == (features.max() + 1,) and importance.max() > 0
    assert masks[0][features == np.argmax(importance)].mean() > 0.5


def test_keras_classifier_with_class_names_and_method_lime():
    """Check a Keras classifier through explainkit.explain(method="lime") and class names."""
    net = cam_model(size=16, classes=3, seed=2)
    X = np.random.default_rng(0).uniform(0, 1, size=(2, 16, 16, 3)).astype("float32")
    explanation = explainkit.explain(net, X, ["b", "c"], method="lime", num_samples=64,
                                     class_names=["a", "b", "c"], random_state=0)
    assert explanation.task == "classification" and explanation.method == "lime"
    assert explanation.score_map.shape == (2, 16, 16, 2)
    np.testing.assert_array_equal(explanation.targets, [[1, 2], [1, 2]])
    np.testing.assert_allclose(explanation.scores, np.asarray(net(X))[:, 1:], rtol=1e-5)


def test_regression_signed_importances():
    """Check a Keras regressor: the linear surrogate says what raises and what lowers it."""
    plus, minus = np.zeros((16, 16), bool), np.zeros((16, 16), bool)
    plus[:8, :8], minus[8:, 8:] = True, True
    weights = (plus / plus.sum() - minus / minus.sum()).reshape(-1, 1)
    net = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(1, use_bias=False)])  # fmt: skip
    net.layers[-1].set_weights([weights.astype("float32")])
    explanation = ImageLIME(net, num_features=4, segmentation="grid", model="linear",
                            mask_value=0, num_samples=400, random_state=0).fit()
    explanation = explanation.explain(np.ones((16, 16, 1)))
    importance = explanation.feature_importance[0][:, 0]
    assert explanation.task == "regression"
    np.testing.assert_allclose(importance, [1, 0, 0, -1], atol=0.02)


def _pixel_segmenter():
    """Per-pixel two-class softmax: class 1 where channel 0 is bright (a 1x1 convolution)."""
    net = keras.Sequential([keras.Input((16, 16, 1)),
                            keras.layers.Conv2D(2, 1, activation="softmax")])  # fmt: skip
    net.layers[0].set_weights([np.array([[[[-10.0, 10.0]]]], "float32"),
                               np.array([5.0, -5.0], "float32")])  # fmt: skip
    return net


def test_segmentation_class_over_all_pixels_and_roi():
    """Check a segmentation model: both objects matter; outside the roi nothing does."""
    image = np.zeros((16, 16, 1), "float32")
    image[4:8, 4:8] = image[12:, 12:] = 1  # two objects: cells 5 and 15 of the 4 x 4 grid
    net = _pixel_segmenter()
    explainer = ImageLIME(net, num_features=16, segmentation="grid", mask_value=0,
                          num_samples=300, random_state=0).fit()
    explanation = explainer.explain(image, 1)
    importance = explanation.feature_importance[0][:, 0]
    assert explanation.task == "segmentation"
    assert set(np.argsort(importance)[-2:]) == {5, 15}
    roi = np.zeros((16, 16), bool)
    roi[:8, :8] = True  # cells 0, 1, 4, 5
    importance = explainer.explain(image, 1, roi=roi).feature_importance[0][:, 0]
    assert np.argmax(importance) == 5
    # The score is exactly linear in feature 5 alone: the tree splits on nothing else.
    assert np.abs(np.delete(importance, 5)).max() < 1e-6


def test_batches_give_what_single_images_give():
    """Check each image's result is independent of the batch, for one seed."""
    X = make_shapes(3, 24, random_state=0)[0]
    explainer = ImageLIME(_softmax_net(), num_samples=100, random_state=4).fit()
    batch = explainer.explain(X, 0)
    for i in range(3):
        single = explainer.explain(X[i], 0)
        np.testing.assert_allclose(single.maps[0], batch.maps[i], rtol=1e-6)
        np.testing.assert_array_equal(single.feature_map[0], batch.feature_map[i])


def test_random_state_reproducible_and_generators():
    """Check equal seeds give identical results, other seeds differ, Generators work."""
    X = make_shapes(1, 24, random_state=0)[0][0]
    run = lambda state: image_lime(_softmax_net(), X, 0, num_samples=100, random_state=state)  # noqa: E731
    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))
    generator = run(np.random.default_rng(3))
    assert generator.shape == (24, 24)
    np.testing.assert_array_equal(run(np.random.default_rng(8)), run(np.random.default_rng(8)))


def test_return_features_shapes():
    """Check MATLAB's three outputs for one image, a list of targets and a batch."""
    X = make_shapes(2, 24, random_state=0)[0]
    f, kw = _softmax_net(), dict(num_samples=50, random_state=0, return_features=True)
    score_map, features, importance = image_lime(f, X[0], [0, 2], **kw)
    assert score_map.shape == (24, 24, 2) and features.shape == (24, 24)
    assert importance.shape == (features.max() + 1, 2)
    score_map, features, importance = image_lime(f, X, **kw)
    assert score_map.shape == (2, 24, 24) and features.shape == (2, 24, 24)
    assert [imp.shape for imp in importance] == [(features[i].max() + 1,) for i in range(2)]


def test_model_calls_respect_batch_size_and_inputs_stay_untouched():
    """Check no call exceeds batch_size, every sample is scored once, X is not modified."""
    sizes = []
    f = _softmax_net(size=16)

    def counting(X):
        sizes.append(len(X))
        return f(X)

    X = make_shapes(2, 16, random_state=0)[0]
    before = X.copy()
    image_lime(counting, X, num_samples=101, batch_size=32, random_state=0)
    assert max(sizes) <= 32 and sum(sizes) == 2 * 101
    np.testing.assert_array_equal(X, before)


def test_tree_importances_are_normalised_per_target(monkeypatch):
    """Check the default tree surrogate's importances: a weighted tree fitted per target on
    the samples and kernel weights (sklearn, fitted here), non-negative, summing to 1."""
    from sklearn.tree import DecisionTreeRegressor

    X = make_shapes(1, 24, random_state=2)[0][0]
    f = _softmax_net()
    drawn = []
    draw = _lime.draw_samples
    monkeypatch.setattr(_lime, "draw_samples", lambda *a: drawn.append(draw(*a)) or drawn[-1])
    explanation = ImageLIME(f, num_samples=200, random_state=0).fit().explain(X, [0, 1, 2])
    importance = explanation.feature_importance[0]
    samples = drawn[0]
    features = explanation.feature_map[0]
    scores = f(np.where(samples[:, features][..., None], X, X.mean(axis=(0, 1))))[:, :3]
    weights = _lime.kernel_weights(samples)
    for k in range(3):
        tree = DecisionTreeRegressor(min_samples_split=10, random_state=0).fit(
            samples.astype(float), scores[:, k], sample_weight=weights)
        assert np.argmax(importance[:, k]) == np.argmax(tree.feature_importances_)
    assert importance.min() >= 0
    np.testing.assert_allclose(importance.sum(axis=0), 1, rtol=1e-5)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"num_features": 1}, ValueError, "num_features.*Got 1"),
        ({"num_features": 2.5}, TypeError, "num_features"),
        ({"num_features": 300}, ValueError, "num_features=300 is more than the 256 pixels"),
        ({"num_samples": 1}, ValueError, "num_samples.*Got 1"),
        ({"model": "forest"}, ValueError, "'model'.*'tree', 'linear'.*'forest'"),
        ({"segmentation": "quickshift"}, ValueError, "'segmentation'.*'quickshift'"),
        ({"segmentation": np.zeros((16, 16))}, TypeError, "integer label image.*float64"),
        ({"segmentation": np.zeros((8, 8), int)}, ValueError, r"shape \(16, 16\).*\(8, 8\)"),
        ({"segmentation": np.zeros((16, 16), int)}, ValueError, "single feature"),
        ({"mask_value": [0, 0]}, ValueError, "mask_value has 2 values.*3 channels"),
        ({"random_state": "seed"}, TypeError, "random_state.*'seed'"),
        ({"output_upsampling": "linear"}, ValueError, "output_upsampling"),
        ({"progress": "yes"}, TypeError, "progress"),
    ],
)
def test_bad_options(options, error, match):
    """Check each bad option gets a clear error naming it and the value received."""
    X = np.random.default_rng(0).uniform(size=(16, 16, 3))
    with pytest.raises(error, match=match):
        image_lime(_softmax_net(size=16), X, **{"num_samples": 10, **options})


def test_nan_predictor_and_non_grid_upsampling():
    """Check a NaN predictor raises and bicubic without a grid warns and uses nearest."""
    X = np.random.default_rng(0).uniform(size=(16, 16, 3))
    with pytest.raises(ValueError, match="NaN or Inf"):
        image_lime(lambda X: np.full((len(X), 2), np.nan), X, num_samples=10)
    f = _softmax_net(size=16)
    with pytest.warns(UserWarning, match="needs segmentation='grid'; using 'nearest'"):
        smooth = image_lime(f, X, output_upsampling="bicubic", num_samples=30, random_state=0)
    np.testing.assert_array_equal(smooth, image_lime(f, X, num_samples=30, random_state=0))


def test_aligned_buffers_reach_tensorflow_without_a_copy():
    """Check an aligned float32 buffer is shared with TensorFlow and others are copied."""
    from explainkit import _models
    from explainkit._models._keras import as_tensor

    buffer = _models.aligned_empty((4, 8, 8, 3))
    assert buffer.ctypes.data % 64 == 0 and buffer.flags.c_contiguous
    buffer[:] = 1.0
    shared = as_tensor(buffer)
    buffer[0, 0, 0, 0] = 5.0
    assert float(shared[0, 0, 0, 0]) == 5.0
    misaligned = np.ones(4 * 8 * 8 * 3 + 1, np.float32)[1:].reshape(4, 8, 8, 3)
    copied = as_tensor(misaligned)
    misaligned[0, 0, 0, 0] = 5.0
    assert float(copied[0, 0, 0, 0]) == 1.0


def test_warnings_point_at_the_callers_line():
    """Check LIME's warnings name the caller's file, not explainkit's."""
    noise = np.random.default_rng(0).uniform(size=(96, 96, 3))
    with pytest.warns(UserWarning, match="far fewer") as record:
        image_lime(_region_net(np.ones((96, 96), bool)), noise, num_samples=20,
                   random_state=0, segmentation="slic")
    assert record[0].filename == __file__


def test_a_callable_may_keep_the_batches_it_gets():
    """Check the batches a callable receives stay intact after later batches (own copies)."""
    kept = []
    f = _softmax_net(size=16)

    def keeping(X):
        kept.append(X)  # no copy: a reused buffer would be overwritten later
        return f(X)

    X = make_shapes(1, 16, random_state=0)[0][0]
    explainer = ImageLIME(keeping, num_samples=65, batch_size=16, random_state=0,
                          segmentation="grid", num_features=4, mask_value=0).fit()
    explainer.explain(X)
    samples = _lime.draw_samples(_lime.image_generators(0, X[None])[0], 65, 4)
    features = explainer._feature_maps(X[None].astype(np.float32))[0][0]
    expected = np.where(samples[1:17, features][..., None], X, 0)  # the first perturbed batch
    np.testing.assert_array_equal(kept[1], expected)


@pytest.mark.parametrize("mask_value", ["mean", "auto", "blur", 0.5, [0.2, 0.8], "image"])
def test_hidden_features_show_the_fill_value(monkeypatch, mask_value):
    """Check every fill value: each scored copy keeps its sample's features and shows the
    fill elsewhere (the mean per channel, scipy's Gaussian blur of sigma 5% of the size,
    a number, per-channel values, an image)."""
    rng = np.random.default_rng(11)
    image = rng.uniform(size=(10, 12, 2)).astype(np.float32)
    if mask_value == "image":
        mask_value = rng.uniform(size=(10, 12, 2))
    data = rng.random((30, 6)) < 0.5
    data[0] = True
    monkeypatch.setattr(_lime, "draw_samples", lambda g, s, n: data.copy())
    seen = []

    def recording(X):
        seen.append(np.array(X))
        return X.mean(axis=(1, 2))

    explanation = ImageLIME(recording, segmentation="grid", num_features=6, num_samples=30,
                            mask_value=mask_value, batch_size=64).fit().explain(image, 0)
    features = explanation.feature_map[0]
    if isinstance(mask_value, str) and mask_value == "blur":
        fill = ndimage.gaussian_filter(image, sigma=(0.5, 0.6, 0), mode="nearest")
    elif isinstance(mask_value, str):
        fill = image.mean(axis=(0, 1))
    else:
        fill = np.asarray(mask_value, np.float32)
    expected = np.where(data[1:, features][..., None], image, np.broadcast_to(fill, image.shape))
    np.testing.assert_allclose(seen[-1], expected, rtol=1e-6, atol=1e-7)
