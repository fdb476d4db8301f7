"""Tiny models built in the tests themselves; nothing is downloaded."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def cam_model(size=16, channels=3, classes=4, filters=6, activation="softmax", seed=0):
    """Conv -> GlobalAveragePooling -> Dense: the model CAM was defined for."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((size, size, channels)),
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(classes, activation=activation, name="fc"),
        ]
    )


def activations(model, layer, images):
    """Activations of ``layer`` by plain Keras slicing (independent of explainkit)."""
    sliced = keras.Model(model.inputs[0], model.get_layer(layer).output)
    return np.asarray(sliced(np.asarray(images, dtype="float32")))


@pytest.fixture(scope="session")
def cam_net():
    return cam_model()


@pytest.fixture
def images():
    return np.random.default_rng(0).uniform(0, 1, size=(5, 16, 16, 3)).astype("float32")
