"""The outcome model's regressors, formed once per fit from the families it keeps.

A contrast with an outcome model regresses on (1, t, x - c, t (x - c)): the covariates x centred
at the supported families' weighted mean c, and their interactions with treatment. Each row is
its own (1, x - c) spread into place (a comparison row as (1, 0, x - c, 0), a supported row
repeated: tf_eval.method.cr2.Part), so a fit forms those distinct columns alone, gathered
straight from the covariates every estimate shares (`Covariates`: rows and columns of one
read-only array, never copied whole). At national scale a fit's whole design was 474 MB, and the
copies of its families' covariates made on the way 230 MB each, two fits running at once: their
allocation alone took a quarter of a regression's time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tf_eval import config
from tf_eval.method.cr2 import Part

# Rows per block (config.BLOCK_ROWS): bounds every temporary copy to a few MiB.
BLOCK_ROWS = config.BLOCK_ROWS


@dataclass(frozen=True)
class Covariates:
    """Each family's outcome-model covariates: rows `rows` and columns `columns` of `values`, a
    shared array never written to (None: all of them, in order)."""

    values: np.ndarray
    rows: np.ndarray | None = None
    columns: np.ndarray | None = None

    @classmethod
    def of(cls, adjust: np.ndarray | Covariates | None) -> Covariates | None:
        """`adjust` as Covariates (an array is taken whole, as it is)."""
        if adjust is None or isinstance(adjust, Covariates):
            return adjust
        return cls(np.asarray(adjust, dtype=float))

    @property
    def shape(self) -> tuple[int, int]:
        rows = self.values.shape[0] if self.rows is None else self.rows.size
        columns = self.values.shape[1] if self.columns is None else self.columns.size
        return rows, columns

    def taking(self, columns: np.ndarray) -> Covariates:
        """These covariates' `columns` (positions among them) alone."""
        chosen = np.asarray(columns) if self.columns is None else self.columns[columns]
        return Covariates(self.values, self.rows, chosen)

    def kept(self, keep: np.ndarray) -> Covariates:
        """The rows `keep` gives: a mask over these rows, or their positions (in any order)."""
        if keep.dtype == bool:
            if keep.all():
                return self
            keep = np.flatnonzero(keep)
        return Covariates(self.values, keep if self.rows is None else self.rows[keep], self.columns)

    def array(self, block: slice | None = None) -> np.ndarray:
        """These covariates (the rows in `block` alone, if given) as an array, to read only: a
        view of `values` where one serves."""
        rows = self.rows if block is None or self.rows is None else self.rows[block]
        if rows is None:
            x = self.values if block is None else self.values[block]
            return x if self.columns is None else x[:, self.columns]
        x = np.take(self.values, rows, axis=0)  # rows, then columns: faster than both at once
        return x if self.columns is None else np.take(x, self.columns, axis=1)

    def varying(self) -> np.ndarray:
        """Whether each column takes more than one value among these rows (block by block)."""
        n, k = self.shape
        if n == 0:
            return np.zeros(k, dtype=bool)
        low, high = np.full(k, np.inf), np.full(k, -np.inf)
        for block in blocks(n):
            x = self.array(block)
            np.minimum(low, x.min(axis=0), out=low)
            np.maximum(high, x.max(axis=0), out=high)
        return high > low


def blocks(n: int) -> Iterator[slice]:
    """Slices of BLOCK_ROWS rows covering 0..n."""
    return (slice(start, min(start + BLOCK_ROWS, n)) for start in range(0, n, BLOCK_ROWS))


def centred_columns(
    t: np.ndarray, w: np.ndarray, adjust: Covariates | None
) -> tuple[np.ndarray, np.ndarray]:
    """A contrast's distinct columns (1, x - c): x the rows of `adjust` (one per row fitted;
    none: (1) alone), gathered block by block and centred at the treated rows' weighted mean;
    and whether each covariate varies among these rows (read from the blocks as they come: on the
    finished columns, every other number apart, it took longer than the gathering)."""
    extra = 0 if adjust is None else adjust.shape[1]
    distinct = np.empty((t.size, 1 + extra))
    distinct[:, 0] = 1.0
    low, high = np.full(extra, np.inf), np.full(extra, -np.inf)
    if adjust is not None and extra and t.size:
        x = distinct[:, 1:]
        treated_weight = np.where(t, w, 0.0)
        total = np.zeros(extra)
        for block in blocks(t.size):
            rows = adjust.array(block)
            x[block] = rows
            total += treated_weight[block] @ rows
            np.minimum(low, rows.min(axis=0), out=low)
            np.maximum(high, rows.max(axis=0), out=high)
        weight = treated_weight.sum()  # 0 only where the fit finds no one to compare
        np.subtract(x, total / weight if weight > 0 else total, out=x)
    return distinct, high > low


def contrast_layout(t: np.ndarray, extra: int) -> list[Part]:
    """How distinct columns (1, x - c) of `extra` covariates spread into a contrast's design
    (1, t, x - c, t (x - c)): a comparison row as (1, 0, x - c, 0), a treated row repeated."""
    source = np.arange(1 + extra)
    compared = int((~t).sum())
    if not t[:compared].any():  # comparison rows first (difference._fitted): slices, read in place
        rows: list[np.ndarray | slice] = [slice(0, compared), slice(compared, t.size)]
    else:
        rows = [np.flatnonzero(~t), np.flatnonzero(t)]
    comparison = np.zeros((1 + extra, 2 + 2 * extra))
    comparison[0, 0] = 1.0
    comparison[1:, 2 : 2 + extra] = np.eye(extra)
    treated = comparison.copy()
    treated[0, 1] = 1.0
    treated[1:, 2 + extra :] = np.eye(extra)
    return [Part(rows[0], source, comparison), Part(rows[1], source, treated)]


def expanded(distinct: np.ndarray, layout: list[Part]) -> np.ndarray:
    """The whole design of a layout (for a fit clustered by something other than rows)."""
    design = np.empty((distinct.shape[0], layout[0].expand.shape[1]))
    for part in layout:
        design[part.rows] = distinct[part.rows][:, part.source] @ part.expand
    return design
