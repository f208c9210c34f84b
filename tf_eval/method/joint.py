"""The headline estimates' correlation across outcomes: every outcome's estimate rests on the same
families, so their errors move together, and a total over outcomes (the value for money) needs
that to draw them jointly.

Each estimate is, to first order, its truth plus a sum over families of each family's
contribution to its error. For the weighted regressions (the matched DiD and the pre-level
adjustment) a family's contribution is its term of the effect's CR2 variance, g_j'e_j (the bread
row of the effect times the family's adjusted score, tf_eval.method.cr2), whose squares sum to
se^2; for the doubly robust DiD, its influence function (tf_eval.method.drdid), centred, whose
squares sum to n^2 se^2. A family outside an outcome's population contributes 0. Across outcomes
the cluster-robust covariance is the sum over families of the products of their contributions
(Stata's `suest`, with CR2's adjustment for the regressions), so the correlation of outcomes a
and b is

    sum_g psi_ag psi_bg / sqrt(sum_g psi_ag^2 sum_g psi_bg^2),

in which each outcome's scale cancels. The contributions are individual-level: they stay in this
module, and only the correlation (an aggregate over every family of both estimates) goes on the
Evaluation, and out only through the disclosure gate (tf_eval.release.disclosure).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# Families per block when summing the contributions' products: bounds the float64 copy.
BLOCK_FAMILIES = 65_536


class Contributions:
    """Each headline estimate's per-family contributions, gathered while the estimates are made
    (each outcome once, from whichever estimating thread computes it). Each is kept as a float32
    vector over the matching's families: 4 bytes a family an outcome (72 MB for nine outcomes
    of 2 million families), which is no more than the families in a fit with their row numbers
    would take, and float32's seven digits are far beyond the two decimals a correlation is
    released to."""

    def __init__(self, families: int) -> None:
        self.families = families
        self._terms: dict[str, np.ndarray | None] = {}

    def add(self, outcome: str, fitted: np.ndarray, terms: np.ndarray | None) -> None:
        """The contributions `terms` of the families in `fitted` (a mask over the matching's
        families, or their positions), in order; None, non-finite or all 0 when the estimate
        has none (it could not be computed, or its variance is not CR2's)."""
        if terms is None or not np.isfinite(terms).all() or not terms.any():
            self._terms[outcome] = None
            return
        every = np.zeros(self.families, dtype=np.float32)
        every[fitted] = terms
        self._terms[outcome] = every

    def correlation(self, outcomes: Sequence[str]) -> pd.DataFrame | None:
        """The estimates' correlation, outcomes x outcomes (NaN for an outcome without
        contributions), or None when none has any. Lets the contributions go."""
        have = [o for o in outcomes if self._terms.get(o) is not None]
        if not have:
            self._terms.clear()
            return None
        gram = _products([self._terms[o] for o in have])  # type: ignore[misc]
        self._terms.clear()
        spread = np.sqrt(np.diag(gram))
        found = np.clip(gram / np.outer(spread, spread), -1.0, 1.0)
        np.fill_diagonal(found, 1.0)
        frame = pd.DataFrame(np.nan, index=list(outcomes), columns=list(outcomes))
        frame.loc[have, have] = found
        return frame


def _products(vectors: list[np.ndarray]) -> np.ndarray:
    """The outcomes' sums over families of their contributions' products (outcomes x
    outcomes), in float64, a block of families at a time: no families x outcomes copy."""
    k, families = len(vectors), vectors[0].size
    total = np.zeros((k, k))
    block = np.empty((k, min(BLOCK_FAMILIES, families)))
    for start in range(0, families, BLOCK_FAMILIES):
        stop = min(start + BLOCK_FAMILIES, families)
        rows = block[:, : stop - start]
        for a, vector in enumerate(vectors):
            rows[a] = vector[start:stop]
        total += rows @ rows.T
    return total
