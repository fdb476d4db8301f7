"""The ``explainkit`` command line end to end, on models saved in a temporary folder.

Most runs call ``main`` in this process (TensorFlow is imported once); a subprocess is
used only where a fresh interpreter is the point: what ``--help`` imports and what a run
prints on stderr.
"""

import ast
import json
import os
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest
from conftest import PNG_SIGNATURE, ROOT, cam_model
from skimage import io

import explainkit
from explainkit.cli import METHOD_NAMES, load_images, main

HEAVY = ("tensorflow", "keras", "matplotlib")


def _explain(capsys, *args):
    """``main(["explain", *args])``: (exit status, stdout, stderr)."""
    status = main(["explain", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def _fresh_python(*args, env=None) -> subprocess.CompletedProcess:
    """``python *args`` in a fresh interpreter, in the repository root."""
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=600, check=False, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    net = cam_model(seed=4, classes=3)
    net.save(folder / "model.keras")
    cam_model(channels=1, classes=3).save(folder / "gray.keras")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        io.imsave(folder / f"img{i}.png", image, check_contrast=False)
    (folder / "names.txt").write_text("cat\ndog\nfox\n")
    (folder / "garbage.png").write_bytes(b"not an image")
    (folder / "garbage.h5").write_bytes(b"not a model")
    return folder, net, images


def test_help_lists_every_option(capsys):
    """Check --help names the methods, the main options and why --unsafe exists."""
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--method", "--target", "--class-names", "--model-output", "--output",
                   "--preprocess", "--feature-layer", "--mask-size", "--stride",
                   "--num-features", "--num-samples", "--segmentation", "--surrogate",
                   "--unsafe", "--debug"):
        assert option in text
    assert "'all' = gradcam,occlusion,lime" in text and "arbitrary code" in text
    from explainkit import methods  # noqa: F401  (registers every method)
    from explainkit.base import METHODS

    assert set(METHOD_NAMES) == set(METHODS)  # the list --help shows, without importing them
    for name in METHOD_NAMES:
        assert name in text
    assert "several outputs" in text and "index" in text and "name" in text


def test_cli_module_imports_only_the_standard_library():
    """Check cli.py imports nothing but the standard library at module level."""
    tree = ast.parse((ROOT / "explainkit" / "cli.py").read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import at module level loads the package"
            names.add(node.module.split(".")[0])
    assert names - {"__future__"} <= sys.stdlib_module_names


def test_help_imports_no_tensorflow():
    """Check --help and explain --help answer without importing TensorFlow, Keras, matplotlib."""
    code = (
        "import contextlib, io, json, sys\n"
        "from explainkit.cli import main\n"
        "for argv in (['--help'], ['explain', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    result = _fresh_python("-c", code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_successful_run_prints_nothing_on_stderr(files, tmp_path):
    """Check a run with no log level set by the user writes nothing on stderr (no TF log)."""
    folder, _, _ = files
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = _fresh_python("-m", "explainkit", "explain", folder / "model.keras",
                           folder / "img0.png", "--output", tmp_path / "out", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    assert "img0.png" in result.stdout


def test_explain_all_methods_matches_the_python_api(files, tmp_path, capsys):
    """Check --method all writes one figure per image and the maps explain() gives."""
    folder, net, images = files
    out = tmp_path / "out"
    status, stdout, err = _explain(
        capsys, folder / "model.keras", folder / "img0.png", folder / "img1.png",
        "--method", "all", "--target", "dog", "--class-names", folder / "names.txt",
        "--num-samples", 64, "--output", out)
    assert status == 0, err
    assert "img0.png: dog" in stdout
    for i in range(2):
        assert (out / f"img{i}_all.png").read_bytes()[:8] == PNG_SIGNATURE
    saved = np.load(out / "explanations.npz")
    assert set(saved.files) == {"gradcam_maps", "occlusion_maps", "lime_maps", "targets",
                                "scores"}
    X = images.astype(np.float32) / 255.0  # --preprocess none
    expected = explainkit.explain(net, X, 1, method="gradcam")
    np.testing.assert_allclose(saved["gradcam_maps"], expected.maps, rtol=1e-5, atol=1e-7)
    expected = explainkit.explain(net, X, "dog", method="occlusion",
                                  class_names=["cat", "dog", "fox"])
    np.testing.assert_allclose(saved["occlusion_maps"], expected.maps, rtol=1e-5, atol=1e-7)
    expected = explainkit.explain(net, X, 1, method="lime", num_samples=64, random_state=0)
    np.testing.assert_allclose(saved["lime_maps"], expected.maps, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(saved["targets"], [[1], [1]])


def test_h5_with_a_keras2_optimizer_config_loads(files, tmp_path, capsys):
    """Check an .h5 whose optimizer Keras 3 cannot read is explained as the API explains it."""
    folder, _, images = files
    net = cam_model(seed=5, classes=3)
    net.compile(optimizer="adam", loss="categorical_crossentropy")
    path = tmp_path / "old.h5"
    net.save(path)
    keras2_training_config = {
        "optimizer_config": {"class_name": "Adam", "config": {
            "lr": 0.001, "beta_1": 0.9, "beta_2": 0.999, "decay": 0.0, "epsilon": 1e-07,
            "amsgrad": False}},
        "loss": "categorical_crossentropy", "metrics": ["accuracy"],
        "sample_weight_mode": None, "loss_weights": None,
    }  # fmt: skip
    with h5py.File(path, "r+") as f:
        f.attrs["training_config"] = json.dumps(keras2_training_config)
    with pytest.raises(ValueError, match="lr"):
        keras.models.load_model(path)  # compile=True reads the optimizer and fails
    status, _, err = _explain(capsys, path, folder / "img0.png", folder / "img1.png",
                              "--output", tmp_path / "out")
    assert status == 0, err
    loaded = keras.saving.load_model(path, compile=False)
    expected = explainkit.explain(loaded, images.astype(np.float32) / 255.0, method="gradcam")
    saved = np.load(tmp_path / "out" / "explanations.npz")
    np.testing.assert_allclose(saved["gradcam_maps"], expected.maps, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(saved["targets"], expected.targets)


#: What is wrong: (the arguments of `explain`, what its error line must name).
USER_ERRORS = {
    "missing model": (["{f}/missing.keras", "{f}/img0.png"], ["{f}/missing.keras"]),
    "unreadable model": (["{f}/garbage.h5", "{f}/img0.png"], ["{f}/garbage.h5"]),
    "missing image": (["{f}/model.keras", "{f}/missing.png"], ["{f}/missing.png"]),
    "unreadable image": (["{f}/model.keras", "{f}/garbage.png"], ["{f}/garbage.png"]),
    "wrong channel count": (["{f}/gray.keras", "{f}/img0.png"], ["{f}/img0.png", "channels"]),
    "unknown layer": (["{f}/model.keras", "{f}/img0.png", "--feature-layer", "nope"],
                      ["--feature-layer", "nope"]),
    "unknown class name": (["{f}/model.keras", "{f}/img0.png", "--target", "zebra",
                            "--class-names", "{f}/names.txt"], ["--target", "zebra"]),
    "missing class names": (["{f}/model.keras", "{f}/img0.png", "--class-names",
                             "{f}/missing.txt"], ["--class-names", "{f}/missing.txt"]),
}  # fmt: skip


@pytest.mark.parametrize("case", USER_ERRORS)
def test_user_error_is_one_line_and_status_2(case, files, tmp_path, capsys):
    """Check each user error ends with one stderr line naming its file or option, status 2."""
    folder = files[0]
    args, named = ([a.format(f=folder) for a in items] for items in USER_ERRORS[case])
    status, _, err = _explain(capsys, *args, "--output", tmp_path / "out")
    assert status == 2
    assert err.startswith("explainkit: error: ") and err.count("\n") == 1, err
    for word in named:
        assert word in err


def test_debug_shows_the_traceback(files, tmp_path):
    """Check --debug, before or after the subcommand, raises instead of printing one line."""
    folder = files[0]
    args = [str(folder / "model.keras"), str(folder / "img0.png"), "--feature-layer", "nope",
            "--output", str(tmp_path / "out")]
    with pytest.raises(ValueError, match="nope") as error:
        main(["--debug", "explain", *args])
    with pytest.raises(ValueError, match="nope"):
        explainkit.gradcam(files[1], files[2] / 255.0, feature_layer="nope")  # the cause
    assert isinstance(error.value.__cause__, ValueError)
    with pytest.raises(ValueError, match="nope"):
        main(["explain", *args, "--debug"])


def test_unsafe_model_needs_the_flag(tmp_path, capsys):
    """Check a model carrying Python code is refused without --unsafe and runs with it."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x)).save(
        tmp_path / "lambda.keras")
    io.imsave(tmp_path / "img.png", np.zeros((16, 16, 3), np.uint8), check_contrast=False)
    status, _, err = _explain(capsys, tmp_path / "lambda.keras", tmp_path / "img.png",
                              "--output", tmp_path / "out")
    assert status == 2 and err.count("\n") == 1
    assert "lambda.keras" in err and "pass --unsafe" in err
    status, _, err = _explain(capsys, tmp_path / "lambda.keras", tmp_path / "img.png",
                              "--unsafe", "--method", "occlusion", "--output", tmp_path / "out")
    assert status == 0, err
    assert (tmp_path / "out" / "img_occlusion.png").exists()


def test_model_output_chooses_the_output(files, tmp_path, capsys):
    """Check --model-output by index and by name gives the maps explain(output=...) gives."""
    folder, _, images = files
    keras.utils.set_random_seed(6)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    net = keras.Model(inputs, [keras.layers.Dense(3, activation="softmax", name="main")(x),
                               keras.layers.Dense(2, activation="softmax", name="aux")(x)])
    net.save(tmp_path / "two.keras")
    X = images.astype(np.float32) / 255.0
    for choice in ("1", "aux"):
        out = tmp_path / choice
        status, _, err = _explain(capsys, tmp_path / "two.keras", folder / "img0.png",
                                  folder / "img1.png", "--model-output", choice, "--method",
                                  "all", "--num-samples", 32, "--output", out)
        assert status == 0, err
        saved = np.load(out / "explanations.npz")
        for method in ("gradcam", "occlusion", "lime"):
            options = {"num_samples": 32, "random_state": 0} if method == "lime" else {}
            expected = explainkit.explain(net, X, method=method, output=1, **options)
            np.testing.assert_allclose(saved[f"{method}_maps"], expected.maps, rtol=1e-5,
                                       atol=1e-7)


def test_load_images_gray_rgba_resize_and_preprocess(tmp_path):
    """Check image files become RGB 0-255, resized, then each preprocessing as Keras does."""
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, size=(20, 24), dtype=np.uint8)
    rgba = np.concatenate([rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8),
                           np.full((16, 16, 1), 255, np.uint8)], axis=-1)
    io.imsave(tmp_path / "gray.png", gray, check_contrast=False)
    io.imsave(tmp_path / "rgba.png", rgba, check_contrast=False)
    raw = load_images([tmp_path / "rgba.png"], None, "raw")
    np.testing.assert_allclose(raw[0], rgba[..., :3].astype(np.float32), atol=1e-3)
    resized = load_images([tmp_path / "gray.png"], (16, 16), "none")
    assert resized.shape == (1, 16, 16, 3) and 0 <= resized.min() and resized.max() <= 1
    np.testing.assert_array_equal(resized[..., 0], resized[..., 2])
    vgg = load_images([tmp_path / "rgba.png"], None, "vgg16")
    expected = keras.applications.vgg16.preprocess_input(rgba[None, ..., :3].astype("float32"))
    np.testing.assert_allclose(vgg, expected, atol=1e-3)
    tf_style = load_images([tmp_path / "rgba.png"], None, "mobilenet_v2")
    np.testing.assert_allclose(tf_style, rgba[None, ..., :3] / 127.5 - 1, atol=1e-3)
    with pytest.raises(ValueError, match=r"different sizes \(gray.png 20x24, rgba.png 16x16"):
        load_images([tmp_path / "gray.png", tmp_path / "rgba.png"], None, "none")


@pytest.mark.parametrize("case", ["missing image", "unknown layer"])
def test_user_error_from_the_real_command(case, files, tmp_path):
    """Check `python -m explainkit` itself ends a user error with one line and status 2
    (a file checked before TensorFlow loads, and a layer name checked after)."""
    folder = files[0]
    args = [a.format(f=folder) for a in USER_ERRORS[case][0]]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = _fresh_python("-m", "explainkit", "explain", *args, "--output", tmp_path / "out",
                           env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("explainkit: error: ") and result.stderr.count("\n") == 1, (
        result.stderr)
    assert "Traceback" not in result.stderr


def test_several_methods_and_the_cam_family(files, tmp_path, capsys):
    """Check --method with a list of CAM variants writes their maps, equal to the API's."""
    folder, net, images = files
    status, _, err = _explain(capsys, folder / "model.keras", folder / "img0.png", "--method",
                              "layercam,scorecam", "--output", tmp_path / "out")
    assert status == 0, err
    assert (tmp_path / "out" / "img0_layercam_scorecam.png").read_bytes()[:8] == PNG_SIGNATURE
    saved = np.load(tmp_path / "out" / "explanations.npz")
    X = images[:1].astype(np.float32) / 255.0
    for method in ("layercam", "scorecam"):
        np.testing.assert_allclose(saved[f"{method}_maps"],
                                   explainkit.explain(net, X, method=method).maps,
                                   rtol=1e-5, atol=1e-7)
    with pytest.raises(SystemExit):
        main(["explain", str(folder / "model.keras"), str(folder / "img0.png"), "--method",
              "gradcam,nope"])
    assert "unknown method 'nope'" in capsys.readouterr().err
