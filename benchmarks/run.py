"""Run the benchmarks: every ``benchmarks/bench_*.py`` (or those named) through its ``main()``.

    python benchmarks/run.py                 all of them
    python benchmarks/run.py gradcam lime    bench_gradcam.py and bench_lime.py only
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(HERE))
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    names = [n.removesuffix(".py").removeprefix("bench_") for n in argv] or available
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}")
        return 2
    failed = []
    for name in names:
        print(f"=== bench_{name} ===", flush=True)
        try:
            importlib.import_module(f"bench_{name}").main()
        except Exception:  # one broken benchmark must not hide the others
            traceback.print_exc()
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
