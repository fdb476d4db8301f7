"""``explainkit activations``: a layer's strongest channels beside an image or video."""

from __future__ import annotations

import re
from pathlib import Path

from ._common import (
    VIDEO_SUFFIXES,
    _check_file,
    _check_model_file,
    _import_tensorflow_quietly,
    _load_model,
    _model_geometry,
    _preprocess_function,
    _reason,
    _UserError,
)
from ._images import load_images


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
