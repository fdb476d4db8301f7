"""Data-set runs: explain and compare whole data sets, streamed, on disk, resumable."""

from __future__ import annotations

from ._folder import ImageFolder
from ._reader import SavedMaps, load_comparison, load_maps
from ._runner import run
from ._sources import is_dataset

__all__ = ["ImageFolder", "SavedMaps", "explain_dataset", "is_dataset",
           "load_comparison", "load_maps", "run"]


def explain_dataset(net, data, method="gradcam", target=None, *, output_dir=None,
                    maps_dtype: str = "float32", resume: bool | None = None,
                    overwrite: bool = False, engine: str = "local", workers: int | None = None,
                    address: str | None = None, engine_options: dict | None = None,
                    images_per_batch: int = 32,
                    random_state=None, progress: bool | None = None, on_error: str = "raise",
                    output=None, task: str = "auto", class_names=None, **options):
    """Explain every image of a data set with one method, streamed batch by batch.

    Parameters
    ----------
    net : keras.Model, estimator, callable, model file or factory
        The model; a path (``.keras``, ``.h5``) or a picklable zero-argument function
        returning it (what the Ray engine needs) are loaded once per worker.
    data : array, tf.data.Dataset, keras.utils.PyDataset, iterable or ImageFolder
        The images: arrays ``(N, H, W, C)``; a dataset or iterable of images, ``(images,
        labels)`` or ``(images, labels, masks)``, batched or not; a folder
        (:func:`explainkit.datasets.image_folder`).
    method : str or Explainer, default="gradcam"
        A method name (any :func:`explainkit.explain` takes) or an explainer.
    target : int, str, list or None
        None: the data's labels when it has them, else each image's predicted class.
    output_dir : str or Path, optional
        Write the maps as they complete (``.npy`` shards per batch of
        ``images_per_batch``), one row per image and target (Parquet with pyarrow, else
        CSV) and ``manifest.json``; a stopped run resumes there. None: keep the maps in
        memory.
    maps_dtype : {"float32", "float16"}
        How the maps are stored on disk.
    resume, overwrite : bool
        ``resume`` (default when ``output_dir`` holds this call's run) skips the images
        written; a run of another call there is an error unless ``overwrite=True``.
    engine : {"local", "ray"}
        Run here, or on Ray Data (``pip install explainkit[ray]``): ``workers`` actors
        (default: the cores less one for the driver, or the cluster's), each loading the
        model once; ``address`` of a cluster to join (else a local Ray is started and
        shut down); ``engine_options``: ``num_cpus`` and ``num_gpus`` per actor. An
        actor that dies is restarted and its batch redone (Ray Data's actor pool).
        ``net`` must then be a file or a factory.
    images_per_batch : int, default=32
        Images per unit of work (and shard); results do not depend on it.
    random_state : None or int
        Seeds every random draw per image, from ``(random_state, position, method)``.
    on_error : {"raise", "skip"}
        An unreadable or wrongly-sized image file: an error naming it, or left out and
        recorded in the manifest.
    output, task, class_names, **options
        As for the method.

    Returns
    -------
    Explanation or SavedMaps
        In memory: the Explanation of all images; with ``output_dir``: the saved maps,
        read lazily (:class:`SavedMaps`).
    """
    if isinstance(method, str):
        methods = {method: method}
        method_options = {method: options}
    else:
        if options:
            raise TypeError("options go to a method given by name; an Explainer instance "
                            f"carries its own (got {', '.join(sorted(options))}).")
        methods, method_options = (method,), {}
    result = run(net, data, kind="explain", methods=methods, target=target,
                 method_options=method_options, random_state=random_state,
                 progress=progress, output=output, task=task, class_names=class_names,
                 output_dir=output_dir, save_maps=True, maps_dtype=maps_dtype,
                 resume=resume, overwrite=overwrite, engine=engine, workers=workers,
                 address=address, engine_options=engine_options,
            images_per_batch=images_per_batch, on_error=on_error)
    if output_dir is None:
        return result
    return load_maps(output_dir)
