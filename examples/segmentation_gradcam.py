"""Grad-CAM for semantic segmentation: per class, and for one class inside a region of interest.

A tiny encoder-decoder network learns to label every pixel of
``explainkit.datasets.make_shapes`` images as background, square or disc (labels built from
the data set's masks). For segmentation, Grad-CAM explains a class's pre-softmax score
summed over all output pixels, or over a region of interest: ``roi`` is a boolean mask at
the output's resolution, here the left half of the image, so the map answers "what makes
the network label *those* pixels as the class". ``roi="predicted"`` sums over the pixels
predicted as the class.

Grad-CAM weighs each feature channel by its gradient averaged over the whole feature map,
so a region of interest changes which channels count (and the score), not where the map
may light up: a map for the left half can still cover the object's right half. (With a
1x1 classifier right after the feature layer, an ROI only rescales the map; that is why
this example explains the encoder's output rather than the automatic choice, the last
decoder layer.) Occlusion sensitivity with the same ``roi`` is shown for comparison: it
measures how hiding each patch changes the class's probabilities in the region.

    python examples/segmentation_gradcam.py [--quick] [--output DIR]
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
from explainkit.plotting import plot_segmentation  # noqa: E402

CLASS_NAMES = ("background", *SHAPE_NAMES)
#: The encoder's last layer: Grad-CAM's usual choice for encoder-decoder networks.
FEATURE_LAYER = "encoder_out"


def build_model(image_size: int) -> keras.Model:
    """A small encoder (at half resolution), a bilinear upsampling and a small decoder."""
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 3)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(32, 3, padding="same", dilation_rate=2, activation="relu",
                                name="encoder_out"),
            keras.layers.UpSampling2D(2, interpolation="bilinear"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="decoder"),
            keras.layers.Conv2D(len(CLASS_NAMES), 1, activation="softmax", name="classes"),
        ]
    )


def pixel_labels(y: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per-pixel classes: 0 background, 1 + ``y`` on the object's pixels."""
    return np.where(masks, y[:, None, None] + 1, 0)


def main() -> None:
    """Train the segmenter, explain one test image per class and in a ROI, save figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--output", default="example_output/segmentation_gradcam",
                        help="folder for the PNG figures")
    args = parser.parse_args()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    n_train, n_test, epochs = (300, 60, 4) if args.quick else (1500, 200, 12)
    size = 32

    keras.utils.set_random_seed(0)
    X, y, masks = make_shapes(n_train + n_test, size, random_state=1)
    labels = pixel_labels(y, masks)
    model = build_model(size)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    # Objects cover about a tenth of the pixels: weight their pixels up so that a few epochs
    # learn more than "everything is background".
    weights = np.where(masks[:n_train], 5.0, 1.0).astype(np.float32)
    model.fit(X[:n_train], labels[:n_train], sample_weight=weights, epochs=epochs,
              batch_size=32, verbose=0)
    X_test, y_test, masks_test = X[n_train:], y[n_train:], masks[n_train:]
    predicted = model.predict(X_test, verbose=0).argmax(axis=-1)
    truth = labels[n_train:]
    ious = [np.sum((predicted == c) & (truth == c))
            / max(np.sum((predicted == c) | (truth == c)), 1) for c in range(len(CLASS_NAMES))]
    print(f"pixel accuracy {np.mean(predicted == truth):.3f}; IoU "
          + ", ".join(f"{name} {iou:.2f}" for name, iou in zip(CLASS_NAMES, ious, strict=True)))

    # The test image whose object is closest to the vertical midline, so that the left-half
    # region of interest cuts it in two.
    centres = np.array([np.nonzero(m)[1].mean() for m in masks_test])
    index = int(np.argmin(np.abs(centres - (size - 1) / 2)))
    image, cls = X_test[index], int(y_test[index]) + 1
    print(f"test image {index}: a {CLASS_NAMES[cls]} centred at column {centres[index]:.1f}")

    auto_layer = explainkit.GradCAM(model).fit().feature_layer_
    print(f"automatic feature layer: {auto_layer}; this example uses {FEATURE_LAYER}")

    written = []
    display = plot_segmentation(model, image, class_names=CLASS_NAMES,
                                feature_layer=FEATURE_LAYER)
    # Move the class legend below the labels, where it cannot cover an object.
    labels_ax = display.axes_[0]
    legend = labels_ax.get_legend()
    labels_ax.legend(handles=legend.legend_handles, labels=[t.get_text() for t in legend.texts],
                     loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=3, fontsize="small",
                     frameon=False)
    display.figure_.suptitle(f"predicted labels and Grad-CAM ({FEATURE_LAYER}) of each "
                             "predicted class")
    display.figure_.tight_layout()
    path = output / "segmentation_per_class.png"
    display.figure_.savefig(path, dpi=100)
    written.append(path)

    roi = np.zeros((size, size), dtype=bool)  # the model's output is size x size too
    roi[:, : size // 2] = True
    panels = [
        ("gradcam", "all pixels", None),
        ("gradcam", "left half", roi),
        ("gradcam", 'roi="predicted"', "predicted"),
        ("occlusion", "left half", roi),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.7))
    for ax, (method, region, value) in zip(axes, panels, strict=True):
        options = {"feature_layer": FEATURE_LAYER} if method == "gradcam" else {}
        explanation = explainkit.explain(model, image, CLASS_NAMES[cls], method=method,
                                         roi=value, class_names=CLASS_NAMES, **options)
        explanation.plot(ax=ax)
        name = "Grad-CAM" if method == "gradcam" else "occlusion"
        ax.set_title(f"{name}, {CLASS_NAMES[cls]}\nsummed over {region}")
        if value is roi:
            ax.axvline(size / 2 - 0.5, color="white", linestyle="--", linewidth=1.5)
        score_map = np.maximum(explanation.maps[0, ..., 0], 0)
        total = max(score_map.sum(), 1e-12)
        print(f"{name} of {CLASS_NAMES[cls]} summed over {region}: score "
              f"{explanation.scores[0, 0]:.3g}; positive map mass in the left half "
              f"{score_map[:, : size // 2].sum() / total:.2f}, on the object "
              f"{score_map[masks_test[index]].sum() / total:.2f}")
    fig.suptitle(f"what makes the network label pixels as {CLASS_NAMES[cls]}: all pixels or a "
                 "region of interest (left of the dashed line)")
    fig.tight_layout()
    path = output / "segmentation_roi.png"
    fig.savefig(path, dpi=100)
    written.append(path)

    plt.close("all")
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
