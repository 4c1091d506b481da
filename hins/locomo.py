"""``python -m hins.locomo``: LoCoMo evidence retrieval of any model directory (hins.evaluation.locomo)."""

from hins.evaluation.locomo import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
