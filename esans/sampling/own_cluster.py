"""MSAC's false-negative rule over any sampler: never keep a negative from the positive's
own level-2 cluster.

The paper's MSAC excludes the positive's own level-2 cluster from where it draws; this
wrapper applies the same rule to samplers that draw from the whole catalogue (uniform,
popularity, DNS, MixGCF) or from the batch (inbatch, mixed: under cluster batching the
other positives are the positive's semantic neighbours): a drawn id in that cluster is
masked out of the loss like an accidental hit, and a selecting sampler (DNS) scores it
-inf, so it is never kept while another candidate is left. Its log q is the inner sampler's
(the masked ids simply drop out of the partition sum).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from esans.sampling.base import Negatives, Sampler


class OwnClusterMask:
    def __init__(self, inner: Sampler, l2: np.ndarray) -> None:
        self.inner = inner
        self.name = inner.name
        self.l2 = torch.from_numpy(np.array(l2, np.int64))

    def sample(self, users: torch.Tensor, pos: torch.Tensor,
               gen: torch.Generator) -> Negatives:
        neg = self.inner.sample(users, pos, gen)
        own = self.l2[neg.ids] == self.l2[pos].unsqueeze(1)                # (B, m)
        return dataclasses.replace(neg, masked=own if neg.masked is None else neg.masked | own)

    def __getattr__(self, name: str):   # select, log_q, ...: the inner sampler's
        return getattr(self.inner, name)
