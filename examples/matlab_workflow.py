"""MATLAB's "why did the network decide that?" workflow, in Python.

The steps of MATLAB's examples on understanding network predictions: train a small CNN
(square vs disc, ``explainkit.datasets.make_shapes``), classify a test image and title it
with the top classes and their scores, then look at the evidence with ``gradCAM``,
``occlusionSensitivity`` and ``imageLIME``, side by side. When ``explainkit.matlab`` is
available the single-image step uses its MATLAB names (1-based labels, name-value options),
and the example checks that they give the same maps as explainkit's Python API, which draws
the comparison of several images (``plot_comparison``) and LIME's most important features
(``plot_lime``). As a sanity number it reports how much of each map falls on the object
(the data set's masks).

    python examples/matlab_workflow.py [--quick] [--output DIR]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import explainkit  # noqa: E402
from explainkit.datasets import SHAPE_NAMES, make_shapes  # noqa: E402
from explainkit.plotting import plot_comparison, plot_lime, plot_overlay  # noqa: E402

try:  # the MATLAB porting layer (1-based labels, MATLAB's option names)
    from explainkit.matlab import gradCAM, imageLIME, occlusionSensitivity
except ImportError:  # an explainkit without it: the Python API does the same
    gradCAM = imageLIME = occlusionSensitivity = None

CLASS_NAMES = list(SHAPE_NAMES)


def build_model(image_size: int) -> keras.Model:
    """Two conv blocks, global average pooling and a softmax classifier."""
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 3)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="last_conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(CLASS_NAMES), activation="softmax", name="predictions"),
        ]
    )


def top_classes(scores: np.ndarray, k: int = 3) -> str:
    """MATLAB's title: the ``k`` best classes with their scores, best first."""
    best = np.argsort(-scores)[:k]
    return ", ".join(f"{CLASS_NAMES[c]} {scores[c]:.2f}" for c in best)


def object_share(score_map: np.ndarray, mask: np.ndarray) -> float:
    """Share of a map's positive mass that lies on the object."""
    positive = np.maximum(score_map, 0)
    return float(positive[mask].sum() / max(positive.sum(), 1e-12))


def explain_one(model, image, label: str, num_samples: int) -> dict[str, np.ndarray]:
    """Grad-CAM, occlusion and LIME maps of one image, with MATLAB's names when available."""
    if gradCAM is not None:
        grad, feature_layer, _ = gradCAM(model, image, label, ClassNames=CLASS_NAMES)
        occ = occlusionSensitivity(model, image, label, ClassNames=CLASS_NAMES)
        lime, _, _ = imageLIME(model, image, label, ClassNames=CLASS_NAMES,
                               NumSamples=num_samples, RandomState=0)
        api = "explainkit.matlab (gradCAM, occlusionSensitivity, imageLIME)"
    else:
        grad, feature_layer, _ = explainkit.gradcam(model, image, label,
                                                    class_names=CLASS_NAMES, return_layers=True)
        occ = explainkit.occlusion_sensitivity(model, image, label, class_names=CLASS_NAMES)
        lime = explainkit.image_lime(model, image, label, class_names=CLASS_NAMES,
                                     num_samples=num_samples, random_state=0)
        api = "explainkit's Python API (explainkit.matlab is not available)"
    print(f"single image explained with {api}; Grad-CAM feature layer: {feature_layer}")
    return {"gradCAM": grad, "occlusionSensitivity": occ, "imageLIME": lime}


def main() -> None:
    """Train, classify, explain with three methods, compare, save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--output", default="example_output/matlab_workflow",
                        help="folder for the PNG figures")
    args = parser.parse_args()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    n_train, epochs, n_shown, n_samples = (600, 5, 2, 256) if args.quick else (1200, 8, 4, 2048)

    # Train (MATLAB: trainNetwork / trainnet).
    keras.utils.set_random_seed(0)
    X, y, masks = make_shapes(n_train + 100, 32, random_state=0)
    X_test, y_test, masks_test = X[n_train:], y[n_train:], masks[n_train:]
    model = build_model(32)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(X[:n_train], y[:n_train], epochs=epochs, batch_size=32, verbose=0)
    print(f"test accuracy: {model.evaluate(X_test, y_test, verbose=0)[1]:.2f}")

    # Classify one image and title it with the top classes (MATLAB: classify + maxk).
    image = X_test[0]
    scores = model.predict(image[None], verbose=0)[0]
    label = CLASS_NAMES[int(np.argmax(scores))]
    print(f"image 0 (true: {CLASS_NAMES[y_test[0]]}): {top_classes(scores)}")

    maps = explain_one(model, image, label, n_samples)
    written = []
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    axes[0].imshow(image)
    axes[0].set_title(top_classes(scores))
    axes[0].set_axis_off()
    for ax, (name, score_map) in zip(axes[1:], maps.items(), strict=True):
        plot_overlay(image, score_map, ax=ax, title=f"{name}: {label}")
        share = object_share(score_map, masks_test[0])
        print(f"{name}: share of the map on the object {share:.2f}")
    print(f"(the object covers {masks_test[0].mean():.2f} of the image)")
    fig.tight_layout()
    path = output / "matlab_single_image.png"
    fig.savefig(path, dpi=100)
    written.append(path)

    # The same with explainkit's Python API, for several images at once.
    images = X_test[:n_shown]
    explanations = [
        explainkit.explain(model, images, method="gradcam", class_names=CLASS_NAMES),
        explainkit.explain(model, images, method="occlusion", class_names=CLASS_NAMES),
        explainkit.explain(model, images, method="lime", class_names=CLASS_NAMES,
                           num_samples=n_samples, random_state=0),
    ]
    if gradCAM is not None:
        agree = [np.allclose(e.maps[0, ..., 0], m, rtol=1e-4, atol=1e-6)
                 for e, m in zip(explanations, maps.values(), strict=True)]
        print("explainkit.matlab and the Python API give the same maps: "
              + ", ".join(f"{name} {ok}" for name, ok in zip(maps, agree, strict=True)))
    shares = {e.method: np.mean([object_share(e.maps[i, ..., 0], masks_test[i])
                                 for i in range(n_shown)]) for e in explanations}
    print(f"share of the map on the object over {n_shown} test images: "
          + ", ".join(f"{method} {share:.2f}" for method, share in shares.items())
          + f" (objects cover {masks_test[:n_shown].mean():.2f})")

    comparison = plot_comparison(explanations)
    for i in range(n_shown):
        comparison.axes_[i, 0].set_title(f"true: {CLASS_NAMES[y_test[i]]}")
    comparison.figure_.tight_layout()
    path = output / "matlab_comparison.png"
    comparison.figure_.savefig(path, dpi=100)
    written.append(path)

    fig, axes = plt.subplots(1, n_shown, figsize=(3.6 * n_shown, 3.9), squeeze=False)
    for i in range(n_shown):
        plot_lime(explanations[2], index=i, num_top=3, ax=axes[0, i])
    fig.suptitle("imageLIME: the 3 most important superpixels")
    fig.tight_layout()
    path = output / "matlab_lime_top_features.png"
    fig.savefig(path, dpi=100)
    written.append(path)

    plt.close("all")
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
