"""LIME's features on images whose object masks are known: which segmentation follows objects.

On ``explainkit.datasets.make_shapes`` images (a bright square or disc on a noisy
background, the mask known), for SLIC (fixed compactness, ``segmentation="slic"``), SLIC0
(adaptive compactness, ``"superpixels"``, MATLAB's default) and the grid:

- **object coverage**: the share of object pixels that lie in features that are mostly
  (> 50%) object. 1 = every object pixel is in an object feature.
- **undersegmentation error** (Neubert & Protzel 2012's form): for every feature, the
  smaller of its parts inside and outside the object, summed and divided by the pixels.
  0 = every feature is all object or all background.
- **count**: the number of features produced, against the ``num_features`` asked for.
- **LIME on the demo classifier** (embedded, trained on these shapes): the share of the
  pixels of the top-ranked feature (default tree surrogate, 1024 samples) that are object,
  averaged over images, and the share of images whose top feature is mostly object:
  whether the map points at the object.

The segmentations are deterministic, so there is no timing here; one run gives the numbers.

References
----------
P. Neubert and P. Protzel, "Superpixel Benchmark and Comparison", Forum Bildverarbeitung,
2012. R. Achanta et al., "SLIC Superpixels Compared to State-of-the-Art Superpixel
Methods", IEEE TPAMI 34(11), 2012.
"""

from __future__ import annotations

import numpy as np
from _harness import markdown_table, save_results

import explainkit
from explainkit._segmentation import grid, superpixels
from explainkit.datasets import make_shapes

NAME = "superpixels"
SEGMENTATIONS = ("superpixels", "slic", "grid")
CASES = [(32, 16), (32, 49), (64, 49), (64, 100), (128, 49)]  # (image size, num_features)
IMAGES = 64
LIME_IMAGES = 128
LIME_SAMPLES = 1024


def features(segmentation: str, image: np.ndarray, num_features: int) -> np.ndarray:
    """The feature map ``ImageLIME`` uses for one image."""
    if segmentation == "grid":
        return grid(*image.shape[:2], num_features)
    return superpixels(image, num_features, adaptive=segmentation == "superpixels")


def adherence(labels: np.ndarray, mask: np.ndarray) -> tuple[float, float, int]:
    """(object coverage, undersegmentation error, feature count) of one feature map."""
    count = int(labels.max()) + 1
    inside = np.bincount(labels[mask], minlength=count)
    outside = np.bincount(labels[~mask], minlength=count)
    coverage = inside[inside > outside].sum() / mask.sum()
    error = np.minimum(inside, outside).sum() / mask.size
    return float(coverage), float(error), count


def lime_on_object(segmentation: str, X, masks, net) -> tuple[float, float]:
    """Mean share of object pixels in the top-ranked LIME feature, and the share of images
    whose top feature is mostly object (demo classifier)."""
    explanation = explainkit.ImageLIME(net, segmentation=segmentation,
                                       num_samples=LIME_SAMPLES, random_state=0).fit().explain(X)
    shares = []
    for i in range(len(X)):
        top = int(np.argmax(explanation.feature_importance[i][:, 0]))
        shares.append(masks[i][explanation.feature_map[i] == top].mean())
    return float(np.mean(shares)), float(np.mean(np.asarray(shares) > 0.5))


def main() -> None:
    rows, results = [], {"cases": []}
    for size, num_features in CASES:
        X, _, masks = make_shapes(IMAGES, size, random_state=size + num_features)
        for segmentation in SEGMENTATIONS:
            values = np.array([adherence(features(segmentation, X[i], num_features), masks[i])
                               for i in range(IMAGES)])
            record = {"image_size": size, "num_features": num_features,
                      "segmentation": segmentation,
                      "object_coverage": float(values[:, 0].mean()),
                      "undersegmentation_error": float(values[:, 1].mean()),
                      "count_median": float(np.median(values[:, 2])),
                      "count_min": int(values[:, 2].min()), "count_max": int(values[:, 2].max())}
            results["cases"].append(record)
            rows.append([f"{size}x{size}", num_features, segmentation,
                         record["object_coverage"], record["undersegmentation_error"],
                         f"{record['count_median']:.0f} ({record['count_min']}-"
                         f"{record['count_max']})"])
            print(rows[-1], flush=True)
    from explainkit._demo import load_model

    net = load_model("classifier")
    size = int(net.inputs[0].shape[1])
    X, _, masks = make_shapes(LIME_IMAGES, size, random_state=7)
    lime_rows = []
    results["lime"] = {"image_size": size, "images": LIME_IMAGES, "num_samples": LIME_SAMPLES}
    for segmentation in SEGMENTATIONS:
        share, hits = lime_on_object(segmentation, X, masks, net)
        results["lime"][segmentation] = {"top_feature_object_share": share,
                                         "images_top_feature_mostly_object": hits}
        lime_rows.append([segmentation, share, hits])
        print(lime_rows[-1], flush=True)
    markdown = "\n".join([
        "LIME's feature maps on `explainkit.datasets.make_shapes` images (object mask known), "
        f"{IMAGES} images per case. Coverage = share of object pixels in features that are "
        "mostly object (higher is better); UE = undersegmentation error, the smaller part of "
        "each feature inside/outside the object, over all pixels (lower is better); count = "
        "median (min-max) features produced.",
        "",
        markdown_table(["image", "num_features", "segmentation", "coverage", "UE", "count"],
                       rows),
        "",
        f"## LIME on the demo classifier ({size}x{size}, {LIME_IMAGES} images, tree "
        f"surrogate, {LIME_SAMPLES} samples)",
        "",
        "Mean share of the top-ranked feature's pixels that are object, and share of the "
        "images whose top-ranked feature is mostly object (higher: the map points at the "
        "object).",
        "",
        markdown_table(["segmentation", "top feature: object share", "images: top feature "
                        "mostly object"], lime_rows),
    ])
    save_results(NAME, results, markdown)
    print(f"wrote benchmarks/results/{NAME}.json and .md")


if __name__ == "__main__":
    main()
