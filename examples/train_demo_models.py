"""Train the three small models that ship inside explainkit for ``explainkit demo``.

A classifier (square vs disc), a regressor (the object's share of the image, in percent)
and a segmenter (background / square / disc per pixel), all on 32x32 images from
``explainkit.datasets.make_shapes``, whose object masks are known. Seeded: running it again
reproduces the files (up to TensorFlow's own nondeterminism on other machines).

    python examples/train_demo_models.py [--output explainkit/_data]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from explainkit.datasets import make_shapes  # noqa: E402

SIZE = 32
ROOT = Path(__file__).resolve().parents[1]


def classifier() -> keras.Model:
    return keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="last_conv"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(2, activation="softmax", name="predictions"),
    ], name="shapes_classifier")  # fmt: skip


def regressor() -> keras.Model:
    return keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="last_conv"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(1, name="area_percent"),
    ], name="shapes_regressor")  # fmt: skip


def segmenter() -> keras.Model:
    return keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Conv2D(32, 5, padding="same", activation="relu", name="conv2"),
        keras.layers.Conv2D(32, 5, padding="same", activation="relu", name="last_conv"),
        keras.layers.UpSampling2D(name="upsample"),
        keras.layers.Conv2D(3, 1, activation="softmax", name="classes"),
    ], name="shapes_segmenter")  # fmt: skip


def _without_optimizer(model: keras.Model) -> keras.Model:
    """An uncompiled copy with the same weights: the saved file carries no optimizer state."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "explainkit" / "_data")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)

    keras.utils.set_random_seed(0)
    X, y, masks = make_shapes(2000, SIZE, random_state=0)
    train, test = slice(0, 1700), slice(1700, None)
    area = 100.0 * masks.mean(axis=(1, 2))
    pixels = np.where(masks, (y + 1)[:, None, None], 0)  # 0 background, 1 square, 2 disc

    jobs = [
        ("classifier", classifier(), "sparse_categorical_crossentropy", y, "accuracy"),
        ("regressor", regressor(), "mse", area, "mae"),
        ("segmenter", segmenter(), "sparse_categorical_crossentropy", pixels, "accuracy"),
    ]
    for name, model, loss, target, metric in jobs:
        model.compile(keras.optimizers.Adam(2e-3), loss, metrics=[metric])
        model.fit(X[train], target[train], epochs=args.epochs, batch_size=32, verbose=0)
        score = model.evaluate(X[test], target[test], verbose=0)[1]
        path = args.output / f"{name}.keras"
        _without_optimizer(model).save(path)
        print(f"{name}: test {metric} {score:.3f}, saved {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
