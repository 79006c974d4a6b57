"""In-batch negatives with logQ correction (Yi et al., RecSys 2019).

Every other positive of the batch is a negative for this row. An item's chance to be in the
batch is proportional to its train frequency, so its logit is corrected by
log(B * p_i), p_i = count_i / total.
"""

from __future__ import annotations

import numpy as np
import torch

from esans.sampling.base import Negatives


class InBatchSampler:
    name = "inbatch"

    def __init__(self, counts: np.ndarray) -> None:
        c = torch.from_numpy(np.asarray(counts, np.float64)).float() + 1e-6
        self.log_p = (c / c.sum()).log()

    def sample(self, users: torch.Tensor, pos: torch.Tensor,
               gen: torch.Generator) -> Negatives:
        b = len(pos)
        # row r: all positives (its own is an accidental hit); log q computed once, shared
        return Negatives(pos.expand(b, -1), (self.log_p[pos] + float(np.log(b))).expand(b, -1),
                         shared=True)
