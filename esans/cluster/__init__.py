"""MSAC: two-level k-means over fused item vectors."""
