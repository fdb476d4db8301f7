"""The ``explainkit`` command line end to end, on models saved in a temporary folder."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import cam_model
from skimage import io

import explainkit

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "explainkit", *map(str, args)], capture_output=True, text=True,
        timeout=600, check=False, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    net = cam_model(seed=4, classes=3)
    net.save(folder / "model.keras")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        io.imsave(folder / f"img{i}.png", image, check_contrast=False)
    (folder / "names.txt").write_text("cat\ndog\nfox\n")
    return folder, net, images


def test_help_lists_every_option():
    """Check --help names the methods, the main options and why --unsafe exists."""
    text = _run("explain", "--help").stdout
    for option in ("--method", "--target", "--class-names", "--output", "--preprocess",
                   "--feature-layer", "--mask-size", "--stride", "--num-features",
                   "--num-samples", "--segmentation", "--surrogate", "--unsafe"):
        assert option in text
    assert "gradcam,occlusion,lime,all" in text and "arbitrary code" in text


def test_explain_all_methods_matches_the_python_api(files, tmp_path):
    """Check --method all writes one figure per image and the maps explain() gives."""
    folder, net, images = files
    out = tmp_path / "out"
    result = _run("explain", folder / "model.keras", folder / "img0.png", folder / "img1.png",
                  "--method", "all", "--target", "dog", "--class-names", folder / "names.txt",
                  "--num-samples", 64, "--output", out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "img0.png: dog" in result.stdout
    for i in range(2):
        assert (out / f"img{i}_all.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = np.load(out / "explanations.npz")
    X = images.astype(np.float32) / 255.0  # --preprocess none
    expected = explainkit.explain(net, X, "dog", method="occlusion",
                                  class_names=["cat", "dog", "fox"])
    np.testing.assert_allclose(saved["occlusion_maps"], expected.maps, rtol=1e-5, atol=1e-7)
    expected = explainkit.explain(net, X, 1, method="lime", num_samples=64, random_state=0)
    np.testing.assert_allclose(saved["lime_maps"], expected.maps, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(saved["targets"], [[1], [1]])


def test_unsafe_model_needs_the_flag(tmp_path):
    """Check a model carrying Python code is refused without --unsafe and runs with it."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x)).save(
        tmp_path / "lambda.keras")
    io.imsave(tmp_path / "img.png", np.zeros((16, 16, 3), np.uint8), check_contrast=False)
    refused = _run("explain", tmp_path / "lambda.keras", tmp_path / "img.png",
                   "--output", tmp_path / "out")
    assert refused.returncode != 0
    assert "pass --unsafe" in refused.stderr
    allowed = _run("explain", tmp_path / "lambda.keras", tmp_path / "img.png", "--unsafe",
                   "--method", "occlusion", "--output", tmp_path / "out")
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    assert (tmp_path / "out" / "img_occlusion.png").exists()
