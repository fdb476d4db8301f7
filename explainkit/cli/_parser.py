"""The argument parser of ``explainkit`` and its subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import (
    DEBUG_HELP,
    DEFAULT_METRICS,
    IMAGES_HELP,
    LOCALISATION_METRICS,
    MASKS_HELP,
    METHOD_NAMES,
    METHODS_HELP,
    METRIC_NAMES,
    MODEL_OUTPUT_HELP,
    PREPROCESS,
    UNSAFE_HELP,
    VIDEO_SUFFIXES,
    _methods,
)
from ._dataset import add_dataset_options


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
    explain.add_argument("--target", help="class index or name (default: the prediction); "
                                          "a detector: the rank of a detection (0 = the best; "
                                          "default: every detection scoring at least 0.5)")
    explain.add_argument("--box", action="append", metavar="X0,Y0,X1,Y1",
                         help="a detector: a box to explain, in pixels of the image as the "
                              "model takes it (repeat for several; needs --label)")
    explain.add_argument("--label", action="append",
                         help="a detector: the class of each --box (index or name)")
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
    add_dataset_options(explain, compare=False)
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
    add_dataset_options(compare, compare=True)
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
    lime = command.add_argument_group("image LIME (and D-RISE)")
    lime.add_argument("--num-features", type=int, default=49)
    lime.add_argument("--num-samples", type=int, default=2048,
                      help="LIME's samples; D-RISE's masks (default: %(default)s)")
    lime.add_argument("--segmentation", choices=("superpixels", "slic", "grid"),
                      default="superpixels",
                      help="superpixels = SLIC0 (MATLAB's default), slic = fixed-compactness "
                           "SLIC, grid = near-square cells (default: %(default)s)")
    lime.add_argument("--surrogate", choices=("tree", "linear"), default="tree",
                      help="LIME's simple model (default: %(default)s)")
    return lime
