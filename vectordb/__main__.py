"""``python -m vectordb``: the ``vectordb`` command (see :mod:`vectordb.cli`)."""

import sys

from vectordb.cli import main

if __name__ == "__main__":
    sys.exit(main())
