"""``python -m hins.aggregate``: the tables of a study over its replicates (hins.studies.aggregate)."""

import sys

from hins.studies.aggregate import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
