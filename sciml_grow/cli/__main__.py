"""``python -m sciml_grow.cli``: the ``sciml-grow`` command."""

import sys

from sciml_grow.cli import main

sys.exit(main())
