"""Explain a scikit-learn classifier of 8x8 digits with occlusion sensitivity and image LIME.

Neither method needs gradients, so any estimator that takes the image batch works. Here a
Pipeline flattens the ``(N, 8, 8, 1)`` digit images and feeds a logistic regression; the
explanations show which pixels (occlusion, 2x2 masks at stride 1) and which 2x2 cells
(LIME, a 4x4 grid) raise or lower the predicted digit's probability. Hidden pixels show
blank paper (0), so "hiding" a stroke removes ink.

    python examples/sklearn_digits.py [--quick] [--output DIR]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

import explainkit  # noqa: E402
from explainkit.plotting import plot_comparison, plot_lime  # noqa: E402

CLASS_NAMES = [str(d) for d in range(10)]


def flatten(images: np.ndarray) -> np.ndarray:
    """Flatten an image batch ``(N, H, W, C)`` to ``(N, H * W * C)`` features."""
    images = np.asarray(images)
    return images.reshape(len(images), -1)


def load_images() -> tuple[np.ndarray, np.ndarray]:
    """The digits as ``(N, 8, 8, 1)`` float32 images in [0, 1] and their labels."""
    digits = load_digits()
    return (digits.images[..., None] / 16.0).astype(np.float32), digits.target


def main() -> None:
    """Train the pipeline, explain a few test digits, save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--output", default="example_output/sklearn_digits",
                        help="folder for the PNG figures")
    args = parser.parse_args()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    n_shown, n_samples = (3, 256) if args.quick else (5, 1024)

    X, y = load_images()
    X_train, y_train, X_test, y_test = X[:1200], y[:1200], X[1200:], y[1200:]
    pipeline = make_pipeline(FunctionTransformer(flatten), LogisticRegression(max_iter=500))
    pipeline.fit(X_train, y_train)
    print(f"test accuracy: {pipeline.score(X_test, y_test):.3f} "
          f"({len(X_train)} train / {len(X_test)} test digits)")

    images = X_test[:n_shown]
    occlusion = explainkit.explain(pipeline, images, method="occlusion", mask_size=2,
                                   stride=1, mask_value=0.0, class_names=CLASS_NAMES)
    lime = explainkit.explain(pipeline, images, method="lime", segmentation="grid",
                              num_features=16, num_samples=n_samples, model="linear",
                              mask_value=0.0, random_state=0, class_names=CLASS_NAMES)
    for i in range(n_shown):
        importance = lime.feature_importance[i][:, 0]
        best = int(np.argmax(importance))
        row, col = divmod(best, 4)
        print(f"digit {i}: true {y_test[i]}, predicted {occlusion.target_names[i, 0]} "
              f"(p={occlusion.scores[i, 0]:.2f}); occlusion max {occlusion.maps[i].max():+.3f}, "
              f"LIME's best cell: row {row}, column {col} ({importance[best]:+.3f})")

    written = []
    comparison = plot_comparison([occlusion, lime], scale="shared")
    comparison.figure_.suptitle("what raises (red) and lowers (blue) the predicted digit",
                                y=0.995)
    comparison.figure_.tight_layout()
    path = output / "digits_occlusion_vs_lime.png"
    comparison.figure_.savefig(path, dpi=100)
    written.append(path)

    fig, axes = plt.subplots(1, n_shown, figsize=(3.2 * n_shown, 3.9), squeeze=False)
    for i in range(n_shown):
        plot_lime(lime, index=i, num_top=4, ax=axes[0, i])
    fig.suptitle("LIME: the 4 most important cells of the 4x4 grid")
    fig.tight_layout()
    path = output / "digits_lime_top_cells.png"
    fig.savefig(path, dpi=100)
    written.append(path)

    plt.close("all")
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
