"""Every example runs offline in its ``--quick`` mode and writes the PNGs it reports."""

import re
from pathlib import Path

import pytest
from conftest import PNG_SIGNATURE, ROOT, run_python


def run_example(name: str, output: Path) -> str:
    """Run ``examples/<name>.py --quick --output <output>``; return its stdout."""
    result = run_python(ROOT / "examples" / f"{name}.py", "--quick", "--output", output,
                        timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def written_pngs(stdout: str) -> list[Path]:
    """The files an example says it wrote ("wrote <path>" lines)."""
    return [Path(line[len("wrote "):].strip()) for line in stdout.splitlines()
            if line.startswith("wrote ")]


def check_recipe(stdout: str) -> None:
    assert "feature layer block5_conv3" in stdout
    assert "reduction layer predictions" in stdout
    assert re.search(r"top prediction: class index \d+, probability", stdout)
    assert "heatmap 4x4" in stdout


def check_matlab_workflow(stdout: str) -> None:
    accuracy = float(re.search(r"test accuracy: ([01]\.\d\d)", stdout).group(1))
    assert accuracy >= 0.8  # the tiny CNN learns squares vs discs even in quick mode
    assert "Grad-CAM feature layer: last_conv" in stdout
    covers = float(re.search(r"the object covers ([01]\.\d\d)", stdout).group(1))
    for name in ("gradCAM", "occlusionSensitivity", "imageLIME"):
        share = re.search(rf"{name}: share of the map on the object ([01]\.\d\d)", stdout)
        assert float(share.group(1)) > covers  # more on the object than chance
    agreement = [line for line in stdout.splitlines() if "give the same maps" in line]
    if "explained with explainkit.matlab" in stdout:
        assert agreement == ["explainkit.matlab and the Python API give the same maps: "
                             "gradCAM True, occlusionSensitivity True, imageLIME True"]
    else:
        assert "explainkit.matlab is not available" in stdout


def check_segmentation(stdout: str) -> None:
    assert "automatic feature layer: decoder; this example uses encoder_out" in stdout
    assert "Grad-CAM of square summed over left half" in stdout or (
        "Grad-CAM of disc summed over left half" in stdout)
    assert "occlusion of" in stdout


def check_regression(stdout: str) -> None:
    assert "task: regression" in stdout
    assert "reduction layer: area (relu=False: signed map)" in stdout
    # The signed Grad-CAM map of a GAP + linear head sums to prediction - bias.
    match = re.search(r"sums to (-?[\d.]+); prediction - bias = (-?[\d.]+)", stdout)
    assert match
    assert float(match[1]) == pytest.approx(float(match[2]), abs=2e-3)


def check_digits(stdout: str) -> None:
    accuracy = float(re.search(r"test accuracy: ([\d.]+)", stdout)[1])
    assert accuracy > 0.85
    assert len(re.findall(r"LIME's best cell: row [0-3], column [0-3]", stdout)) == 3


def check_lcam(stdout: str) -> None:
    for variant in ("Fm", "Img"):
        assert f"saved and loaded L-CAM-{variant}: the same maps True" in stdout
        before, after = map(float, re.search(
            rf"L-CAM-{variant}: trained .* loss ([\d.]+) -> ([\d.]+)", stdout).groups())
        assert after < before  # training lowers the loss
    for method in ("L-CAM-Fm", "L-CAM-Img", "Grad-CAM", "Score-CAM", "RISE"):
        assert re.search(rf"^{re.escape(method)} ", stdout, re.MULTILINE)


EXAMPLES = {
    "keras_gradcam_recipe": check_recipe,
    "matlab_workflow": check_matlab_workflow,
    "segmentation_gradcam": check_segmentation,
    "regression_signed": check_regression,
    "sklearn_digits": check_digits,
    "lcam_shapes": check_lcam,
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_quick(name, tmp_path):
    """Check the example exits cleanly, writes valid PNGs under --output and prints sense."""
    stdout = run_example(name, tmp_path)
    pngs = written_pngs(stdout)
    assert pngs, stdout
    for path in pngs:
        assert path.suffix == ".png"
        assert path.resolve().parent == tmp_path.resolve()
        assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in pngs)
    EXAMPLES[name](stdout)
