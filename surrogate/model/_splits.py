"""How held-out rows are drawn: a random k-fold split, or one whole group (hardware, model, ...) at a time.

No heavy imports: the command line offers ``SPLITS`` as choices without loading the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SPLITS", "fold_masks"]

SPLITS = ["random", "hardware", "model", "framework", "source"]


def fold_masks(table: pd.DataFrame, split: str, seed: int | None, n_folds: int) -> list[np.ndarray]:
    """Test-row masks, one per fold: a seeded permutation for ``random``, else one per group value."""
    if split == "random":
        rng = np.random.default_rng(seed)
        assignment = rng.permutation(len(table)) % n_folds
        return [assignment == k for k in range(n_folds)]
    groups = table[split].astype(str).to_numpy()
    return [groups == g for g in sorted(set(groups))]
