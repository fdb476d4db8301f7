"""Tiny models built in the tests themselves; nothing is downloaded."""

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")  # figures are drawn off screen

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


def seg_model(seed=0):
    """Conv (``enc``) -> 1x1 conv softmax over 3 classes (``seg``), 12x12 RGB input."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((12, 12, 3)),
        keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="enc"),
        keras.layers.Conv2D(3, 1, activation="softmax", name="seg"),
    ])  # fmt: skip


def pixel_classifier(size=12, channels=3, sharpness=5.0):
    """A segmenter whose class at each pixel is the pixel's brightest channel.

    Two 1x1 convolutions with identity kernels (``enc`` linear, ``seg`` softmax of
    ``sharpness`` times the channels): tests choose the predicted classes through the image.
    """
    net = keras.Sequential([
        keras.Input((size, size, channels)),
        keras.layers.Conv2D(channels, 1, name="enc"),
        keras.layers.Conv2D(channels, 1, activation="softmax", name="seg"),
    ])  # fmt: skip
    eye = np.eye(channels, dtype="float32")[None, None]
    net.get_layer("enc").set_weights([eye, np.zeros(channels, "float32")])
    net.get_layer("seg").set_weights([sharpness * eye, np.zeros(channels, "float32")])
    return net


class _Subclassed(keras.Model):
    """The layers of a Sequential model called from a subclassed model's own call."""

    def __init__(self, layers):
        super().__init__(name="wrapped")
        self.parts = layers

    def call(self, x):
        for layer in self.parts:
            x = layer(x)
        return x


def subclassed_copy(net):
    """A built subclassed model that calls ``net``'s layers (shared, not copied) in order."""
    model = _Subclassed(list(net.layers))
    model(np.zeros((1, *net.inputs[0].shape[1:]), "float32"))
    return model


ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_python(*args, timeout=600) -> subprocess.CompletedProcess:
    """``python *args`` in the repository root, quiet TensorFlow and the Agg backend."""
    return subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout,
        check=False, cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"},
    )  # fmt: skip


def spy_tape(net, layer, x, score_of):
    """The output of ``layer`` in ``net``'s own eager call and the gradient of the score at
    it: the layer's call is wrapped (here, for this call only) to keep its output."""
    import tensorflow as tf

    kept, original = [], layer.call

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        kept.append(out)
        return out

    object.__setattr__(layer, "call", spy)
    try:
        with tf.GradientTape() as tape:
            score = score_of(net(tf.convert_to_tensor(x), training=False))
    finally:
        object.__delattr__(layer, "call")
    out = kept[-1][0] if isinstance(kept[-1], (tuple, list)) else kept[-1]
    return out.numpy(), tape.gradient(score, out).numpy()
