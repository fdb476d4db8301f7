"""``explainkit demo``: the README's first command writes every figure and a gallery."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_writes_the_gallery_and_every_file_it_lists(tmp_path):
    """Check the quick demo runs, writes what it lists and links only existing files."""
    result = subprocess.run(
        [sys.executable, "-m", "explainkit", "demo", "--quick", "--output", tmp_path / "out"],
        capture_output=True, text=True, timeout=600, check=False, cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "classification: predicted" in result.stdout
    index = tmp_path / "out" / "index.html"
    assert f"open {index.resolve()}" in result.stdout
    links = re.findall(r'src="([^"]+)"', index.read_text())
    assert len(links) == 5
    for name in links:
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([*links,
                                                                           "index.html"])
    # The classifier is right and its maps sit mostly on the object (ground truth).
    line = next(s for s in result.stdout.splitlines() if s.startswith("classification"))
    predicted, true = re.search(r"predicted (.*) \(true (.*)\);", line).groups()
    assert predicted == true
