"""Set up the environment and run the project's jobs; needs only Python >= 3.10.

    python dev.py demo    explain the embedded demo models with every method, write a gallery
    python dev.py test    install the test dependencies and run the test suite
    python dev.py bench   run the benchmarks against the peers (separate environment)

The first run creates a virtual environment in ``.venv`` (``.venv-bench`` for the
benchmarks) and installs explainkit into it; later runs reuse it and reinstall only when
``pyproject.toml`` changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_env(env_dir: Path, extras: str) -> Path:
    """Create ``env_dir`` when missing and install explainkit with ``extras`` into it."""
    python = _python(env_dir)
    if not python.exists():
        print(f"creating {env_dir.name} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(env_dir)
        subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = env_dir / ".explainkit-installed"
    if not stamp.exists() or stamp.read_text() != digest:
        print(f"installing explainkit[{extras}] into {env_dir.name} ...", flush=True)
        target = f"{ROOT}[{extras}]" if extras else str(ROOT)
        subprocess.run([python, "-m", "pip", "install", "-q", "-e", target], check=True)
        stamp.write_text(digest)
    return python


def main(argv: list[str]) -> int:
    job = argv[0] if argv else ""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    if job == "demo":
        python = ensure_env(ROOT / ".venv", "dev")
        cmd = [python, "-m", "explainkit", "demo", *argv[1:]]
    elif job == "test":
        python = ensure_env(ROOT / ".venv", "dev")
        cmd = [python, "-m", "pytest", *(argv[1:] or ["-q"])]
    elif job == "bench":
        python = ensure_env(ROOT / ".venv-bench", "bench")
        cmd = [python, ROOT / "benchmarks" / "run.py", *argv[1:]]
    else:
        print(__doc__)
        return 2
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
