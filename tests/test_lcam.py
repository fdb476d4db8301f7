"""L-CAM: trained on a frozen classifier in the test, it localises the objects it learned."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from explainkit import LCAM, metrics
from explainkit._models import count_calls
from explainkit.datasets import make_shapes

# Tuned for these 32-pixel, two-class shapes: the paper's area weight (2.0, for ImageNet's
# 1000 classes, where the cross-entropy of a hidden object is large) outweighs a two-class
# cross-entropy, and a larger step trains in a few epochs.
SHAPES = {"variant": "fm", "area_weight": 1.0, "learning_rate": 3e-2, "epochs": 12,
          "random_state": 0}


@pytest.fixture(scope="module")
def data():
    train = make_shapes(384, 32, random_state=11)
    test = make_shapes(24, 32, random_state=12)
    return train, test


@pytest.fixture(scope="module")
def classifier(data):
    """A small CNN trained here on the shapes (square vs disc)."""
    (X, y, _), (Xt, yt, _) = data
    keras.utils.set_random_seed(5)
    net = keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="last_conv"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, activation="softmax", name="predictions"),
    ])  # fmt: skip
    net.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    net.fit(X, y, epochs=12, batch_size=32, verbose=0)
    assert net.evaluate(Xt, yt, verbose=0)[1] >= 0.9
    return net


@pytest.fixture(scope="module")
def trained(classifier, data):
    (X, y, _), _ = data
    weights = [w.copy() for w in classifier.get_weights()]
    flags = [layer.trainable for layer in classifier.layers]
    lcam = LCAM(classifier, **SHAPES).fit(X, y)
    return lcam, weights, flags


def test_maps_localise_the_object_and_the_classifier_is_untouched(trained, classifier, data):
    """Check the true class's maps point at the object on held-out images, and the
    classifier's weights and trainable flags are as they were."""
    lcam, weights, flags = trained
    _, (Xt, yt, masks) = data
    explanation = lcam.explain(Xt, yt)
    assert explanation.maps.shape == (24, 32, 32, 1) and explanation.method == "lcam"
    assert metrics.pointing_game(explanation, masks, tolerance=2).mean >= 0.8
    # More of the map's energy on the object than its share of the image.
    assert metrics.energy_pointing_game(explanation, masks).mean > 2 * masks.mean()
    assert all(np.array_equal(a, b) for a, b in zip(classifier.get_weights(), weights,
                                                    strict=True))
    assert [layer.trainable for layer in classifier.layers] == flags
    assert lcam.feature_layer_ == "last_conv" and lcam.n_classes_ == 2
    history = lcam.history_
    assert len(history["loss"]) == SHAPES["epochs"] and history["loss"][-1] < history["loss"][0]


def test_the_image_variant_localises_too(classifier, data):
    """Check L-CAM-Img (the map masks the input image) learns to point at the object."""
    (X, y, _), (Xt, yt, masks) = data
    lcam = LCAM(classifier, **{**SHAPES, "variant": "img", "area_weight": 0.5,
                               "learning_rate": 1e-2}).fit(X, y)
    assert metrics.pointing_game(lcam.explain(Xt, yt), masks, tolerance=2).mean >= 0.8


def test_explain_is_one_forward_pass_per_mini_batch(trained, data):
    """Check explain calls the model once per mini-batch, for the maps and the prediction."""
    lcam, _, _ = trained
    _, (Xt, _, _) = data
    with count_calls() as counter:
        predicted = lcam.set_params(batch_size=10).explain(Xt)
    lcam.set_params(batch_size=32)
    assert counter.calls == 3  # 24 images in batches of 10
    expected = np.argmax(lcam.net.predict(Xt, verbose=0), axis=1)
    np.testing.assert_array_equal(predicted.targets[:, 0], expected)
    both = lcam.explain(Xt, [0, 1])
    assert both.maps.shape == (24, 32, 32, 2)


def test_save_and_load_round_trip(trained, classifier, data, tmp_path):
    """Check a saved module explains identically, and another model is refused."""
    lcam, _, _ = trained
    _, (Xt, yt, _) = data
    path = lcam.save(tmp_path / "shapes")
    loaded = LCAM.load(path, classifier)
    np.testing.assert_array_equal(loaded.explain(Xt, yt).maps, lcam.explain(Xt, yt).maps)
    assert loaded.variant == "fm" and loaded.history_ == lcam.history_
    other = keras.Sequential([keras.Input((32, 32, 3)),
                              keras.layers.Conv2D(8, 3, name="last_conv"),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="32 channels.*2 class maps.*8 channels.*3 classes"):
        LCAM.load(path, other)


def test_fit_is_reproducible_and_clone_is_unfitted(classifier, data):
    """Check equal random_state gives equal maps, for both variants, and clone is unfitted."""
    (X, y, _), (Xt, yt, _) = data
    for variant in ("img", "fm"):
        options = {**SHAPES, "variant": variant, "epochs": 2}
        first = LCAM(classifier, **options).fit(X[:64], y[:64]).explain(Xt, yt).maps
        second = LCAM(classifier, **options).fit(X[:64], y[:64]).explain(Xt, yt).maps
        np.testing.assert_array_equal(first, second)
    copy = clone(LCAM(classifier, **SHAPES).fit(X[:32], y[:32]))
    with pytest.raises(NotFittedError):
        copy.explain(Xt)


def test_datasets_one_hot_labels_and_predictions(classifier, data):
    """Check fit takes a tf.data.Dataset, a PyDataset, one-hot labels, and no labels (the
    classifier's predictions)."""
    (X, y, _), _ = data
    X, y = X[:64], y[:64]
    dataset = tf.data.Dataset.from_tensor_slices((X, keras.utils.to_categorical(y, 2))).batch(16)
    from_dataset = LCAM(classifier, epochs=1, random_state=0).fit(dataset)
    assert len(from_dataset.history_["loss"]) == 1

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return X[16 * i:16 * (i + 1)], y[16 * i:16 * (i + 1)]

    assert len(LCAM(classifier, epochs=1, random_state=0).fit(Batches()).history_["ce"]) == 1
    own = LCAM(classifier, epochs=1, random_state=0, variant="fm").fit(X)
    assert own.explain(X[:2]).maps.shape == (2, 32, 32, 1)
    with pytest.raises(ValueError, match="labels outside 0..1"):
        LCAM(classifier, epochs=1).fit(X, y + 1)


def test_classification_only_and_bad_options(data):
    """Check regression and segmentation models, and bad options, are clear errors."""
    (X, y, _), _ = data
    keras.utils.set_random_seed(0)
    regressor = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3),
                                  keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="L-CAM explains classifiers"):
        LCAM(regressor, epochs=1).fit(X[:8], y[:8])
    segmenter = keras.Sequential([keras.Input((32, 32, 3)),
                                  keras.layers.Conv2D(3, 1, activation="softmax")])
    with pytest.raises(ValueError, match="L-CAM explains classifiers"):
        LCAM(segmenter, epochs=1).fit(X[:8], y[:8])
    with pytest.raises(ValueError, match="'variant'"):
        LCAM(regressor, variant="map").fit(X[:8], y[:8])
    with pytest.raises(ValueError, match="needs training images"):
        LCAM(regressor).fit()


@pytest.mark.parametrize("baseline", [0.5, [0.1, 0.5, 0.9], "mean", "blur", "image"])
def test_image_variant_fades_to_the_baseline(classifier, data, baseline):
    """Check L-CAM-Img's masked input is baseline + mask * (x - baseline): a mask of 0
    scores the baseline itself (the per-channel mean, scipy's Gaussian blur of sigma 5% of
    the size, a value, an image), a mask of 1 the image; the Keras-ops blur is scipy's."""
    from scipy import ndimage

    (X, y, _), _ = data
    x = X[:3]
    if baseline == "image":
        baseline = np.random.default_rng(1).uniform(size=(32, 32, 3)).astype("float32")
    lcam = LCAM(classifier, variant="img", baseline=baseline, epochs=0).fit(x, y[:3])
    if isinstance(baseline, str) and baseline == "blur":
        fill = ndimage.gaussian_filter(x, sigma=(0, 1.6, 1.6, 0), mode="nearest")
    elif isinstance(baseline, str):
        fill = np.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape)
    else:
        fill = np.broadcast_to(np.asarray(baseline, "float32"), x.shape)
    for value, expected in ((0.0, fill), (1.0, x)):
        _, got = lcam._masked_logits(tf.constant(x),
                                     lambda f, v=value: tf.fill((3, *f.shape[1:3], 1), v))
        np.testing.assert_allclose(tf.nn.softmax(got), classifier(np.array(expected)),
                                   rtol=1e-4, atol=1e-5)


def test_baseline_errors(data):
    """Check a baseline for L-CAM-Fm, per-image baselines and bad values are refused."""
    (X, y, _), _ = data
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3),
                            keras.layers.GlobalAveragePooling2D(),
                            keras.layers.Dense(2, activation="softmax")])
    with pytest.raises(ValueError, match="variant='fm' masks the features"):
        LCAM(net, variant="fm", baseline="mean").fit(X[:4], y[:4])
    with pytest.raises(ValueError, match="not one per image"):
        LCAM(net, baseline=np.zeros((4, 32, 32, 3))).fit(X[:4], y[:4])
    with pytest.raises(ValueError, match="'baseline' parameter must be one of 'mean', 'blur'"):
        LCAM(net, baseline="grey").fit(X[:4], y[:4])
    with pytest.raises(ValueError, match="baseline has 2 values but the images have 3"):
        LCAM(net, baseline=[0.1, 0.2]).fit(X[:4], y[:4])
