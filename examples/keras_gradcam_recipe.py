"""The Keras blog's Grad-CAM recipe with explainkit: VGG16, ``block5_conv3``, a jet overlay.

keras.io's "Grad-CAM class activation visualization" builds a model from the input to the
last convolutional layer and the predictions, removes the softmax, records the gradient of
the top class with a GradientTape, pools it per channel and draws the heatmap over the
image in jet at alpha 0.4. With explainkit that is one call: it finds ``block5_conv3``
itself and differentiates the logits before VGG16's softmax.

Nothing is downloaded. When the ImageNet weights of VGG16 are already in the Keras cache
(``~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels.h5``, or under
``$KERAS_HOME``), they are loaded from there and the map explains a real prediction on
scikit-image's cat (``skimage.data.chelsea()``); otherwise the example says so and uses
``weights=None``: the recipe runs the same, but a random network's maps mean nothing.
``--quick`` explains a 64x64 VGG16 backbone with a small random head instead (always
``weights=None``), to check the recipe runs in a few seconds.

    python examples/keras_gradcam_recipe.py [--quick] [--output DIR]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data  # noqa: E402
from skimage.transform import resize  # noqa: E402

import explainkit  # noqa: E402
from explainkit.plotting import overlay_rgb, plot_overlay  # noqa: E402

WEIGHTS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
CLASS_INDEX_FILE = "imagenet_class_index.json"
ALPHA = 0.4  # the recipe's heatmap opacity


def cached_file(name: str) -> Path | None:
    """A file in the Keras cache (``$KERAS_HOME``, ``~/.keras`` or ``/tmp/.keras``), or None.

    Only looks: never downloads.
    """
    homes = [os.environ.get("KERAS_HOME"), "~/.keras", "/tmp/.keras"]
    for home in filter(None, homes):
        path = Path(home).expanduser() / "models" / name
        if path.is_file():
            return path
    return None


def imagenet_names() -> list[str] | None:
    """The ImageNet class names from the Keras cache, or None when not cached."""
    path = cached_file(CLASS_INDEX_FILE)
    if path is None:
        return None
    index = json.loads(path.read_text())
    return [index[str(i)][1] for i in range(len(index))]


def build_model(quick: bool) -> tuple[keras.Model, bool, int]:
    """VGG16 as the recipe uses it; returns the model, whether it is pretrained, its input size.

    The ImageNet weights are loaded from a local file only (``weights=None`` then
    ``load_weights``), so no download can happen.
    """
    if quick:
        base = keras.applications.VGG16(weights=None, include_top=False,
                                        input_shape=(64, 64, 3))
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(base.output)
        outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
        print("quick mode: VGG16 backbone at 64x64 with a 10-class head, weights=None")
        return keras.Model(base.input, outputs, name="vgg16_quick"), False, 64
    model = keras.applications.VGG16(weights=None)
    weights = cached_file(WEIGHTS_FILE)
    if weights is None:
        print(f"pretrained weights are not available ({WEIGHTS_FILE} is not in the Keras "
              "cache): using weights=None, the structure only; the maps are not meaningful")
        return model, False, 224
    model.load_weights(weights)
    print(f"loaded the ImageNet weights from {weights}")
    return model, True, 224


def main() -> None:
    """Classify the cat, compute Grad-CAM like the recipe, save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small random model, fast")
    parser.add_argument("--output", default="example_output/keras_gradcam_recipe",
                        help="folder for the PNG figures")
    args = parser.parse_args()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)

    keras.utils.set_random_seed(0)
    model, pretrained, size = build_model(args.quick)
    cat = resize(data.chelsea(), (size, size), preserve_range=True, anti_aliasing=True)
    image = keras.applications.vgg16.preprocess_input(cat.astype(np.float32))

    probabilities = model.predict(image[None], verbose=0)[0]
    top = int(np.argmax(probabilities))
    names = imagenet_names() if pretrained else None
    label = f"{names[top]} (index {top})" if names else f"class index {top}"
    print(f"top prediction: {label}, probability {probabilities[top]:.3f}")

    # The whole recipe: feature layer and logits found automatically, gradients pooled per
    # channel, ReLU. "none" keeps the 14x14 (or 4x4) heatmap the recipe draws with matshow.
    explainer = explainkit.GradCAM(model, output_upsampling="none").fit()
    print(f"explainkit used feature layer {explainer.feature_layer_} and reduction layer "
          f"{explainer.reduction_layer_} (the logits before the softmax)")
    heatmap = explainer.explain(image, top).score_map
    score_map = explainkit.gradcam(model, image, top)  # bicubic, at the image's size
    print(f"heatmap {heatmap.shape[0]}x{heatmap.shape[1]}, max {heatmap.max():.3g}; "
          f"score map {score_map.shape[0]}x{score_map.shape[1]}")
    if heatmap.max() <= 0:
        print("the heatmap is all zero (no positive evidence): the overlay is blank")

    written = []
    fig, axes = plt.subplots(1, 3, figsize=(12.4, 4))
    axes[0].imshow(cat.astype(np.uint8))
    axes[0].set_title(f"{label}: {probabilities[top]:.3g}")
    axes[0].set_axis_off()
    shown = axes[1].imshow(heatmap, cmap="viridis")  # the recipe's plt.matshow(heatmap)
    axes[1].set_title(f"{explainer.feature_layer_} heatmap, "
                      f"{heatmap.shape[0]}x{heatmap.shape[1]}")
    axes[1].set_axis_off()
    fig.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.04)
    plot_overlay(cat, score_map, ax=axes[2], alpha=ALPHA, cmap="jet",
                 title=f"Grad-CAM, jet at alpha {ALPHA}")
    if not pretrained:
        fig.suptitle("weights=None: a random network, the map is not meaningful",
                     color="firebrick")
    fig.tight_layout()
    path = output / "gradcam_recipe.png"
    fig.savefig(path, dpi=100)
    written.append(path)

    # The recipe's last step: the superimposed image itself, saved as an image file.
    path = output / "superimposed.png"
    plt.imsave(path, overlay_rgb(cat, score_map, alpha=ALPHA, cmap="jet"))
    written.append(path)

    plt.close("all")
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
