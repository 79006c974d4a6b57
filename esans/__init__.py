"""esans: ESANS negative sampling (MSAC + EDIS) for two-tower retrieval."""

import os

__version__ = "0.1.0"

# torch's CPU kernels (oneDNN) pick the widest vector ISA the CPU has, and AVX-512 and AVX2
# kernels round differently (~1e-7 in an embedding): one catalogue would encode to other
# bytes on another machine, and DVC would see other data. Pinned to AVX2, which every x86-64
# machine of the supported kinds has, the same inputs give the same bytes on each of them
# (tests/unit/test_threads.py); set ONEDNN_MAX_CPU_ISA yourself to override.
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
