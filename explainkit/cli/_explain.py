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
