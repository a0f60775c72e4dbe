"""The toolkit's error types, and how their messages name an argument.

Every error the toolkit raises on purpose (bad arguments, configs, files, outputs, resources)
is a :class:`UserError`: a user catches that one type, and the ``sciml-grow`` command prints
its message as one line and exits 2. Anything else, a plain ``ValueError`` included, is a bug
and keeps its traceback.

The command is a thin layer over the Python API, so the API's checks speak for both: a
message names an argument through :func:`arg`, which gives the Python name (``train_sizes``)
to a Python caller and the flag (``--train-sizes``) while the command runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class UserError(Exception):
    """Base of every error the toolkit raises on purpose, for something the user can fix; the
    message says what and where, in one line."""


SciMLGrowError = UserError  # the name of the first releases


class InputError(UserError, ValueError):
    """An argument of a command or API call is invalid; the message names it."""


class DataImportError(UserError, ValueError):
    """Data cannot be imported (``sciml-grow import``); the message says which and why."""


class ModelFileError(UserError):
    """A model or checkpoint file is missing, damaged or not one this toolkit wrote."""


_FLAGS = False  # True while the command line runs: arguments are named as flags


@contextmanager
def flag_names() -> Iterator[None]:
    """Within this block :func:`arg` names arguments as command-line flags."""
    global _FLAGS
    before, _FLAGS = _FLAGS, True
    try:
        yield
    finally:
        _FLAGS = before


_FLAG_OF = {"sizes": "--samples"}  # where a flag is not the argument's name (transfer)
_PYTHON_OF = {"force": "force=True"}  # switches: what a Python caller passes


def arg(name: str) -> str:
    """How a message names the argument ``name``: ``train_sizes`` in Python, ``--train-sizes``
    from the command line (a switch such as ``force``: ``force=True``, ``--force``)."""
    if not _FLAGS:
        return _PYTHON_OF.get(name, name)
    return _FLAG_OF.get(name, "--" + name.replace("_", "-"))


def reason(exc: BaseException, limit: int = 120) -> str:
    """The first line of an exception's message (its type if it has none), for a one-line
    error that says why a library call failed."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
