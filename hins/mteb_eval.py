"""``python -m hins.mteb_eval``: MTEB tasks of a trained model (hins.evaluation.mteb_eval)."""

from hins.evaluation.mteb_eval import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
