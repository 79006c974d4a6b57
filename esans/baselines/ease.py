"""EASE (Steck, WWW 2019): a closed-form item-item linear autoencoder.

B = I - P / diag(P), P = (X^T X + lambda I)^-1, diag(B) = 0. A user's scores are x_u B.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def fit(user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int,
        lam: float = 300.0) -> np.ndarray:
    x = sp.csr_matrix((np.ones(len(user_idx), np.float64), (user_idx, item_idx)),
                      shape=(n_users, n_items))
    x.data[:] = 1.0
    g = (x.T @ x).toarray()
    g[np.diag_indices(n_items)] += lam
    p = np.linalg.inv(g)
    b = -p / np.diag(p)
    b[np.diag_indices(n_items)] = 0.0
    return b.astype(np.float32)


def scores(b: np.ndarray, user_idx: np.ndarray, item_idx: np.ndarray, users: np.ndarray,
           n_items: int) -> np.ndarray:
    """(len(users), n_items) scores from the users' history rows (user_idx, item_idx)."""
    pos = {u: i for i, u in enumerate(users)}
    keep = np.isin(user_idx, users)
    rows = np.array([pos[u] for u in user_idx[keep]], np.int64)
    x = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, item_idx[keep])),
                      shape=(len(users), n_items))
    x.data[:] = 1.0
    return np.asarray(x @ b)
