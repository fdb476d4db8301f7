"""Explain a small CNN's predictions with Grad-CAM and save the overlays as a PNG.

Trains a tiny classifier (square vs disc, synthetic data, a few seconds on a CPU), asks
explainkit which pixels made it decide, and reports how much of each map falls on the
object (the ground truth the data set knows).

    python dev.py demo [--output gradcam_demo.png]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import explainkit  # noqa: E402
from explainkit.datasets import SHAPE_NAMES, make_shapes  # noqa: E402


def build_model(image_size: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 3)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="last_conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(SHAPE_NAMES), activation="softmax", name="predictions"),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="gradcam_demo.png", help="PNG file to write")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    X, y, masks = make_shapes(1200, 32, random_state=0)
    X_test, y_test, masks_test = X[1000:], y[1000:], masks[1000:]
    model = build_model(32)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(X[:1000], y[:1000], epochs=8, batch_size=32, verbose=0)
    accuracy = model.evaluate(X_test, y_test, verbose=0)[1]
    print(f"test accuracy: {accuracy:.2f}")

    images = X_test[:6]
    explanation = explainkit.explain(model, images, class_names=SHAPE_NAMES)
    print(f"feature layer: {explanation.feature_layer}, "
          f"reduction layer: {explanation.reduction_layer}")
    inside = [
        explanation.maps[i, ..., 0][masks_test[i]].sum() / max(explanation.maps[i].sum(), 1e-12)
        for i in range(len(images))
    ]
    print(f"share of Grad-CAM mass on the object: {np.mean(inside):.2f} "
          f"(object covers {masks_test[:6].mean():.2f} of the image)")

    fig, axes = plt.subplots(2, len(images), figsize=(2.2 * len(images), 4.6))
    for i in range(len(images)):
        axes[0, i].imshow(images[i])
        axes[0, i].set_title(f"true: {SHAPE_NAMES[y_test[i]]}")
        axes[0, i].set_axis_off()
        explanation.plot(ax=axes[1, i], index=i)
    fig.tight_layout()
    fig.savefig(args.output, dpi=100)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
