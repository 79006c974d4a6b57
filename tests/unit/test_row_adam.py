"""RowAdam against torch's SparseAdam: the same numbers bitwise, the same state."""

import copy

import torch

from esans.model.row_adam import RowAdam


def _run(opt_cls, steps=6, state=None):
    torch.manual_seed(0)
    emb = torch.nn.Embedding(50, 8, sparse=True)
    opt = opt_cls(emb.parameters(), lr=0.01)
    if state is not None:
        opt.load_state_dict(copy.deepcopy(state))      # loading shares the tensors
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        ids = torch.randint(50, (40,), generator=g)             # repeated ids: coalesced
        target = torch.randn((40, 8), generator=g)
        opt.zero_grad()
        ((emb(ids) - target) ** 2).sum().backward()
        opt.step()
    return emb.weight.detach().clone(), opt


def test_row_adam_equals_sparse_adam_bitwise_and_shares_its_state():
    w_ref, ref = _run(torch.optim.SparseAdam)
    w, row = _run(RowAdam)
    assert torch.equal(w, w_ref)
    (s_ref,), (s,) = ref.state.values(), row.state.values()
    assert s["step"] == s_ref["step"] == 6
    assert torch.equal(s["exp_avg"], s_ref["exp_avg"])
    assert torch.equal(s["exp_avg_sq"], s_ref["exp_avg_sq"])
    untouched = (s["exp_avg"] == 0).all(1)                      # lazy: rows never used
    assert untouched.any() and (w[untouched] == _run(RowAdam, steps=0)[0][untouched]).all()
    # a SparseAdam checkpoint resumes under RowAdam and continues identically
    w_ref2, _ = _run(torch.optim.SparseAdam, state=ref.state_dict())
    w2, _ = _run(RowAdam, state=ref.state_dict())
    assert torch.equal(w2, w_ref2)
