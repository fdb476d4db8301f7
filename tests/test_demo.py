"""``explainkit demo``: the README's first command writes every figure and a gallery."""

import re

from conftest import PNG_SIGNATURE, run_python


def test_demo_writes_the_gallery_and_every_file_it_lists(tmp_path):
    """Check the quick demo runs, writes what it lists and links only existing files, and
    prints nothing on stderr (TF_CPP_MIN_LOG_LEVEL=2, as dev.py sets it: no TF log)."""
    result = run_python("-m", "explainkit", "demo", "--quick", "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == "", result.stderr[-3000:]
    assert "classification: predicted" in result.stdout
    index = tmp_path / "out" / "index.html"
    assert f"open {index.resolve()}" in result.stdout
    page = index.read_text(encoding="utf-8")
    links = re.findall(r'src="([^"]+)"', page)
    assert len(links) == 9 and "comparison.png" in links
    assert {"units_maximize.png", "units_top_activating.png"} <= set(links)
    for name in links:
        assert (tmp_path / "out" / name).read_bytes()[:8] == PNG_SIGNATURE
    tables = ["comparison.md", "comparison.csv"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([*links, *tables,
                                                                           "index.html"])
    # The comparison of the classifier's methods: its tables name every method it ran.
    from explainkit._demo import COMPARE_METRICS, QUICK_COMPARE_METHODS

    markdown = (tmp_path / "out" / "comparison.md").read_text(encoding="utf-8")
    csv_rows = (tmp_path / "out" / "comparison.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in csv_rows[1:]] == list(QUICK_COMPARE_METHODS)
    for method in QUICK_COMPARE_METHODS:
        assert f"| {method} |" in markdown
        assert f"<td>{method}</td>" in page  # the HTML table, in the gallery
    for metric in COMPARE_METRICS:
        assert metric in markdown.splitlines()[0] and metric in csv_rows[0]
    assert "comparison on the true classes (2 images):" in result.stdout
    # The classifier is right and its maps sit mostly on the object (ground truth).
    line = next(s for s in result.stdout.splitlines() if s.startswith("classification"))
    predicted, true = re.search(r"predicted (.*) \(true (.*)\);", line).groups()
    assert predicted == true
    shares = [float(v) for v in re.findall(r"(?:gradcam|occlusion|lime) (\d\.\d\d)", line)]
    assert len(shares) == 3 and min(shares) > 0.2  # objects cover about 0.1 of each image
    cams = next(s for s in result.stdout.splitlines() if s.startswith("CAM family"))
    shares = [float(v) for v in re.findall(r"[a-z+]+ (\d\.\d\d)", cams)]
    assert len(shares) == 9 and min(shares) > 0.2  # every CAM variant, on the object too
    # The units: maximisation raises their activation; the shapes that excite them most
    # have an object in the crop more often than any window of that size does.
    units = next(s for s in result.stdout.splitlines() if s.startswith("units of last_conv"))
    raised, on_object, chance = re.search(
        r"raised (\d+)x .* on an object (\d\.\d\d) \(any \d+x\d+ window: (\d\.\d\d)\)",
        units).groups()
    assert int(raised) > 2 and float(on_object) > float(chance)
