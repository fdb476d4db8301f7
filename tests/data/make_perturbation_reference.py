"""Write perturbation_reference.npz: the perturbation methods' results before the shared
batching path (commit 84c7f73), for tests/test_perturbation_path.py to compare against.

    .venv/bin/python tests/data/make_perturbation_reference.py

Each case runs one method (or metric) on the contract suite's model and images and on a
numpy predictor, at several batch sizes; the arrays are stored under the case's name.
"""

import inspect
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from conftest import cam_model, seg_model  # noqa: E402

import explainkit  # noqa: E402

OUT = Path(__file__).with_name("perturbation_reference.npz")

#: RISE's normalisation of 84c7f73 (the only one then; "coverage" is the default since).
PAPER = ({"normalization": "paper"}
         if "normalization" in inspect.signature(explainkit.RISE).parameters else {})


def numpy_predictor(X):
    """A fixed nonlinear three-class scorer of 16 x 16 x 3 images (plain numpy)."""
    w = np.random.default_rng(7).normal(size=(16, 16, 3)).astype(np.float32)
    s = (X * w).sum(axis=(1, 2, 3))
    t = (X[:, :8] ** 2).sum(axis=(1, 2, 3))
    return np.stack([s, t, np.tanh(s - t)], axis=1).astype(np.float32)


def cases():
    net = cam_model(seed=11)
    X = np.random.default_rng(2).uniform(0, 1, size=(5, 16, 16, 3)).astype("float32")
    seg = seg_model(seed=3)
    Xs = np.random.default_rng(4).uniform(0, 1, size=(3, 12, 12, 3)).astype("float32")
    masks = np.zeros((5, 16, 16), bool)
    masks[:, 4:10, 3:12] = True
    for model_name, model in (("keras", net), ("numpy", numpy_predictor)):
        for bs in (1, 4, "auto"):
            key = f"{model_name}_bs{bs}"
            yield f"occlusion_{key}", explainkit.explain(
                model, X, [0, 2], method="occlusion", mask_size=5, stride=3,
                batch_size=bs).maps
            yield f"occlusion_none_{key}", explainkit.explain(
                model, X, None, method="occlusion", mask_size=(4, 6), stride=(2, 5),
                mask_clipping=False, mask_value=0.3, output_upsampling="none",
                batch_size=bs).maps
            lime = explainkit.explain(model, X, [0, 2], method="lime", num_samples=256,
                                      random_state=0, batch_size=bs)
            yield f"lime_{key}", lime.maps
            yield f"lime_linear_{key}", explainkit.explain(
                model, X, 1, method="lime", num_samples=200, random_state=3,
                segmentation="grid", num_features=9, model="linear", batch_size=bs).maps
            yield f"rise_{key}", explainkit.explain(
                model, X, [0, 2], method="rise", num_masks=256, random_state=0, **PAPER,
                batch_size=bs).maps
            yield f"rise_auto_{key}", explainkit.explain(
                model, X, 1, method="rise", num_masks=100, grid_size=5, p=0.3,
                mask_value="auto", random_state=5, batch_size=bs, **PAPER).maps
            comparison = explainkit.compare(
                model, X, np.array([0, 1, 2, 0, 1]), methods=("occlusion",),
                metrics=("deletion", "insertion", "average_drop", "mu_fidelity"),
                method_options={"occlusion": {"mask_size": 4, "stride": 4}},
                batch_size=bs, random_state=0)
            for metric, result in comparison.results["occlusion"].items():
                yield f"compare_{metric}_{key}", np.asarray(result.values)
                if result.curves is not None:
                    yield f"compare_{metric}_curves_{key}", np.asarray(result.curves)
        if model_name == "keras":
            for bs in (1, 4, 32):
                yield f"scorecam_bs{bs}", explainkit.explain(
                    net, X, [0, 2], method="scorecam", batch_size=bs).maps
                yield f"scorecam_max_bs{bs}", explainkit.explain(
                    net, X, 1, method="scorecam", max_channels=3, batch_size=bs).maps
                yield f"seg_occlusion_bs{bs}", explainkit.explain(
                    seg, Xs, [0, 1], method="occlusion", mask_size=3, stride=2,
                    roi="predicted", batch_size=bs).maps
                yield f"seg_rise_bs{bs}", explainkit.explain(
                    seg, Xs, 2, method="rise", num_masks=128, grid_size=4, random_state=1,
                    batch_size=bs, **PAPER).maps
                yield f"seg_scorecam_bs{bs}", explainkit.explain(
                    seg, Xs, 1, method="scorecam", batch_size=bs).maps


def main():
    arrays = dict(cases())
    arrays["_versions"] = np.array([tf.__version__, keras.__version__, np.__version__])
    np.savez_compressed(OUT, **arrays)
    print(f"{len(arrays) - 1} arrays -> {OUT}")


if __name__ == "__main__":
    main()
