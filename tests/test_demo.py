"""The README's main job runs and writes its figure."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gradcam_demo_writes_png(tmp_path):
    """Check examples/gradcam_demo.py trains, explains and writes a PNG."""
    output = tmp_path / "demo.png"
    result = subprocess.run(
        [sys.executable, ROOT / "examples" / "gradcam_demo.py", "--output", output],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "feature layer: last_conv, reduction layer: predictions" in result.stdout
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
