"""``explainkit explain``: image files explained, figures and maps written."""

from __future__ import annotations

from pathlib import Path

from ._common import (
    METHOD_GROUPS,
    _check_file,
    _check_model_file,
    _import_tensorflow_quietly,
    _in_cli_terms,
    _index_or_name,
    _load_model,
    _method_options,
    _model_geometry,
    _read_class_names,
    _reason,
    _UserError,
)
from ._dataset import explain_folder, is_folder_run
from ._images import load_images


def _explain(args) -> int:
    """``explainkit explain``: check the files, load, explain, write figures and maps."""
    model_path = _check_model_file(args.model)
    class_names = _read_class_names(args.class_names) if args.class_names else None
    if is_folder_run(args):
        return explain_folder(args, model_path, class_names)
    for path in args.images:
        _check_file(path, "image file")
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
    detector = _is_detector(net)
    target = _detection_target(args, class_names) if detector else _index_or_name(args.target)
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
    if detector:
        return _write_detections(args, explanations, class_names)
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


def _is_detector(net) -> bool:
    from explainkit._detection import is_hub_detector

    return is_hub_detector(net)


def _detection_target(args, class_names):
    """``--box``/``--label`` as Detections, else ``--target`` as a rank (or None)."""
    from explainkit import Detections

    if not args.box:
        if args.label:
            raise _UserError("--label names the class of a --box; give --box too")
        if args.target is None:
            return None
        try:
            return int(args.target)
        except ValueError:
            raise _UserError(f"--target {args.target!r}: a detector's target is the rank of "
                             "a detection (0 = the best), or --box with --label") from None
    labels = args.label or []
    if len(labels) != len(args.box):
        raise _UserError(f"give one --label per --box; got {len(args.box)} boxes and "
                         f"{len(labels)} labels")
    boxes = []
    for text in args.box:
        try:
            box = [float(v) for v in text.split(",")]
        except ValueError:
            box = []
        if len(box) != 4:
            raise _UserError(f"--box {text!r}: expected four numbers X0,Y0,X1,Y1")
        boxes.append(box)
    indices = []
    for label in labels:
        value = _index_or_name(label)
        if isinstance(value, str):
            if not class_names or value not in class_names:
                raise _UserError(f"--label {label!r} is not a class index, nor a name in "
                                 "--class-names")
            value = list(class_names).index(value)
        indices.append(value)
    try:
        return Detections(boxes, indices)
    except ValueError as exc:
        raise _UserError(f"--box/--label: {_reason(exc)}") from exc


def _write_detections(args, explanations, class_names) -> int:
    """One figure per image and method: every explained detection over its map."""
    import matplotlib.pyplot as plt
    import numpy as np

    from explainkit import plotting

    try:
        args.output.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for e in explanations:
            for i, path in enumerate(args.images):
                display = plotting.DetectionDisplay.from_explanation(e, index=i,
                                                                     class_names=class_names)
                out = args.output / f"{Path(path).stem}_{e.method}.png"
                display.figure_.savefig(out, dpi=100)
                plt.close(display.figure_)
                found = e.detections[i]
                boxes = found.xyxy(*e.images.shape[1:3])  # as --box: pixel X0,Y0,X1,Y1
                names = [str(class_names[k]) if class_names else str(k) for k in found.labels]
                shown = ", ".join(f"{n} {np.round(b, 1).tolist()} ({s:.3g})" for n, b, s in
                                  zip(names, boxes, found.scores, strict=True))
                print(f"{path}: {e.method}: {len(found)} detection(s): {shown} -> {out}")
                arrays[f"{e.method}_boxes_{i}"] = boxes
            arrays[f"{e.method}_maps"] = e.maps
        arrays["labels"] = explanations[0].targets
        arrays["scores"] = explanations[0].scores
        np.savez_compressed(args.output / "explanations.npz", **arrays)
    except OSError as exc:
        raise _UserError(f"cannot write to --output {args.output}: "
                         f"{exc.strerror or _reason(exc)}") from exc
    print(f"maps: {args.output / 'explanations.npz'}")
    return 0
