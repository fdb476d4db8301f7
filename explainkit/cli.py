"""The ``explainkit`` command line: ``explainkit demo``, ``explain``, ``compare`` and
``activations``.

Only the standard library is imported at module level: the arguments are parsed (and
``--help`` answered) before TensorFlow, Keras or matplotlib are imported. A user's mistake
(a missing file, an unknown layer or class name, a model that needs ``--unsafe``) ends
with one ``explainkit: error: ...`` line on stderr and exit status 2; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import base64
import html
import re
import shlex
import sys
import zipfile
from pathlib import Path

#: Every method's ``method_name`` (tests check this against explainkit's registry: --help
#: answers without importing the methods); "all" = MATLAB's three, "cams" = the CAM family.
METHOD_NAMES = ("gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "eigencam",
                "scorecam", "ablationcam", "cam", "guided_gradcam", "saliency",
                "gradient_input", "smoothgrad", "integrated_gradients", "guided_backprop",
                "occlusion", "lime", "rise", "lcam")
METHOD_GROUPS = {
    "all": ("gradcam", "occlusion", "lime"),
    "cams": ("gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "eigencam",
             "scorecam", "ablationcam"),
}
METHODS_HELP = (f"one method or several, comma-separated: {', '.join(METHOD_NAMES)}; "
                "'all' = gradcam,occlusion,lime; 'cams' = the CAM family")
#: The metrics ``explainkit compare`` runs (tests check these against
#: explainkit.metrics._compare: METRICS and LOCALISATION), checked before TensorFlow loads.
METRIC_NAMES = ("deletion", "insertion", "average_drop", "increase_in_confidence",
                "average_gain", "mu_fidelity", "pointing_game", "energy_pointing_game",
                "relevance_rank_accuracy", "sparseness", "complexity", "randomization")
LOCALISATION_METRICS = ("pointing_game", "energy_pointing_game", "relevance_rank_accuracy")
DEFAULT_METRICS = ("deletion", "insertion", "average_drop")
#: What ``explainkit compare`` writes into --output.
COMPARE_FILES = ("comparison.png", "comparison.md", "comparison.csv", "index.html")
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
#: Inputs ``explainkit activations`` reads as videos (every other file as one image).
VIDEO_SUFFIXES = (".gif", ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm")

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
IMAGES_HELP = (
    "image files (PNG, JPEG, ...), read into the channels the model expects: grey files "
    "become RGB and RGB files grey (luminance) as needed, transparency is composited on "
    "white (kept for an RGBA model); other channel counts must match the model"
)
MASKS_HELP = (
    "ground truth for the localisation metrics: a folder holding one mask image per image, "
    "with the image's file stem (cat.png for cat.jpg, any image format), or one mask file "
    "per image, in the images' order (give them after the images). Nonzero pixels are the "
    "object (in any colour channel; fully transparent pixels are background; use a "
    "lossless format such as PNG). A mask has its image's size, or the model's input size; "
    "it is resized to the model's input size with nearest neighbour when its image is"
)
MODEL_OUTPUT_HELP = (
    "for models with several outputs: the output to explain, by index (0, 1, ...) or by "
    "name (default: the model's only output)"
)
DEBUG_HELP = "show the full traceback of an error instead of a one-line message"

#: Python argument names in explainkit's messages and the options the CLI sets them with.
#: Those in _OPTION_WORDS are replaced anywhere in a message, the others at its start only
#: ("target", "output" and "stride" are ordinary words too).
_OPTION_WORDS = {
    "feature_layer": "--feature-layer", "reduction_layer": "--reduction-layer",
    "class_names": "--class-names", "mask_size": "--mask-size", "batch_size": "--batch-size",
    "num_features": "--num-features", "num_samples": "--num-samples",
    "random_state": "--random-state",
}  # fmt: skip
_LEADING_WORDS = {"target": "--target", "output": "--model-output", "stride": "--stride"}

def _metrics(value: str) -> list[str]:
    """``--metrics``: a comma-separated list of metric names (checked before TF loads)."""
    names = [m.strip() for m in value.split(",")]
    unknown = [m for m in names if m not in METRIC_NAMES]
    if unknown or not value.strip():
        raise _UserError(
            f"--metrics: unknown metric {', '.join(map(repr, unknown or [value]))}; choose "
            f"from {', '.join(METRIC_NAMES)}")
    return list(dict.fromkeys(names))


def _methods(value: str) -> str:
    """``--method``: a name, a comma-separated list of names, "all" or "cams"."""
    if value in METHOD_GROUPS:
        return value
    unknown = [m for m in value.split(",") if m not in METHOD_NAMES]
    if unknown or not value:
        raise argparse.ArgumentTypeError(
            f"unknown method {', '.join(map(repr, unknown or [value]))}; choose from "
            f"{', '.join(METHOD_NAMES)}, or 'all' or 'cams'")
    return value


class _UserError(ValueError):
    """A mistake in the command line or its files: one line on stderr, exit status 2."""


def _one_line(message: object) -> str:
    """``message`` with its line breaks and runs of spaces collapsed to single spaces."""
    return " ".join(str(message).split())


def _reason(exc: BaseException) -> str:
    """An exception's message on one line (its type's name when it has none)."""
    return _one_line(exc) or type(exc).__name__


def _parser() -> argparse.ArgumentParser:
    """The argument parser of ``explainkit`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="explainkit",
        description="MATLAB-style explanations (Grad-CAM, occlusion sensitivity, image LIME) "
                    "of Keras models.",
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Given after the subcommand, --debug must not reset the top-level one to False.
    debug = {"action": "store_true", "default": argparse.SUPPRESS, "help": DEBUG_HELP}

    demo = commands.add_parser(
        "demo", help="explain the embedded demo models and write a gallery",
        description="Explain three small embedded models (classifier, regressor, segmenter) "
                    "with all three methods; write figures and index.html.")
    demo.add_argument("--output", default="explainkit-demo", help="output folder "
                      "(default: %(default)s)")
    demo.add_argument("--quick", action="store_true", help="fewer images and samples")
    demo.add_argument("--debug", **debug)

    explain = commands.add_parser(
        "explain", help="explain a saved Keras model's prediction on image files",
        description="Explain a saved Keras model (.keras or .h5) on one or more image files; "
                    "write one PNG per image and a .npz with the maps. The model is loaded "
                    "without its optimizer (compile=False): explaining needs no training "
                    "state, so old .h5 files whose optimizer Keras 3 no longer reads load "
                    "too. Mistakes end with one error line and exit status 2.")
    explain.add_argument("model", help="a Keras model file (.keras, or .h5)")
    explain.add_argument("images", nargs="+", help=IMAGES_HELP)
    explain.add_argument("--method", type=_methods, default="gradcam",
                         help=f"one method or several, comma-separated, side by side: "
                              f"{', '.join(METHOD_NAMES)}; 'all' = gradcam,occlusion,lime; "
                              "'cams' = the CAM family (default: %(default)s)")
    explain.add_argument("--target", help="class index or name (default: the prediction)")
    explain.add_argument("--class-names", type=Path,
                         help="text file with one class name per line")
    explain.add_argument("--model-output", metavar="OUTPUT", help=MODEL_OUTPUT_HELP)
    explain.add_argument("--output", type=Path, default=Path("explanations"),
                         help="output folder (default: %(default)s)")
    explain.add_argument("--preprocess", choices=tuple(PREPROCESS), default="none",
                         help="pixel preprocessing: none = [0, 1], raw = 0-255, or a "
                              "keras.applications family (default: %(default)s)")
    explain.add_argument("--batch-size", type=int,
                         help="images per model call (default: Grad-CAM 32; occlusion and "
                              "LIME as many as 256 MiB of images allow, at most 1024)")
    explain.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                         help="progress bars (default: on long runs in a terminal)")
    lime = _add_method_options(explain)
    lime.add_argument("--random-state", type=int, default=0)
    explain.add_argument("--unsafe", action="store_true", help=UNSAFE_HELP)
    explain.add_argument("--debug", **debug)

    compare = commands.add_parser(
        "compare", help="score several methods with faithfulness and localisation metrics",
        description="Explain a saved Keras model (.keras or .h5) on image files with several "
                    "methods and score every map with every metric (explainkit.compare); "
                    "write comparison.png, comparison.md, comparison.csv and index.html "
                    "into --output and print the table. Mistakes end with one error line "
                    "and exit status 2.")
    compare.add_argument("model", help="a Keras model file (.keras, or .h5)")
    compare.add_argument("images", nargs="+", help=IMAGES_HELP)
    compare.add_argument("--methods", default="gradcam,occlusion,lime",
                         help=f"{METHODS_HELP} (default: %(default)s)")
    compare.add_argument("--metrics", default=",".join(DEFAULT_METRICS),
                         help=f"comma-separated: {', '.join(METRIC_NAMES)}; "
                              f"{', '.join(LOCALISATION_METRICS)} need --masks, and with "
                              "--masks and the default metrics they are added "
                              "(default: %(default)s)")
    compare.add_argument("--masks", nargs="+", metavar="MASK", help=MASKS_HELP)
    compare.add_argument("--target",
                         help="class index or name for every image, or one per image, "
                              "comma-separated (default: each image's prediction)")
    compare.add_argument("--class-names", type=Path,
                         help="text file with one class name per line")
    compare.add_argument("--model-output", metavar="OUTPUT", help=MODEL_OUTPUT_HELP)
    compare.add_argument("--output", type=Path, default=Path("comparison"),
                         help="output folder (default: %(default)s)")
    compare.add_argument("--preprocess", choices=tuple(PREPROCESS), default="none",
                         help="pixel preprocessing: none = [0, 1], raw = 0-255, or a "
                              "keras.applications family (default: %(default)s)")
    compare.add_argument("--batch-size", type=int,
                         help="images per model call, for the methods and the metrics "
                              "(default: each one's own)")
    compare.add_argument("--random-state", type=int, default=0,
                         help="seeds every method and metric that draws at random, the same "
                              "for each (default: %(default)s)")
    compare.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                         help="progress bars (default: on long runs in a terminal)")
    _add_method_options(compare)
    compare.add_argument("--unsafe", action="store_true", help=UNSAFE_HELP)
    compare.add_argument("--debug", **debug)

    acts = commands.add_parser(
        "activations", help="a layer's strongest channels beside an image, or as a video",
        description="Show what a layer of a saved Keras model sees: for an image, a PNG of "
                    "the image beside the tiles of the layer's strongest channels (largest "
                    "mean activation); for a video or GIF (" + ", ".join(VIDEO_SUFFIXES)
                    + "), an animated GIF (or MP4, with an ffmpeg plugin for imageio) of "
                    "each frame beside the video's strongest channels. Mistakes end with "
                    "one error line and exit status 2.")
    acts.add_argument("model", help="a Keras model file (.keras, or .h5)")
    acts.add_argument("input", metavar="IMAGE_OR_VIDEO",
                      help="an image file, or a video or GIF file")
    acts.add_argument("--layer", required=True,
                      help="the layer, by name or nested path (backbone/block5_conv3)")
    acts.add_argument("--top", type=int, default=16,
                      help="how many channels to show, strongest first (default: %(default)s)")
    acts.add_argument("--channels",
                      help="comma-separated channel indices to choose from (default: all)")
    acts.add_argument("--output", type=Path,
                      help="the file to write (default: activations.png for an image, "
                           "activations.gif for a video)")
    acts.add_argument("--fps", type=float, default=10.0,
                      help="frames per second of the video written (default: %(default)s)")
    acts.add_argument("--preprocess", choices=tuple(PREPROCESS), default="none",
                      help="pixel preprocessing: none = [0, 1], raw = 0-255, or a "
                           "keras.applications family (default: %(default)s)")
    acts.add_argument("--batch-size", type=int, default=32,
                      help="frames per model call (default: %(default)s)")
    acts.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                      help="progress bars (default: on long runs in a terminal)")
    acts.add_argument("--unsafe", action="store_true", help=UNSAFE_HELP)
    acts.add_argument("--debug", **debug)
    return parser


def _add_method_options(command: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The Grad-CAM, occlusion and LIME options of ``command``; the LIME group."""
    grad = command.add_argument_group("Grad-CAM (and the CAM family)")
    grad.add_argument("--feature-layer", default="auto")
    grad.add_argument("--reduction-layer", default="auto")
    occ = command.add_argument_group("occlusion sensitivity")
    occ.add_argument("--mask-size", type=int, help="patch size (default: 20%% of the image)")
    occ.add_argument("--stride", type=int, help="patch step (default: 10%% of the image)")
    lime = command.add_argument_group("image LIME")
    lime.add_argument("--num-features", type=int, default=49)
    lime.add_argument("--num-samples", type=int, default=2048)
    lime.add_argument("--segmentation", choices=("superpixels", "slic", "grid"),
                      default="superpixels",
                      help="superpixels = SLIC0 (MATLAB's default), slic = fixed-compactness "
                           "SLIC, grid = near-square cells (default: %(default)s)")
    lime.add_argument("--surrogate", choices=("tree", "linear"), default="tree",
                      help="LIME's simple model (default: %(default)s)")
    return lime


def _import_tensorflow_quietly() -> None:
    """TensorFlow and Keras, imported without their start-up log (see ``_quiet``)."""
    from ._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()


def _check_file(path, what: str) -> Path:
    """``path`` as a Path if it exists and can be read, else a _UserError naming it."""
    path = Path(path)
    if not path.exists():
        raise _UserError(f"{what} {path} not found")
    if path.is_file():
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise _UserError(f"cannot read {what} {path}: {exc.strerror or _reason(exc)}") \
                from exc
    return path


def _check_model_file(path) -> Path:
    """The model file, checked before TensorFlow is imported: exists, readable, a format."""
    path = _check_file(path, "model file")
    if path.is_dir():
        return path  # a Keras model folder; Keras says whether it is one
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise _UserError(f"model file {path} is not a .keras or .h5 file (Keras 3 loads "
                         "no other format)")
    if path.suffix.lower() == ".keras" and not zipfile.is_zipfile(path):
        raise _UserError(f"model file {path} is not a Keras model (a .keras file is a zip "
                         "archive)")
    return path


def _read_class_names(path) -> list[str]:
    """The non-empty lines of the --class-names file, stripped."""
    path = _check_file(path, "--class-names file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _UserError(f"cannot read --class-names file {path}: {_reason(exc)}") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def _index_or_name(value: str | None) -> int | str | None:
    """An option that takes an index or a name: an int when it is one, else the string."""
    if value is not None and value.lstrip("-").isdigit():
        return int(value)
    return value


def _or_auto(value):
    """``value``, or ``"auto"`` when the option was not given."""
    return "auto" if value is None else value


def load_images(paths, size: tuple | None, preprocess: str, channels: int | None = 3):
    """Read image files as 0-255 pixels with ``channels`` channels, resize, preprocess.

    Files are converted to the channels the model expects: grey (1), RGB (3) or RGBA
    (4). Grey files are repeated to RGB, RGB files turned grey by luminance (scikit-image's
    ``rgb2gray``), transparency composited on white unless the model takes RGBA, and an
    opaque alpha added for RGBA models. Float files in [0, 1] are scaled to 0-255 first. A
    file that is no image, one whose channels cannot become the model's, or images of
    different sizes when ``size`` is None, raise a ValueError naming the files.
    """
    return _load_images(paths, size, preprocess, channels)[0]


def _load_images(paths, size: tuple | None, preprocess: str, channels: int | None = 3):
    """:func:`load_images`, and the files' own sizes ``[(height, width), ...]``."""
    import numpy as np
    from skimage import io, transform

    from ._files import to_channels

    channels = 3 if channels is None else int(channels)
    if preprocess not in ("none", "raw") and channels != 3:
        raise _UserError(f"--preprocess {preprocess} is for RGB images, but the model takes "
                         f"{channels} channel{'s' * (channels != 1)}; use --preprocess none "
                         "or raw")
    images, sizes = [], []
    for path in paths:
        try:
            raw = io.imread(path)
        except Exception as exc:  # imageio and its plugins raise many types for a non-image
            raise _UserError(f"cannot read image file {path}: {_reason(exc)}") from exc
        sizes.append(tuple(raw.shape[:2]))
        image = raw.astype(np.float32)
        if np.issubdtype(raw.dtype, np.floating) and image.max() <= 1.0:
            image = image * 255.0
        image = to_channels(image, channels, path)
        if size is not None and image.shape[:2] != size:
            image = transform.resize(image, size, preserve_range=True, anti_aliasing=True)
        images.append(np.asarray(image, dtype=np.float32))
    if len({image.shape for image in images}) > 1:
        sizes = ", ".join(f"{Path(p).name} {i.shape[0]}x{i.shape[1]}"
                          for p, i in zip(paths, images, strict=True))
        raise _UserError(f"the images have different sizes ({sizes}); the model's input "
                         "size is not fixed, so resize them to one size")
    batch = np.stack(images)
    if preprocess == "none":
        return batch / 255.0, sizes
    if preprocess == "raw":
        return batch, sizes
    import importlib

    module = importlib.import_module(f"keras.applications.{PREPROCESS[preprocess]}")
    return np.asarray(module.preprocess_input(batch), dtype=np.float32), sizes


def _mask_files(masks: list[str], images: list[str]) -> list[Path]:
    """``--masks``: a folder (one mask per image, by file stem) or one file per image."""
    if len(masks) == 1 and Path(masks[0]).is_dir():
        folder = Path(masks[0])
        try:
            entries = sorted(p for p in folder.iterdir() if p.is_file())
        except OSError as exc:
            raise _UserError(f"cannot read --masks folder {folder}: "
                             f"{exc.strerror or _reason(exc)}") from exc
        paths = []
        for image in map(Path, images):
            found = [p for p in entries if p.stem == image.stem
                     and p.resolve() != image.resolve()]
            if not found:
                raise _UserError(f"--masks {folder}: no mask file for image {image} (looked "
                                 f"for {folder / image.stem}.*)")
            if len(found) > 1:
                raise _UserError(f"--masks {folder}: several mask files for image {image}: "
                                 f"{', '.join(p.name for p in found)}")
            paths.append(_check_file(found[0], "mask file"))
        return paths
    if len(masks) == 1 and not Path(masks[0]).exists():
        raise _UserError(f"--masks {masks[0]} not found (a folder of masks or a mask file)")
    if len(masks) != len(images):
        raise _UserError(f"--masks: {len(masks)} mask file{'s' * (len(masks) != 1)} for "
                         f"{len(images)} images; give one mask file per image, in the "
                         "images' order, or a folder of masks named like the images")
    return [_check_file(path, "mask file") for path in masks]


def load_masks(paths, images, image_sizes, size: tuple[int, int]):
    """Boolean masks ``(N, *size)`` from mask files: nonzero = object.

    A mask has its image's size ``image_sizes[i]`` (then it is resized to ``size`` with
    nearest neighbour, as its image was resized) or ``size`` already; anything else, an
    unreadable file or a mask with no object pixel raise a _UserError naming the file.
    """
    import numpy as np
    from skimage import io, transform

    from ._files import decode_mask

    masks = []
    for path, image, own in zip(paths, images, image_sizes, strict=True):
        try:
            raw = np.asarray(io.imread(path))
        except Exception as exc:  # as for the images: many types for a non-image
            raise _UserError(f"cannot read mask file {path}: {_reason(exc)}") from exc
        mask = decode_mask(raw, path)
        shape = tuple(mask.shape)
        resized = shape != tuple(size)
        if resized:
            if shape != tuple(own):
                model = f", the model's input {size[0]}x{size[1]}" if tuple(own) != size else ""
                raise _UserError(
                    f"mask file {path} is {shape[0]}x{shape[1]} but its image {image} is "
                    f"{own[0]}x{own[1]}{model}; a mask must have its image's size")
            mask = transform.resize(mask.astype(np.uint8), size, order=0, preserve_range=True,
                                    anti_aliasing=False) > 0
        if not mask.any():
            after = f" after resizing to {size[0]}x{size[1]}" if resized else ""
            raise _UserError(f"mask file {path} has no object pixel (none nonzero){after}")
        masks.append(mask)
    return np.stack(masks)


def _model_geometry(net) -> tuple[tuple | None, int | None]:
    """The model's fixed input size ``(H, W)`` (or None) and its channels (or None)."""
    shape = tuple(net.inputs[0].shape) if getattr(net, "inputs", None) else None
    if not shape or len(shape) != 4:
        return None, None
    return (None if None in shape[1:3] else tuple(shape[1:3])), shape[3]


def _load_model(path: Path, unsafe: bool):
    """The Keras model in ``path``, without its optimizer (compile=False)."""
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=not unsafe)
    except Exception as exc:  # anything Keras, h5py or zipfile raise is about the file
        if "safe_mode" in str(exc) or "unsafe" in str(exc).lower():
            raise _UserError(
                f"model file {path} contains Python code (e.g. a Lambda layer) that Keras "
                "will not run in safe mode. If you trust this file, pass --unsafe."
            ) from exc
        raise _UserError(f"cannot load model file {path}: {_reason(exc)}") from exc


def _in_cli_terms(message: str, images) -> str:
    """explainkit's message with its Python argument names replaced by the CLI's options."""
    message = re.sub(r"\b(" + "|".join(_OPTION_WORDS) + r")\b",
                     lambda m: _OPTION_WORDS[m[1]], message)
    message = re.sub(r"(?<![\w-])output=", "--model-output ", message)
    first, _, rest = message.partition(" ")
    if first in _LEADING_WORDS:
        return f"{_LEADING_WORDS[first]} {rest}"
    if first == "X":
        shown = ", ".join(map(str, images[:3])) + (", ..." if len(images) > 3 else "")
        return f"images {shown}: the batch {rest}"
    return message


def _explain(args) -> int:
    """``explainkit explain``: check the files, load, explain, write figures and maps."""
    model_path = _check_model_file(args.model)
    for path in args.images:
        _check_file(path, "image file")
    class_names = _read_class_names(args.class_names) if args.class_names else None
    _import_tensorflow_quietly()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import explainkit
    from explainkit import plotting

    net = _load_model(model_path, args.unsafe)
    size, channels = _model_geometry(net)
    X = load_images(args.images, size, args.preprocess, channels)
    target = _index_or_name(args.target)
    common = {"class_names": class_names}
    if args.batch_size is not None:
        common["batch_size"] = args.batch_size
    if args.model_output is not None:  # only then: older explainkits take no output=
        common["output"] = _index_or_name(args.model_output)
    methods = METHOD_GROUPS.get(args.method) or tuple(args.method.split(","))
    options = _method_options(args, methods)
    explanations = []
    for m in methods:
        try:
            explanations.append(explainkit.explain(net, X, target, method=m, **common,
                                                   **options[m]))
        except (ValueError, TypeError) as exc:  # explainkit's checks of the options
            raise _UserError(f"{m}: {_in_cli_terms(_reason(exc), args.images)}") from exc
    try:
        args.output.mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(args.images):
            if len(explanations) > 1:
                figure = plotting.plot_comparison(explanations, indices=[i]).figure_
            else:
                figure = explanations[0].plot(index=i).figure_
            out = args.output / f"{Path(path).stem}_{args.method.replace(',', '_')}.png"
            figure.savefig(out, dpi=100)
            plt.close(figure)
            e = explanations[0]
            name = e.target_names[i, 0] if e.target_names is not None else e.targets[i, 0]
            print(f"{path}: {name} (score {e.scores[i, 0]:.4g}) -> {out}")
        arrays = {f"{e.method}_maps": e.maps for e in explanations}
        arrays["targets"] = explanations[0].targets
        arrays["scores"] = explanations[0].scores
        np.savez_compressed(args.output / "explanations.npz", **arrays)
    except OSError as exc:
        raise _UserError(f"cannot write to --output {args.output}: "
                         f"{exc.strerror or _reason(exc)}") from exc
    print(f"maps: {args.output / 'explanations.npz'}")
    return 0


def _method_options(args, methods) -> dict:
    """Method name -> the options the command line sets for it (each of ``methods``)."""
    import inspect

    from explainkit.base import METHODS
    from explainkit.methods import BaseCAM

    options = {
        "gradcam": {"feature_layer": args.feature_layer,
                    "reduction_layer": args.reduction_layer},
        "occlusion": {"mask_size": _or_auto(args.mask_size), "stride": _or_auto(args.stride),
                      "progress": args.progress},
        "lime": {"num_features": args.num_features, "num_samples": args.num_samples,
                 "segmentation": args.segmentation, "model": args.surrogate,
                 "random_state": args.random_state, "progress": args.progress},
    }
    for m in methods:
        if m in options:
            continue
        accepted = inspect.signature(METHODS[m]).parameters
        # The CAM family takes Grad-CAM's layers; the pixel methods the reduction layer.
        options[m] = dict(options["gradcam"]) if issubclass(METHODS[m], BaseCAM) else (
            {"reduction_layer": args.reduction_layer} if "reduction_layer" in accepted else {})
        for name in ("progress", "random_state"):
            if name in accepted:
                options[m][name] = getattr(args, name)
    return {m: options[m] for m in methods}


def _compare_targets(value: str | None, count: int):
    """``--target``: one class for every image, or a comma-separated list, one per image."""
    if value is None or "," not in value:
        return _index_or_name(value)
    import numpy as np

    items = [item.strip() for item in value.split(",")]
    if len(items) != count:
        raise _UserError(f"--target gives {len(items)} classes for {count} images; give one "
                         "class for every image, or one per image (comma-separated)")
    parsed = [_index_or_name(item) for item in items]
    kinds = {isinstance(item, int) for item in parsed}
    if len(kinds) > 1:
        raise _UserError(f"--target {value}: give class indices or class names, not both")
    return np.array(parsed)


def _compare_page(comparison, figure_png: bytes, parameters: dict) -> str:
    """index.html of ``explainkit compare``: the table, the figure and the parameters."""
    rows = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                     for k, v in parameters.items())
    image = base64.b64encode(figure_png).decode("ascii")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>explainkit compare</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
img{{max-width:100%;border:1px solid #ddd}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}}
.explainkit-comparison td{{text-align:right}}
.explainkit-comparison td:first-child{{text-align:left}}</style></head>
<body><h1>explainkit compare</h1>
<p>Each metric's mean over the images, &plusmn; half its bootstrap 95% interval; the best
in bold; &uarr; higher / &darr; lower is better. Seconds and model calls are each method's
own; the metrics took {comparison.metric_seconds:.2f} s and {comparison.metric_calls} model
calls for all methods together.</p>
{comparison.table("html")}
<figure><a href="comparison.png"><img src="data:image/png;base64,{image}"
alt="The maps of every method, the deletion and insertion curves and a bar per metric"></a>
<figcaption>The maps side by side per image, the curves and one bar per metric
(comparison.png).</figcaption></figure>
<h2>Parameters</h2>
<table>
{rows}
</table>
</body></html>
"""


def _compare(args) -> int:
    """``explainkit compare``: explain with every method, score, write the tables and page."""
    model_path = _check_model_file(args.model)
    try:
        _methods(args.methods)
    except argparse.ArgumentTypeError as exc:
        raise _UserError(f"--methods: {exc}") from exc
    metrics = _metrics(args.metrics)
    if args.masks is None:
        needing = [m for m in metrics if m in LOCALISATION_METRICS]
        if needing:
            raise _UserError(f"--metrics {', '.join(needing)}: the localisation metrics "
                             "compare the maps with ground truth; pass --masks (a folder of "
                             "masks, or one mask file per image)")
    for path in args.images:
        _check_file(path, "image file")
    mask_files = _mask_files(args.masks, args.images) if args.masks else None
    class_names = _read_class_names(args.class_names) if args.class_names else None
    target = _compare_targets(args.target, len(args.images))
    _import_tensorflow_quietly()
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import explainkit

    net = _load_model(model_path, args.unsafe)
    size, channels = _model_geometry(net)
    X, image_sizes = _load_images(args.images, size, args.preprocess, channels)
    masks = None
    if mask_files is not None:
        masks = load_masks(mask_files, args.images, image_sizes, tuple(X.shape[1:3]))
    methods = METHOD_GROUPS.get(args.methods) or tuple(args.methods.split(","))
    options = _method_options(args, methods)
    if args.batch_size is not None:
        for m in methods:
            options[m]["batch_size"] = args.batch_size
    try:
        comparison = explainkit.compare(
            net, X, target, methods=methods, metrics=metrics, masks=masks,
            method_options=options, batch_size=_or_auto(args.batch_size),
            random_state=args.random_state, progress=args.progress,
            output=_index_or_name(args.model_output), class_names=class_names)
    except (ValueError, TypeError) as exc:  # explainkit's checks of the options
        raise _UserError(_in_cli_terms(_reason(exc), args.images)) from exc
    parameters = {
        "command": "explainkit " + shlex.join(args.argv),
        "model": model_path, "images": ", ".join(map(str, args.images)),
        "masks": ", ".join(map(str, mask_files)) if mask_files else "none",
        "target": args.target or "each image's prediction",
        "class names": args.class_names or "none",
        "methods": ", ".join(comparison.methods), "metrics": ", ".join(comparison.metrics),
        "input size": f"{X.shape[1]}x{X.shape[2]}", "preprocess": args.preprocess,
        "model output": args.model_output or "the only one",
        "batch size": args.batch_size or "auto", "random state": args.random_state,
        "explainkit": explainkit.__version__,
    }  # fmt: skip
    out = args.output
    try:
        out.mkdir(parents=True, exist_ok=True)
        figure = comparison.plot()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        plt.close(figure)
        png = buffer.getvalue()
        (out / "comparison.png").write_bytes(png)
        (out / "comparison.md").write_text(comparison.table("markdown") + "\n",
                                           encoding="utf-8")
        (out / "comparison.csv").write_text(comparison.to_csv(), encoding="utf-8")
        (out / "index.html").write_text(_compare_page(comparison, png, parameters),
                                        encoding="utf-8")
    except OSError as exc:
        raise _UserError(f"cannot write to --output {out}: "
                         f"{exc.strerror or _reason(exc)}") from exc
    print(comparison.table("text"))
    print(f"metrics: {comparison.metric_seconds:.2f} s, {comparison.metric_calls} model calls")
    for name in COMPARE_FILES:
        print(f"wrote {out / name}")
    return 0


def _preprocess_function(name: str):
    """``--preprocess`` as a function of a float32 batch of 0-255 RGB pixels."""
    if name == "raw":
        return lambda x: x
    if name == "none":
        return lambda x: x / 255.0
    import importlib

    import numpy as np

    module = importlib.import_module(f"keras.applications.{PREPROCESS[name]}")
    return lambda x: np.asarray(module.preprocess_input(np.array(x)), dtype=np.float32)


def _activation_options(message: str) -> str:
    """explainkit.visualize's message in the command line's terms."""
    message = re.sub(r"^layer\b", "--layer", message)
    message = re.sub(r"The '(top|channels|fps|batch_size)' parameter",
                     lambda m: "--" + m[1].replace("_", "-"), message)
    message = re.sub(r"^output\b", "--output", message)
    return re.sub(r"^frames: ", "", message)


def _activations(args) -> int:
    """``explainkit activations``: a layer's strongest channels beside an image or a video."""
    model_path = _check_model_file(args.model)
    source = _check_file(args.input, "input file")
    if source.is_dir():
        raise _UserError(f"input file {source} is a folder; give an image or a video file")
    channels = None
    if args.channels is not None:
        try:
            channels = [int(c) for c in args.channels.split(",")]
        except ValueError as exc:
            raise _UserError(f"--channels {args.channels}: give comma-separated channel "
                             "indices (0,3,7)") from exc
    is_video = source.suffix.lower() in VIDEO_SUFFIXES
    output = args.output or Path("activations.gif" if is_video else "activations.png")
    _import_tensorflow_quietly()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from explainkit import plotting, visualize

    net = _load_model(model_path, args.unsafe)
    try:
        if is_video:
            result = visualize.activation_video(
                net, source, args.layer, output, fps=args.fps, top=args.top,
                channels=channels, preprocess=_preprocess_function(args.preprocess),
                batch_size=args.batch_size, progress=args.progress)
            shown = ", ".join(map(str, result.channels))
            print(f"{source}: {result.frames} frames, layer {result.layer}, channels {shown} "
                  f"-> {result.path}")
            return 0
        size, model_channels = _model_geometry(net)
        X = load_images([source], size, args.preprocess, model_channels)
        display = plotting.activations(net, X[0], args.layer, top=args.top, channels=channels)
    except (ValueError, TypeError) as exc:
        raise _UserError(_activation_options(_reason(exc))) from exc
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        display.figure_.savefig(output, dpi=100)
    except (OSError, ValueError) as exc:
        raise _UserError(f"cannot write --output {output}: "
                         f"{getattr(exc, 'strerror', None) or _reason(exc)}") from exc
    finally:
        plt.close(display.figure_)
    shown = ", ".join(map(str, display.channels_))
    print(f"{source}: layer {display.layer}, channels {shown} -> {output}")
    return 0


def _demo(args) -> int:
    """``explainkit demo``: the embedded models' gallery."""
    _import_tensorflow_quietly()
    from explainkit._demo import run

    files = run(args.output, quick=args.quick)
    print(f"open {files[-1].resolve()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success; 2 on a user error (reported in one line on stderr) and on a usage
        error (reported by argparse).
    """
    args = _parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else map(str, argv))
    commands = {"demo": _demo, "explain": _explain, "compare": _compare,
                "activations": _activations}
    try:
        return commands[args.command](args)
    except (_UserError, ValueError, TypeError, OSError) as exc:
        if args.debug:
            raise
        from ._files import FileError

        hint = "" if isinstance(exc, _UserError | FileError) else " (--debug shows the traceback)"
        print(f"explainkit: error: {_reason(exc)}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
