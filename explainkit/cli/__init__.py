"""The ``explainkit`` command line: ``explainkit demo``, ``explain``, ``compare`` and
``activations``.

Only the standard library is imported at module level: the arguments are parsed (and
``--help`` answered) before TensorFlow, Keras or matplotlib are imported. A user's mistake
(a missing file, an unknown layer or class name, a model that needs ``--unsafe``) ends
with one ``explainkit: error: ...`` line on stderr and exit status 2; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import sys

from ._activations import _activations
from ._common import (
    COMPARE_FILES,
    LOCALISATION_METRICS,
    METHOD_NAMES,
    METRIC_NAMES,
    _import_tensorflow_quietly,
    _reason,
    _UserError,
)
from ._compare import _compare
from ._explain import _explain
from ._images import load_images
from ._parser import _parser

__all__ = ["COMPARE_FILES", "LOCALISATION_METRICS", "METHOD_NAMES", "METRIC_NAMES", "load_images",
           "main"]


def _demo(args) -> int:
    """``explainkit demo``: the embedded models' gallery."""
    _import_tensorflow_quietly()
    from explainkit._demo import run

    files = run(args.output, quick=args.quick)
    print(f"open {files[-1].resolve()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success; 2 on a user error (reported in one line on stderr) and on a usage
        error (reported by argparse).
    """
    args = _parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else map(str, argv))
    commands = {"demo": _demo, "explain": _explain, "compare": _compare,
                "activations": _activations}
    try:
        return commands[args.command](args)
    except (_UserError, ValueError, TypeError, OSError) as exc:
        if args.debug:
            raise
        from .._files import FileError

        hint = "" if isinstance(exc, _UserError | FileError) else " (--debug shows the traceback)"
        print(f"explainkit: error: {_reason(exc)}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
