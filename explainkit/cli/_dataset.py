"""``explainkit compare`` and ``explain`` on a folder: a data-set run, streamed to --output.

The folder is read as :func:`explainkit.datasets.image_folder` (class sub-folders give
the labels, which are the targets unless --target is given), resized to the model's input
and converted to its channels, and explained batch by batch into --output (shards, a
manifest, at the end the table and figure); a stopped run resumes there.
"""

from __future__ import annotations

from pathlib import Path

from ._common import (
    METHOD_GROUPS,
    _import_tensorflow_quietly,
    _in_cli_terms,
    _index_or_name,
    _load_model,
    _method_options,
    _model_geometry,
    _or_auto,
    _preprocess_function,
    _reason,
    _UserError,
)


def is_folder_run(args) -> bool:
    """Whether the command's DATA is one folder (a data-set run)."""
    return len(args.images) == 1 and Path(args.images[0]).is_dir()


def _folder(args, net):
    from explainkit.datasets import image_folder

    size, channels = _model_geometry(net)
    masks = None
    if getattr(args, "masks", None):
        if len(args.masks) != 1 or not Path(args.masks[0]).is_dir():
            raise _UserError("--masks: with a folder of images, give one folder of masks "
                             "with the same relative names")
        masks = args.masks[0]
    preprocess = _preprocess_function(args.preprocess)
    labels = None if args.labels == "none" else "inferred"
    return image_folder(args.images[0], image_size=size, labels=labels, masks=masks,
                        channels=channels, transform=lambda x: preprocess(x[None])[0])


def _run_options(args) -> dict:
    return {"output_dir": args.output, "resume": args.resume, "overwrite": args.overwrite,
            "engine": args.engine, "workers": args.workers, "address": args.address,
            "images_per_batch": args.images_per_batch, "on_error": args.on_error,
            "progress": True if args.progress is None else args.progress}


def compare_folder(args, model_path, metrics, class_names) -> int:
    """``explainkit compare MODEL FOLDER``: the comparison of every image in the folder."""
    _import_tensorflow_quietly()
    import matplotlib

    matplotlib.use("Agg")
    import explainkit

    net = _load_model(model_path, args.unsafe)
    data = _folder(args, net)
    methods = METHOD_GROUPS.get(args.methods) or tuple(args.methods.split(","))
    options = _method_options(args, methods)
    for m in methods:
        options[m].pop("progress", None)  # the run's bar, over images
    target = None if args.target is None else _index_or_name(args.target)
    if isinstance(target, str) and "," in target:
        raise _UserError("--target: with a folder, give one class for every image (or none: "
                         "the labels of the class sub-folders, else the predictions)")
    try:
        comparison = explainkit.compare(
            str(model_path) if args.engine == "ray" else net, data, target, methods=methods,
            metrics=metrics, method_options=options, batch_size=_or_auto(args.batch_size),
            random_state=args.random_state, output=_index_or_name(args.model_output),
            class_names=class_names, save_maps=args.save_maps, **_run_options(args))
    except (ValueError, TypeError, ImportError) as exc:
        raise _UserError(_in_cli_terms(_reason(exc), [args.images[0]])) from exc
    print(comparison.table("text"))
    print(f"{comparison.params['images']} images; metrics: {comparison.metric_seconds:.2f} s, "
          f"{comparison.metric_calls} model calls")
    print(f"wrote {args.output} (manifest.json, rows/, table.md, comparison.png)")
    return 0


def explain_folder(args, model_path, class_names) -> int:
    """``explainkit explain MODEL FOLDER``: every image's maps, one folder per method."""
    _import_tensorflow_quietly()
    import explainkit

    net = _load_model(model_path, args.unsafe)
    data = _folder(args, net)
    methods = METHOD_GROUPS.get(args.method) or tuple(args.method.split(","))
    options = _method_options(args, methods)
    common = {"class_names": class_names}
    if args.model_output is not None:
        common["output"] = _index_or_name(args.model_output)
    for m in methods:
        run = {**_run_options(args), "output_dir": args.output / m}
        options[m].pop("progress", None)  # the run's bar, over images
        try:
            saved = explainkit.explain_dataset(
                str(model_path) if args.engine == "ray" else net, data, m,
                _index_or_name(args.target), **run, **common, **options[m])
        except (ValueError, TypeError, ImportError) as exc:
            raise _UserError(f"{m}: {_in_cli_terms(_reason(exc), [args.images[0]])}") from exc
        print(f"{m}: {len(saved)} maps -> {args.output / m}")
    return 0


def add_dataset_options(command, *, compare: bool) -> None:
    """The options of a data-set run (DATA a folder) on ``command``."""
    group = command.add_argument_group(
        "a folder of images (DATA one folder: streamed, written to --output, resumable)")
    group.add_argument("--labels", choices=("inferred", "none"), default="inferred",
                       help="inferred: class sub-folders (sorted) are the labels 0, 1, ... "
                            "and the targets unless --target is given (default: "
                            "%(default)s)")
    group.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="run here or on Ray (pip install 'explainkit[ray]') "
                            "(default: %(default)s)")
    group.add_argument("--address", help="Ray: the cluster to join (default: start a local "
                                         "Ray)")
    group.add_argument("--workers", type=int,
                       help="Ray: actors, each loading the model once (default: the cores "
                            "less one, or the cluster's)")
    group.add_argument("--resume", action="store_true", default=None,
                       help="go on with the run in --output (the default when its manifest "
                            "matches this command)")
    group.add_argument("--overwrite", action="store_true",
                       help="replace another run in --output")
    group.add_argument("--images-per-batch", type=int, default=32,
                       help="images per unit of work and shard (default: %(default)s)")
    group.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                       help="an unreadable or wrongly-sized file: an error, or left out and "
                            "recorded in the manifest (default: %(default)s)")
    if compare:
        group.add_argument("--save-maps", action="store_true",
                           help="also write every method's maps (.npy shards)")
