"""``python -m sciml_grow.cli``: the ``sciml-grow`` command."""

import sys

from sciml_grow.cli import main

if __name__ == "__main__":  # not when a tool imports every module
    sys.exit(main())
