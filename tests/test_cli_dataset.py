"""``explainkit compare`` and ``explain`` on a folder: data-set runs from the command line."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import explainkit  # noqa: E402
from explainkit._demo import load_model  # noqa: E402
from explainkit.cli import main  # noqa: E402
from explainkit.datasets import image_folder, make_shapes  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-data")
    X, y, masks = make_shapes(5, 32, random_state=4)
    for i in range(5):
        name = "1_disc" if y[i] else "0_square"
        for folder, array in (("images", (X[i] * 255).round().astype(np.uint8)),
                              ("masks", masks[i].astype(np.uint8) * 255)):
            (root / folder / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / folder / name / f"{i}.png")
    net = load_model("classifier")
    net.save(root / "net.keras")
    return root, net


def test_compare_a_folder_resumes_and_refuses_another_run(files, tmp_path, capsys):
    """Check the command's comparison is the library's on the same folder (labels as
    targets, pixels scaled to [0, 1]), a second run resumes, another call is refused."""
    root, net = files
    out = tmp_path / "run"
    argv = ["compare", str(root / "net.keras"), str(root / "images"), "--methods",
            "gradcam,occlusion", "--masks", str(root / "masks"), "--output", str(out),
            "--images-per-batch", "2", "--no-progress", "--mask-size", "8", "--stride", "8"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "5 images" in printed and "pointing_game" in printed
    data = image_folder(root / "images", masks=root / "masks", transform=lambda x: x / 255)
    want = explainkit.compare(net, data, methods=("gradcam", "occlusion"), random_state=0,
                              method_options={"occlusion": {"mask_size": 8, "stride": 8}},
                              images_per_batch=2)
    got = explainkit.load_comparison(out)
    for method in want.methods:
        for metric in want.metrics:
            np.testing.assert_allclose(got.results[method][metric].values,
                                       want.results[method][metric].values, rtol=1e-6)
    assert main(argv) == 0  # resumed: nothing left to do, the same files
    assert json.loads((out / "manifest.json").read_text())["images"] == 5
    capsys.readouterr()
    assert main([*argv[:4], "gradcam", *argv[5:]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("explainkit: error: --output") and "--overwrite" in err
    assert "\n" not in err


def test_explain_a_folder_writes_each_methods_maps(files, tmp_path, capsys):
    """Check explain on a folder writes the maps explain_dataset gives, per method."""
    root, net = files
    out = tmp_path / "maps"
    assert main(["explain", str(root / "net.keras"), str(root / "images"), "--method",
                 "gradcam", "--output", str(out), "--no-progress"]) == 0
    assert "gradcam: 5 maps" in capsys.readouterr().out
    saved = explainkit.load_maps(out / "gradcam")
    want = explainkit.explain_dataset(
        net, image_folder(root / "images", transform=lambda x: x / 255), "gradcam")
    np.testing.assert_allclose(saved.take(range(5)), want.maps, rtol=1e-5, atol=1e-6)
