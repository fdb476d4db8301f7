"""What the commands share: names, help texts, the one-line errors, model loading."""

from __future__ import annotations

import argparse
import re
import zipfile
from pathlib import Path

#: Every method's ``method_name`` (tests check this against explainkit's registry: --help
#: answers without importing the methods); "all" = MATLAB's three, "cams" = the CAM family.
METHOD_NAMES = ("gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "eigencam",
                "scorecam", "ablationcam", "cam", "guided_gradcam", "saliency",
                "gradient_input", "smoothgrad", "integrated_gradients", "expected_gradients",
                "guided_backprop", "lrp", "occlusion", "lime", "rise", "kernel_shap",
                "partition_shap", "lcam", "drise")


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
    "white (kept for an RGBA model); other channel counts must match the model. Or one "
    "folder: a data-set run over every image in it (and its sub-folders), streamed into "
    "--output and resumable (see the options for a folder of images below)"
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
    "random_state": "--random-state", "output_dir": "--output", "overwrite=True": "--overwrite",
    "resume=True": "--resume", "images_per_batch": "--images-per-batch",
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


def _import_tensorflow_quietly() -> None:
    """TensorFlow and Keras, imported without their start-up log (see ``_quiet``)."""
    from .._quiet import import_tensorflow_quietly

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


def _model_geometry(net) -> tuple[tuple | None, int | None]:
    """The model's fixed input size ``(H, W)`` (or None) and its channels (or None)."""
    shape = tuple(net.inputs[0].shape) if getattr(net, "inputs", None) else None
    if not shape or len(shape) != 4:
        return None, None
    return (None if None in shape[1:3] else tuple(shape[1:3])), shape[3]


def _needs_keras_hub(path: Path) -> bool:
    """True when a ``.keras`` file's config names keras-hub classes (a keras-hub model)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return b"keras_hub" in archive.read("config.json")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def _load_model(path: Path, unsafe: bool):
    """The Keras model in ``path``, without its optimizer (compile=False).

    A keras-hub model's classes are registered by importing keras-hub, done here when the
    file names them.
    """
    import keras

    if _needs_keras_hub(path):
        try:
            import keras_hub  # noqa: F401  (registers its layers and models)
        except ImportError as exc:
            raise _UserError(f"model file {path} is a keras-hub model; install keras-hub "
                             "(pip install \"explainkit[hub]\")") from exc
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
        # MATLAB's drise calls its masks NumSamples, as imageLIME its samples
        "drise": {"num_masks": args.num_samples, "random_state": args.random_state,
                  "progress": args.progress},
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
