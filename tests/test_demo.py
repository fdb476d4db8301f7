"""``explainkit demo``: the README's first command writes every figure and a gallery."""

import re

from conftest import PNG_SIGNATURE, run_python


def test_demo_writes_the_gallery_and_every_file_it_lists(tmp_path):
    """Check the quick demo runs, writes what it lists and links only existing files."""
    result = run_python("-m", "explainkit", "demo", "--quick", "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "classification: predicted" in result.stdout
    index = tmp_path / "out" / "index.html"
    assert f"open {index.resolve()}" in result.stdout
    links = re.findall(r'src="([^"]+)"', index.read_text())
    assert len(links) == 6
    for name in links:
        assert (tmp_path / "out" / name).read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([*links,
                                                                           "index.html"])
    # The classifier is right and its maps sit mostly on the object (ground truth).
    line = next(s for s in result.stdout.splitlines() if s.startswith("classification"))
    predicted, true = re.search(r"predicted (.*) \(true (.*)\);", line).groups()
    assert predicted == true
    shares = [float(v) for v in re.findall(r"(?:gradcam|occlusion|lime) (\d\.\d\d)", line)]
    assert len(shares) == 3 and min(shares) > 0.2  # objects cover about 0.1 of each image
    cams = next(s for s in result.stdout.splitlines() if s.startswith("CAM family"))
    shares = [float(v) for v in re.findall(r"[a-z+]+ (\d\.\d\d)", cams)]
    assert len(shares) == 9 and min(shares) > 0.2  # every CAM variant, on the object too
