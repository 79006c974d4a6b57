"""esans: ESANS negative sampling (MSAC + EDIS) for two-tower retrieval."""

__version__ = "0.1.0"
