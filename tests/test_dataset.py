"""Data-set runs: streamed sources, per-image seeds, shards on disk, resume, errors."""

from __future__ import annotations

import json
import os
import tracemalloc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

import explainkit  # noqa: E402
from explainkit._demo import load_model  # noqa: E402
from explainkit._seeds import image_seed  # noqa: E402
from explainkit.datasets import image_folder, make_shapes  # noqa: E402

METHODS = ("gradcam", "rise")
OPTIONS = {"rise": {"num_masks": 48, "batch_size": 16}}
METRICS = ("deletion", "average_drop", "pointing_game")
METRIC_OPTIONS = {"deletion": {"steps": 4}}


@pytest.fixture(scope="module")
def net():
    return load_model("classifier")


@pytest.fixture(scope="module")
def data():
    X, y, masks = make_shapes(7, 32, random_state=5)
    return (X * 255).round().astype(np.uint8), y, masks


def _compare(net, source, target=None, **options):
    options = {"methods": METHODS, "metrics": METRICS, "method_options": OPTIONS,
               "metric_options": METRIC_OPTIONS, "random_state": 11,
               "images_per_batch": 3, **options}
    return explainkit.compare(net, source, target, **options)


def _same(a, b, rtol=0.0):
    assert a.methods == b.methods and a.metrics == b.metrics
    for method in a.methods:
        for metric in a.metrics:
            np.testing.assert_allclose(a.results[method][metric].values,
                                       b.results[method][metric].values, rtol=rtol,
                                       atol=rtol * 0.1)


def _folder(tmp_path, X, y, masks):
    root = tmp_path / "images"
    for i, (image, label) in enumerate(zip(X, y, strict=True)):
        folder = root / ("1_disc" if label else "0_square")  # sorted as the classes
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:02d}.png")
        mask_folder = tmp_path / "masks" / folder.name
        mask_folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(masks[i].astype(np.uint8) * 255).save(mask_folder / f"{i:02d}.png")
    return root


class _Batches(keras.utils.PyDataset):
    def __init__(self, X, y, masks, size):
        super().__init__()
        self.X, self.y, self.masks, self.size = X, y, masks, size

    def __len__(self):
        return -(-len(self.X) // self.size)

    def __getitem__(self, i):
        part = slice(i * self.size, (i + 1) * self.size)
        return self.X[part], self.y[part], self.masks[part]


def test_every_source_streams_to_the_arrays_results(net, data, tmp_path):
    """Check arrays, tf.data (batched or not), a PyDataset, a generator and a folder give
    the results of the arrays themselves, and that the labels are the targets."""
    pixels, y, masks = data
    X = (pixels / 255).astype(np.float32)
    reference = _compare(net, X, y, masks=masks, output_dir=tmp_path / "arrays")
    assert reference.params["images"] == 7
    sources = {
        "tf.data": tf.data.Dataset.from_tensor_slices((X, y, masks)),
        "tf.data batched": tf.data.Dataset.from_tensor_slices((X, y, masks)).batch(4),
        "PyDataset": _Batches(X, y, masks, 2),
        "generator": ((X[i:i + 5], y[i:i + 5], masks[i:i + 5]) for i in range(0, 7, 5)),
    }
    for source in sources.values():
        _same(_compare(net, source), reference)
    # A folder: class sub-folders in sorted order give the labels, the files' sorted
    # paths the positions (the images in another order than the arrays').
    folder = image_folder(_folder(tmp_path, pixels, y, masks), masks=tmp_path / "masks")
    order = np.argsort([f"{'1_disc' if label else '0_square'}/{i:02d}" for i, label in
                        enumerate(y)], kind="stable")
    assert folder.class_names == ["0_square", "1_disc"]
    np.testing.assert_array_equal(folder.labels, y[order])
    image, mask = folder.read(0)
    assert image.dtype == np.uint8 and image.shape == (32, 32, 3)
    np.testing.assert_array_equal(image, pixels[order[0]])
    np.testing.assert_array_equal(mask, masks[order[0]])
    from_folder = _compare(net, folder, target=None)
    in_order = _compare(net, pixels[order], y[order], masks=masks[order],
                        output_dir=tmp_path / "ordered")
    _same(from_folder, in_order)


def test_seeds_per_image_whatever_the_batching(net, data):
    """Check a random method's map of each image is what the method gives on that image
    alone, seeded from (random_state, position, method), for any images_per_batch."""
    X, y, _ = data
    X = (X / 255).astype(np.float32)
    for per_batch in (1, 4, 7):
        maps = explainkit.explain_dataset(net, X, "rise", y, random_state=11,
                                          images_per_batch=per_batch, num_masks=48,
                                          batch_size=16).maps
        for i in (0, 3, 6):
            alone = explainkit.RISE(net, num_masks=48, batch_size=16,
                                    random_state=image_seed(11, i, "method:rise"))
            want = alone.fit(X[i:i + 1]).explain(X[i:i + 1], int(y[i])).maps[0]
            np.testing.assert_allclose(maps[i], want, rtol=1e-4, atol=1e-6)


def test_metrics_independent_of_the_batching(net, data):
    """Check metric values do not depend on images_per_batch (ties broken per image) and
    that a prefix of the data gives the prefix of the results."""
    X, y, masks = data
    X = (X / 255).astype(np.float32)
    whole = _compare(net, [(X, y, masks)], images_per_batch=7)  # a list of batches: streamed
    for per_batch in (2, 5):
        _same(_compare(net, tf.data.Dataset.from_tensor_slices((X, y, masks)),
                       images_per_batch=per_batch), whole, rtol=1e-4)
    head = _compare(net, tf.data.Dataset.from_tensor_slices((X[:3], y[:3], masks[:3])))
    for method in METHODS:
        for metric in METRICS:
            np.testing.assert_allclose(head.results[method][metric].values,
                                       whole.results[method][metric].values[:3], rtol=1e-4,
                                       atol=1e-5)


class _Stop(Exception):
    pass


def _failing(X, y, masks, after):
    for i in range(len(X)):
        if i == after:
            raise _Stop
        yield X[i], y[i], masks[i]


def _files(folder):
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            out[path.relative_to(folder).as_posix()] = path.read_bytes()
    return out


def test_resume_after_an_exception_gives_the_same_files(net, data, tmp_path):
    """Check a run stopped by an exception leaves its finished batches (no partial shard)
    and, resumed, writes what an uninterrupted run writes."""
    X, y, masks = data
    X = (X / 255).astype(np.float32)
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    _compare(net, X, y, masks=masks, output_dir=whole, save_maps=True)
    with pytest.raises(_Stop):
        _compare(net, _failing(X, y, masks, after=6), output_dir=broken, save_maps=True)
    assert sorted(p.name for p in (broken / "rows").iterdir()) == [
        "part-000000000.parquet", "part-000000003.parquet"]
    assert not list(broken.rglob("*.tmp"))
    assert not json.loads((broken / "manifest.json").read_text())["complete"]
    partial = explainkit.load_comparison(broken)
    assert partial.params["images"] == 6
    resumed = _compare(net, X, y, masks=masks, output_dir=broken, save_maps=True)
    assert _files(broken).keys() == _files(whole).keys()
    for name, content in _files(whole).items():
        if name.endswith(".npy"):
            assert _files(broken)[name] == content, name
    _same(resumed, explainkit.load_comparison(whole))
    loaded = explainkit.load_comparison(broken)
    _same(loaded, resumed)
    assert loaded.calls == explainkit.load_comparison(whole).calls
    np.testing.assert_array_equal(loaded.maps["rise"][6],
                                  np.load(whole / "maps" / "rise" / "part-000000006.npy")[0])


def test_a_mismatched_manifest_is_refused(net, data, tmp_path):
    """Check another call in the same output_dir is refused unless overwrite=True."""
    X, y, masks = data
    X = (X / 255).astype(np.float32)
    out = tmp_path / "run"
    _compare(net, X[:3], y[:3], masks=masks[:3], output_dir=out)
    with pytest.raises(ValueError, match="holds another run.*methods"):
        _compare(net, X[:3], y[:3], masks=masks[:3], output_dir=out, methods=("gradcam",))
    with pytest.raises(ValueError, match="holds another run.*random_state"):
        _compare(net, X[:3], y[:3], masks=masks[:3], output_dir=out, random_state=12)
    with pytest.raises(ValueError, match="resume=True"):
        _compare(net, X[:3], y[:3], masks=masks[:3], output_dir=out, resume=False)
    again = _compare(net, X[:3], y[:3], masks=masks[:3], output_dir=out, methods=("gradcam",),
                     overwrite=True)
    assert again.methods == ["gradcam"]
    assert json.loads((out / "manifest.json").read_text())["call"]["methods"].keys() == {
        "gradcam"}
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a run of explainkit"):
        _compare(net, X[:3], y[:3], masks=masks[:3], output_dir=tmp_path / "other")


def test_rows_as_csv_without_pyarrow(net, data, tmp_path, monkeypatch):
    """Check the rows fall back to CSV and read back to the same comparison."""
    from explainkit._dataset import _runner

    X, y, masks = data
    X = (X / 255).astype(np.float32)
    monkeypatch.setattr(_runner, "rows_format", lambda: "csv")
    result = _compare(net, X[:4], y[:4], masks=masks[:4], output_dir=tmp_path / "csv")
    assert sorted(p.suffix for p in (tmp_path / "csv" / "rows").iterdir()) == [".csv"] * 2
    _same(explainkit.load_comparison(tmp_path / "csv"), result)
    assert (tmp_path / "csv" / "table.md").read_text().startswith("| method |")


def test_memory_stays_bounded(net):
    """Check the memory numpy holds at its peak does not grow with the data set's length
    (streamed from a generator, maps written to disk): 2000 vs 200 images of 64x64."""
    import tempfile

    inputs = keras.Input((64, 64, 3))
    hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(hidden))
    small = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    chunk = rng.uniform(size=(50, 64, 64, 3)).astype(np.float32)

    def peak(count):
        def images():
            for _ in range(count // 50):
                yield chunk.copy()
        with tempfile.TemporaryDirectory() as folder:
            tracemalloc.start()
            explainkit.explain_dataset(small, images(), "gradcam", 0, output_dir=folder,
                                       images_per_batch=50)
            _, high = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        return high

    peak(100)  # compiled once
    assert peak(2000) - peak(200) < 50 * 2**20


def test_bad_folders_files_and_labels(net, data, tmp_path):
    """Check clear errors naming the folder, file or argument, and on_error='skip'."""
    X, y, masks = data
    with pytest.raises(ValueError, match="is not a folder"):
        image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files in"):
        image_folder(tmp_path / "empty")
    root = _folder(tmp_path, X[:3], y[:3], masks[:3])
    Image.fromarray(X[0]).save(root / "loose.png")
    with pytest.raises(ValueError, match="loose.png is not in one"):
        image_folder(root)
    (root / "loose.png").unlink()
    with pytest.raises(ValueError, match="labels must be one int per file"):
        image_folder(root, labels=[0, 1])
    with pytest.raises(ValueError, match="image_size must be"):
        image_folder(root, image_size=(0, 3))
    (root / "0_square" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png"):
        _compare(net, image_folder(root), metrics=("deletion",))
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "0_square" / "small.png")
    out = tmp_path / "skipped"
    result = _compare(net, image_folder(root), metrics=("deletion",), on_error="skip",
                      output_dir=out)
    skipped = json.loads((out / "manifest.json").read_text())["skipped"]
    assert sorted(s["name"] for s in skipped) == ["0_square/broken.png", "0_square/small.png"]
    assert "16x16x3" in next(s["reason"] for s in skipped if "small" in s["name"])
    assert result.params["images"] == 3
    (root / "0_square" / "broken.png").unlink()
    (root / "0_square" / "small.png").unlink()
    missing = next((tmp_path / "masks").rglob("02.png"))
    missing.unlink()
    with pytest.raises(ValueError, match="no mask for .*02.png"):
        _compare(net, image_folder(root, masks=tmp_path / "masks"))
    with pytest.raises(ValueError, match="labels must be one integer class per image"):
        _compare(net, [(X[:2].astype(np.float32), np.array([0.5, 1.0]))], metrics=("deletion",))
    with pytest.raises(ValueError, match="must all have one size"):
        _compare(net, [X[:2], X[:2, :16, :16]], metrics=("deletion",))
    with pytest.raises(ValueError, match="pass masks="):
        _compare(net, [X[:2]], metrics=("pointing_game",))
    with pytest.raises(ValueError, match="randomization checks the model"):
        _compare(net, [X[:2]], metrics=("randomization",))
    with pytest.raises(ValueError, match="engine"):
        _compare(net, [X[:2]], engine="spark")
    with pytest.raises(ValueError, match="images_per_batch"):
        _compare(net, [X[:2]], images_per_batch=0)
    with pytest.raises(ValueError, match="workers and address are for engine='ray'"):
        _compare(net, [X[:2]], workers=2)
