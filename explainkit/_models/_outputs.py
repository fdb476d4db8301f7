"""Models with several outputs: list the outputs, resolve ``output=``, take the chosen one.

A model's output may be one array, or a list, tuple or dict of them (a Keras model loaded
from a file keeps even a single output as a list of one). A container of one is the same
as its content everywhere. With several outputs the caller chooses one with ``output=``:
its index, or its name (the dict key, or the name of the layer that produces it).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from .._validation import closest


@dataclass(frozen=True)
class Output:
    """One of a model's outputs: its position, how to take it, its names and shape."""

    index: int
    key: object  # the list index or dict key that takes it from the structure
    names: tuple[str, ...]
    shape: tuple | None

    def describe(self) -> str:
        name = f" {self.names[0]!r}" if self.names else ""
        return f"{self.index}{name} {self.shape}"

    @property
    def label(self) -> str | int:
        """What to record: the first name, else the index."""
        return self.names[0] if self.names else self.index


def is_structure(outputs) -> bool:
    """True when ``outputs`` is a list, tuple or dict (rather than one array)."""
    return isinstance(outputs, (list, tuple, dict))


def list_outputs(outputs, name_of=None) -> list[Output]:
    """The outputs of a structure; ``name_of(tensor)`` names the producing layer, if known."""
    items = list(outputs.items()) if isinstance(outputs, dict) else list(enumerate(outputs))
    result = []
    for index, (key, value) in enumerate(items):
        names = []
        if isinstance(key, str):
            names.append(key)
        producer = name_of(value) if name_of is not None else None
        if producer is not None and producer not in names:
            names.append(producer)
        shape = tuple(value.shape) if hasattr(value, "shape") else None
        result.append(Output(index, key, tuple(names), shape))
    return result


def check_output(output) -> None:
    """A TypeError unless ``output`` is None, an index or a name (before any model call)."""
    if output is not None and (isinstance(output, bool) or not isinstance(
            output, numbers.Integral | str)):
        raise TypeError(
            "The 'output' parameter must be None, an output index or an output name. "
            f"Got {output!r} of type {type(output).__name__} instead.")


def choose(outputs, output, name_of=None, *, hint: str = "output=") -> Output | None:
    """The output ``output`` names among ``outputs`` (None: the only one).

    Returns None for a plain array (nothing to choose). A ValueError lists the outputs
    when there are several and none was chosen, or the choice matches none of them.
    """
    check_output(output)
    if not is_structure(outputs):
        if output not in (None, 0):
            raise ValueError(
                f"output={output!r} was given, but the model has one output (shape "
                f"{tuple(getattr(outputs, 'shape', ()))}); leave output=None."
            )
        return None
    entries = list_outputs(outputs, name_of)
    if not entries:
        raise ValueError("The model returns an empty list of outputs; there is nothing to explain.")
    listing = "; ".join(e.describe() for e in entries)
    if output is None:
        if len(entries) == 1:
            return entries[0]
        raise ValueError(
            f"The model has {len(entries)} outputs ({listing}); choose one with {hint}"
            "<index or name>."
        )
    if isinstance(output, numbers.Integral):
        if not 0 <= output < len(entries):
            raise ValueError(
                f"output={int(output)} is out of range: the model has {len(entries)} outputs "
                f"({listing})."
            )
        return entries[int(output)]
    hits = [e for e in entries if output in e.names]  # a name: check_output allowed no other
    if not hits:
        names = [n for e in entries for n in e.names]
        raise ValueError(
            f"output={output!r} names none of the model's outputs ({listing})"
            f"{closest(output, names)}"
        )
    return hits[0]


def take(outputs, key):
    """The chosen output of a structure (``key`` from :func:`choose`; None: as it is).

    A plain array is returned as it is: Keras may return a list-of-one model's output
    unwrapped when called, although its probe lists it as a list.
    """
    if key is None or not is_structure(outputs):
        return outputs
    return outputs[key]
