"""Lazy Adam for sparse id-embedding gradients, touching only the rows a batch used.

``torch.optim.SparseAdam`` with the same state (``step``, ``exp_avg``, ``exp_avg_sq``) and the
same arithmetic, operation for operation, so results and checkpoints are interchangeable. It
differs in how the touched rows are read and written: ``index_select`` / ``index_add_`` on the
gradient's row indices instead of ``sparse_mask`` and sparse-into-dense additions, which on
CPU cost time proportional to the whole table (a 200k x 64 table: tens of ms a step, against
a few here; bench/results/row-adam.json).
"""

from __future__ import annotations

import math

import torch


class RowAdam(torch.optim.SparseAdam):
    """SparseAdam (lazy Adam: moments and weights of untouched rows stay as they are) for
    parameters whose gradients are sparse along their first dimension (``nn.Embedding(...,
    sparse=True)``)."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps = float(group["lr"]), group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if not p.grad.is_sparse:
                    raise RuntimeError("RowAdam takes sparse gradients; use Adam for dense ones")
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p,
                                                           memory_format=torch.preserve_format)
                state["step"] += 1
                grad = p.grad if not group.get("maximize", False) else -p.grad
                grad = grad.coalesce()                  # unique rows: the update is non-linear
                values = grad._values()
                if values.numel() == 0:
                    continue
                rows = grad._indices()[0]
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                # old <- b * old + (1 - b) * new, as old += (1 - b) * (new - old)
                old_avg = exp_avg.index_select(0, rows)
                avg_update = values.sub(old_avg).mul_(1 - beta1)
                exp_avg.index_add_(0, rows, avg_update)
                old_sq = exp_avg_sq.index_select(0, rows)
                sq_update = values.pow(2).sub_(old_sq).mul_(1 - beta2)
                exp_avg_sq.index_add_(0, rows, sq_update)
                numer = avg_update.add_(old_avg)
                denom = sq_update.add_(old_sq).sqrt_().add_(eps)
                step = state["step"]
                step_size = lr * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
                p.index_add_(0, rows, -step_size * numer.div_(denom))
        return loss
