"""The Ray engine on a local 2-CPU Ray: the local engine's results, a killed actor retried.

Kept to a few runs: Ray starts in seconds, but each actor that runs a Keras model imports
TensorFlow.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ray = pytest.importorskip("ray")

import explainkit  # noqa: E402
from explainkit._demo import load_model  # noqa: E402
from explainkit.datasets import image_folder, make_shapes  # noqa: E402

METRICS = ("deletion", "average_drop", "pointing_game")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def data():
    return make_shapes(6, 32, random_state=8)


def _same(a, b):
    assert a.methods == b.methods and a.metrics == b.metrics
    for method in a.methods:
        for metric in a.metrics:
            np.testing.assert_allclose(a.results[method][metric].values,
                                       b.results[method][metric].values, rtol=1e-6, atol=1e-6)
    assert a.calls == b.calls


def test_ray_equals_the_local_engine(local_ray, data, tmp_path):
    """Check a Keras model file explained on Ray (arrays, and a folder read by the actors)
    gives the local engine's results, files and maps."""
    from PIL import Image

    X, y, masks = data
    path = tmp_path / "net.keras"
    load_model("classifier").save(path)
    options = {"methods": ("gradcam", "rise"), "metrics": METRICS,
               "method_options": {"rise": {"num_masks": 32}}, "random_state": 2,
               "images_per_batch": 2, "save_maps": True}
    on_ray = explainkit.compare(str(path), X, y, masks=masks, engine="ray", workers=1,
                                output_dir=tmp_path / "ray", **options)
    here = explainkit.compare(str(path), X, y, masks=masks, output_dir=tmp_path / "local",
                              **options)
    _same(on_ray, here)
    for position in range(6):
        np.testing.assert_allclose(on_ray.maps["rise"][position], here.maps["rise"][position],
                                   atol=1e-6)
    assert sorted(p.name for p in (tmp_path / "ray" / "rows").iterdir()) == sorted(
        p.name for p in (tmp_path / "local" / "rows").iterdir())
    folder = tmp_path / "images"
    (folder / "0").mkdir(parents=True)
    for i, image in enumerate(X):
        Image.fromarray((image * 255).round().astype(np.uint8)).save(folder / "0" / f"{i}.png")
    (folder / "0" / "broken.png").write_bytes(b"no image")
    files = image_folder(folder, labels=None)
    folder_options = {**options, "metrics": ("deletion",), "on_error": "skip"}
    on_ray = explainkit.compare(str(path), files, engine="ray", workers=2,
                                output_dir=tmp_path / "ray-folder", **folder_options)
    here = explainkit.compare(str(path), files, output_dir=tmp_path / "local-folder",
                              **folder_options)
    _same(on_ray, here)
    import json

    for run in ("ray-folder", "local-folder"):
        manifest = json.loads((tmp_path / run / "manifest.json").read_text())
        assert [s["name"] for s in manifest["skipped"]] == ["0/broken.png"]


def _dying_factory(marker: str, driver: int):
    """A numpy classifier's factory whose first call in a worker process kills it."""

    def factory():
        weights = np.linspace(-1.0, 1.0, 3 * 32 * 32 * 2).reshape(-1, 2)

        def predict(images):
            if os.getpid() != driver and not os.path.exists(marker):
                open(marker, "w").close()  # noqa: SIM115 - a marker, closed at once
                os._exit(1)
            logits = np.asarray(images, np.float64).reshape(len(images), -1) @ weights
            logits -= logits.max(axis=1, keepdims=True)
            return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

        return predict

    return factory


def test_a_killed_actor_is_restarted_and_its_batch_redone(local_ray, data, tmp_path):
    """Check the run completes with the local engine's results when an actor dies."""
    X, y, _ = data
    marker = tmp_path / "died"
    factory = _dying_factory(str(marker), os.getpid())
    options = {"methods": ("occlusion",), "metrics": ("deletion", "average_drop"),
               "method_options": {"occlusion": {"mask_size": 8, "stride": 8}},
               "random_state": 0, "images_per_batch": 3}
    on_ray = explainkit.compare(factory, X, y, engine="ray", workers=1, **options)
    assert marker.exists()  # an actor died on its first batch
    assert on_ray.params["images"] == 6
    _same(on_ray, explainkit.compare(factory, X, y, output_dir=tmp_path / "local", **options))


def test_ray_errors(data, monkeypatch):
    """Check what cannot go to Ray is refused before Ray starts, and a missing Ray."""
    X, y, _ = data
    net = load_model("classifier")
    with pytest.raises(ValueError, match="not as an object in memory"):
        explainkit.compare(net, X, y, engine="ray")
    with pytest.raises(ValueError, match="takes methods by name"):
        explainkit.compare(lambda: net, X, y, methods=(explainkit.GradCAM(net),),
                           engine="ray")
    with pytest.raises(TypeError, match="engine_options has unknown option"):
        explainkit.compare(lambda: net, X, y, engine="ray", engine_options={"gpus": 1})
    with pytest.raises(ValueError, match="engine_options are Ray's"):
        explainkit.compare(net, [X], engine_options={"num_cpus": 1})
    monkeypatch.setitem(__import__("sys").modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'explainkit\[ray\]'"):
        explainkit.compare("net.keras", X, y, engine="ray")
