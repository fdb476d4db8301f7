"""``explainkit compare``: several methods scored by several metrics, a page written."""

from __future__ import annotations

import argparse
import base64
import html
import shlex

from ._common import (
    COMPARE_FILES,
    LOCALISATION_METRICS,
    METHOD_GROUPS,
    _check_file,
    _check_model_file,
    _import_tensorflow_quietly,
    _in_cli_terms,
    _index_or_name,
    _load_model,
    _method_options,
    _methods,
    _metrics,
    _model_geometry,
    _or_auto,
    _read_class_names,
    _reason,
    _UserError,
)
from ._dataset import compare_folder, is_folder_run
from ._images import _load_images, _mask_files, load_masks


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
    if is_folder_run(args):
        class_names = _read_class_names(args.class_names) if args.class_names else None
        return compare_folder(args, model_path, metrics, class_names)
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
