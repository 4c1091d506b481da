"""hins: hierarchical negative sampling for memory-retrieval embedding models."""

__version__ = "0.1.0"
