"""TensorFlow imported without its start-up log, for the command line, demo and benchmarks.

Only the standard library is imported here (the command line imports this module before
it parses its arguments).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

#: Lines TensorFlow's native logging writes while it is imported (absl/glog format).
_NATIVE_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} [\d:.]+ +\d+ [\w.-]+:\d+\] |"
    r"WARNING: All log messages before absl::InitializeLog\(\) is called)"
)


@contextlib.contextmanager
def _native_log_filtered():
    """Drop the native log lines written to file descriptor 2 inside the block.

    TensorFlow's libraries log a few lines (oneDNN, CUDA stubs) while they load, before
    ``TF_CPP_MIN_LOG_LEVEL`` is read. Everything else written to stderr meanwhile (Python
    warnings, errors) is written out again after the block; on an exception, all of it.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to redirect
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines = sink.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines
                                     if failed or not _NATIVE_LOG_LINE.match(line)))
            sys.stderr.flush()


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras with their start-up and tracing logs silenced.

    ``TF_CPP_MIN_LOG_LEVEL`` is set to 3 unless the user chose a level. The lines that
    TensorFlow's libraries log while they load (absl, oneDNN, CUDA) are dropped unless the
    user asked for every log (``TF_CPP_MIN_LOG_LEVEL=0``): recent TensorFlow versions
    write some of them whatever the level (2.21: "failed call to cuInit", an error, at
    level 2, when the devices are first listed: that is done inside the filter too).
    ``TF_ENABLE_ONEDNN_OPTS`` is left alone: it changes results, not just logging.
    """
    wants_logs = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    quiet = contextlib.nullcontext() if wants_logs or "tensorflow" in sys.modules \
        else _native_log_filtered()
    with quiet:
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()  # the devices' start-up logs, here (cuInit)

    tf.get_logger().setLevel("ERROR")  # tracing notes are for developers, not for this tool
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
