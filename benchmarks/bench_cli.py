"""Command-line start-up: what ``explainkit --help`` and ``import explainkit`` cost.

Each command runs in a fresh interpreter (a subprocess, from the repository root, as a
user would start it), so every run pays Python's start-up and every import afresh; the
operating system's file cache is warm after the warm-up runs. The commands are timed in
turns (round robin) and the median wall time is kept.

- ``python -c pass``: the interpreter's own start-up, the floor of every command.
- ``python -c "import tensorflow"``: the reference, what a command pays that imports
  TensorFlow.
- ``python -c "import explainkit"``, ``python -m explainkit --help`` and
  ``python -m explainkit explain --help``: should stay near the floor, since neither
  importing the package nor answering ``--help`` needs TensorFlow, Keras or matplotlib.

A separate run of each command records which of those three it imported (the reason for
its time). Target of the issue: the two ``--help`` commands import none of them.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

from _harness import environment, failure, markdown_table, measure_interleaved, save_results

NAME = "cli"
ROOT = Path(__file__).resolve().parents[1]
REPEATS = 5
WARMUP = 1
HEAVY = ("tensorflow", "keras", "matplotlib")
REFERENCE = 'python -c "import tensorflow"'
HELP_COMMANDS = ("python -m explainkit --help", "python -m explainkit explain --help")

#: Label -> ("code", source for python -c) or ("module", arguments of python -m explainkit).
COMMANDS = {
    "python -c pass": ("code", "pass"),
    REFERENCE: ("code", "import tensorflow"),
    'python -c "import explainkit"': ("code", "import explainkit"),
    HELP_COMMANDS[0]: ("module", ["--help"]),
    HELP_COMMANDS[1]: ("module", ["explain", "--help"]),
}


def _environment() -> dict:
    """The subprocesses' environment: TensorFlow's log level as the harness sets it, Agg."""
    return {**os.environ, "MPLBACKEND": "Agg"}


def argv(kind: str, value) -> list[str]:
    """The command line of one command."""
    if kind == "code":
        return [sys.executable, "-c", value]
    return [sys.executable, "-m", "explainkit", *value]


def run(command: list[str]) -> None:
    """Run ``command`` from the repository root; raise if it fails."""
    result = subprocess.run(command, cwd=ROOT, env=_environment(), capture_output=True,
                            text=True, timeout=600, check=False)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
        raise RuntimeError(lines[-1])


def heavy_imports(kind: str, value) -> list[str]:
    """Which of TensorFlow, Keras and matplotlib the command imports (one probe run)."""
    if kind == "code":
        body = f"exec(compile({value!r}, '<string>', 'exec'), {{}})"
    else:
        body = (f"sys.argv = ['explainkit', *{value!r}]\n"
                "    runpy.run_module('explainkit', run_name='__main__', alter_sys=True)")
    probe = (
        "import contextlib, io, json, runpy, sys\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    {body}\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=_environment(),
                            capture_output=True, text=True, timeout=600, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    commands = {label: argv(kind, value) for label, (kind, value) in COMMANDS.items()}
    records: dict[str, dict] = {}
    for label, (kind, value) in COMMANDS.items():
        records[label] = {"argv": commands[label][1:]}
        try:
            records[label]["imports"] = heavy_imports(kind, value)
        except (subprocess.SubprocessError, ValueError, IndexError) as exc:
            records[label]["imports_error"] = failure(exc)
    calls = {label: functools.partial(run, command) for label, command in commands.items()}
    for label, timing in measure_interleaved(calls, REPEATS, WARMUP).items():
        if isinstance(timing, Exception):
            records[label]["error"] = failure(timing)
        else:
            records[label].update(median_s=timing.median, min_s=timing.min,
                                  samples_s=timing.samples, warmup_s=timing.warmup)
    reference = records[REFERENCE].get("median_s")
    for label, record in records.items():
        record["of_import_tensorflow"] = (record["median_s"] / reference
                                          if reference and "median_s" in record else None)
        shown = (f"{record['median_s']:.3f} s (min {record['min_s']:.3f})"
                 if "median_s" in record else record["error"])
        print(f"{label:<40} {shown}  imports: {record.get('imports', '?')}", flush=True)
    checks = {label: ("imports" in records[label] and not records[label]["imports"])
              for label in HELP_COMMANDS}
    for label, holds in checks.items():
        print(f"target {label} imports no TensorFlow/Keras/matplotlib: "
              f"{'holds' if holds else 'MISSED'}")
    results = {
        "setup": {"repeats": REPEATS, "warmup": WARMUP, "cwd": "repository root",
                  "statistic": "median wall seconds of a fresh interpreter per run",
                  "TF_CPP_MIN_LOG_LEVEL": _environment().get("TF_CPP_MIN_LOG_LEVEL")},
        "commands": records,
        "targets": {f"{label} imports none of {', '.join(HEAVY)}": holds
                    for label, holds in checks.items()},
    }
    save_results(NAME, results, _markdown(records, checks))
    print(f"wrote benchmarks/results/{NAME}.json and .md")


def _markdown(records: dict, checks: dict) -> str:
    def imports(record):
        if "imports" not in record:
            return record.get("imports_error", "-")
        return ", ".join(record["imports"]) or "none"

    rows = [[f"`{label}`", record.get("median_s", record.get("error")), record.get("min_s"),
             record["of_import_tensorflow"], imports(record)]
            for label, record in records.items()]
    target_rows = [[f"`{label}` imports none of {', '.join(HEAVY)}",
                    "yes" if holds else "no"] for label, holds in checks.items()]
    return "\n\n".join([
        f"Wall seconds of each command in a fresh interpreter, run from the repository root: "
        f"median of {REPEATS} runs timed in turns after {WARMUP} warm-up run(s). "
        "\"/ import tensorflow\" is the median over that of `python -c \"import "
        "tensorflow\"`; \"imports\" is what a separate run of the command left in "
        "`sys.modules` of TensorFlow, Keras and matplotlib. explainkit at "
        f"{environment()['explainkit_git'] or 'an unknown revision'} (\"-dirty\": with "
        "uncommitted changes in the working tree, which are measured too).",
        "## Times (s)",
        markdown_table(["command", "median", "min", "/ import tensorflow", "imports"], rows),
        "## Targets",
        markdown_table(["target", "holds"], target_rows),
    ])


if __name__ == "__main__":
    main()
