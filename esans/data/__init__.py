"""Data sources, the internal schema, and the temporal split."""
