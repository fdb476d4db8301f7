"""The ``explainkit`` command line: ``explainkit demo`` and ``explainkit explain``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

METHOD_CHOICES = ("gradcam", "occlusion", "lime", "all")

#: --preprocess choices: keras.applications modules whose preprocess_input is applied to
#: 0-255 RGB pixels; "none" = pixels scaled to [0, 1], "raw" = 0-255 as they are.
PREPROCESS = {
    "none": None, "raw": None,
    "vgg16": "vgg16", "vgg19": "vgg19", "resnet": "resnet50", "resnet_v2": "resnet_v2",
    "mobilenet": "mobilenet", "mobilenet_v2": "mobilenet_v2",
    "mobilenet_v3": "mobilenet_v3", "inception_v3": "inception_v3", "xception": "xception",
    "densenet": "densenet", "efficientnet": "efficientnet", "convnext": "convnext",
}  # fmt: skip

UNSAFE_HELP = (
    "allow Python code stored in the model file (Lambda layers) to run when loading it. "
    "A .keras file can carry arbitrary code; Keras refuses it in safe mode, and so does "
    "explainkit unless you trust the file and pass this flag"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="explainkit",
        description="MATLAB-style explanations (Grad-CAM, occlusion sensitivity, image LIME) "
                    "of Keras models.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="explain the embedded demo models and write a gallery",
        description="Explain three small embedded models (classifier, regressor, segmenter) "
                    "with all three methods; write figures and index.html.")
    demo.add_argument("--output", default="explainkit-demo", help="output folder "
                      "(default: %(default)s)")
    demo.add_argument("--quick", action="store_true", help="fewer images and samples")

    explain = commands.add_parser(
        "explain", help="explain a saved Keras model's prediction on image files",
        description="Explain a saved Keras model (.keras) on one or more image files; write "
                    "one PNG per image and a .npz with the maps.")
    explain.add_argument("model", help="a Keras model file (.keras, or .h5)")
    explain.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    explain.add_argument("--method", choices=METHOD_CHOICES, default="gradcam",
                         help="method, or all three side by side (default: %(default)s)")
    explain.add_argument("--target", help="class index or name (default: the prediction)")
    explain.add_argument("--class-names", type=Path,
                         help="text file with one class name per line")
    explain.add_argument("--output", type=Path, default=Path("explanations"),
                         help="output folder (default: %(default)s)")
    explain.add_argument("--preprocess", choices=tuple(PREPROCESS), default="none",
                         help="pixel preprocessing: none = [0, 1], raw = 0-255, or a "
                              "keras.applications family (default: %(default)s)")
    explain.add_argument("--batch-size", type=int, help="images per model call")
    explain.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                         help="progress bars (default: on long runs in a terminal)")
    grad = explain.add_argument_group("Grad-CAM")
    grad.add_argument("--feature-layer", default="auto")
    grad.add_argument("--reduction-layer", default="auto")
    occ = explain.add_argument_group("occlusion sensitivity")
    occ.add_argument("--mask-size", type=int, help="patch size (default: 20%% of the image)")
    occ.add_argument("--stride", type=int, help="patch step (default: 10%% of the image)")
    lime = explain.add_argument_group("image LIME")
    lime.add_argument("--num-features", type=int, default=49)
    lime.add_argument("--num-samples", type=int, default=2048)
    lime.add_argument("--segmentation", choices=("superpixels", "grid"),
                      default="superpixels")
    lime.add_argument("--surrogate", choices=("tree", "linear"), default="tree",
                      help="LIME's simple model (default: %(default)s)")
    lime.add_argument("--random-state", type=int, default=0)
    explain.add_argument("--unsafe", action="store_true", help=UNSAFE_HELP)
    return parser


def load_images(paths, size: tuple | None, preprocess: str):
    """Read image files as 0-255 RGB, resize to the model's input size, preprocess.

    Grayscale files are repeated to three channels and RGBA files composited on white;
    float files in [0, 1] are scaled to 0-255 first.
    """
    import numpy as np
    from skimage import io, transform
    from skimage.color import gray2rgb, rgba2rgb

    images = []
    for path in paths:
        raw = io.imread(path)
        image = raw.astype(np.float32)
        if np.issubdtype(raw.dtype, np.floating) and image.max() <= 1.0:
            image = image * 255.0
        if image.ndim == 2:
            image = gray2rgb(image)
        elif image.shape[-1] == 4:
            image = rgba2rgb(image / 255.0) * 255.0
        if size is not None and image.shape[:2] != size:
            image = transform.resize(image, size, preserve_range=True, anti_aliasing=True)
        images.append(np.asarray(image, dtype=np.float32))
    sizes = {image.shape for image in images}
    if len(sizes) > 1:
        raise SystemExit(f"explainkit: the images have different sizes {sorted(sizes)}; the "
                         "model's input size is not fixed, so resize them to one size.")
    batch = np.stack(images)
    if preprocess == "none":
        return batch / 255.0
    if preprocess == "raw":
        return batch
    import importlib

    module = importlib.import_module(f"keras.applications.{PREPROCESS[preprocess]}")
    return np.asarray(module.preprocess_input(batch), dtype=np.float32)


def _load_model(path: str, unsafe: bool):
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=not unsafe)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "unsafe" in str(exc).lower():
            raise SystemExit(
                f"explainkit: {path} contains Python code (e.g. a Lambda layer) that Keras "
                "will not run in safe mode. If you trust this file, pass --unsafe."
            ) from exc
        raise


def _explain(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import explainkit
    from explainkit import plotting

    net = _load_model(args.model, args.unsafe)
    input_shape = tuple(net.inputs[0].shape) if getattr(net, "inputs", None) else None
    size = tuple(input_shape[1:3]) if input_shape and None not in input_shape[1:3] else None
    X = load_images(args.images, size, args.preprocess)
    class_names = None
    if args.class_names is not None:
        class_names = [line.strip() for line in args.class_names.read_text().splitlines()
                       if line.strip()]
    target = args.target
    if target is not None and target.lstrip("-").isdigit():
        target = int(target)
    common = {"class_names": class_names}
    if args.batch_size is not None:
        common["batch_size"] = args.batch_size
    options = {
        "gradcam": {"feature_layer": args.feature_layer,
                    "reduction_layer": args.reduction_layer},
        "occlusion": {"mask_size": args.mask_size or "auto", "stride": args.stride or "auto",
                      "progress": args.progress},
        "lime": {"num_features": args.num_features, "num_samples": args.num_samples,
                 "segmentation": args.segmentation, "model": args.surrogate,
                 "random_state": args.random_state, "progress": args.progress},
    }
    methods = ("gradcam", "occlusion", "lime") if args.method == "all" else (args.method,)
    explanations = [explainkit.explain(net, X, target, method=m, **common, **options[m])
                    for m in methods]
    args.output.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(args.images):
        stem = Path(path).stem
        if len(explanations) > 1:
            figure = plotting.plot_comparison(explanations, indices=[i]).figure_
        else:
            figure = explanations[0].plot(index=i).figure_
        out = args.output / f"{stem}_{args.method}.png"
        figure.savefig(out, dpi=100)
        plt.close(figure)
        e = explanations[0]
        name = e.target_names[i, 0] if e.target_names is not None else e.targets[i, 0]
        print(f"{path}: {name} (score {e.scores[i, 0]:.4g}) -> {out}")
    arrays = {f"{e.method}_maps": e.maps for e in explanations}
    arrays["targets"] = explanations[0].targets
    arrays["scores"] = explanations[0].scores
    np.savez_compressed(args.output / "explanations.npz", **arrays)
    print(f"maps: {args.output / 'explanations.npz'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # tracing notes are for developers, not for this tool
    if args.command == "demo":
        from ._demo import run

        files = run(args.output, quick=args.quick)
        print(f"open {files[-1].resolve()}")
        return 0
    return _explain(args)


if __name__ == "__main__":
    sys.exit(main())
