"""The balance table as people read it (the Matching & balance page): covariates in words, each
statistic under a heading in words, and a value that does not exist (a 0/1 covariate's variance
ratio, a covariate that does not vary) shown as a dash, not as "None" or "nan". Built from the
gate's balance table only; a statistic added to it is one more entry in COLUMNS."""

from __future__ import annotations

import math

from tf_eval.method.covariates import covariate_words
from tf_eval.release.disclosure import SafeTable

# The balance table's statistics (tf_eval.method.balance.COLUMNS), in the order shown, in words.
COLUMNS = {
    "smd_before": "SMD before",
    "smd_after": "SMD after",
    "variance_ratio_after": "variance ratio after",
    "mean_diff_before": "difference in means before",
    "mean_diff_after": "difference in means after",
    "variance_ratio_before": "variance ratio before",
    "ecdf_max_before": "largest eCDF gap before",
    "ecdf_max_after": "largest eCDF gap after",
}
NOT_APPLICABLE = "\u2014"  # an em dash: the statistic does not exist for this covariate
DECIMALS = 3


def balance_rows(balance: SafeTable) -> list[dict[str, str]]:
    """One row per covariate, first the propensity score: its name in words, then each statistic
    of COLUMNS to DECIMALS places. When the gate withheld the balance (groups too small), every
    value is its suppressed mark; otherwise a missing value is NOT_APPLICABLE."""
    if not isinstance(balance, SafeTable):
        raise TypeError(f"balance_rows takes the gate's SafeTable, not {type(balance)}")
    missing = balance.rules.suppressed_mark if balance.suppressed else NOT_APPLICABLE
    rows = []
    for record in balance.frame.to_dict("records"):
        row = {"covariate": covariate_words(record["covariate"])}
        for column, words in COLUMNS.items():
            value = record.get(column)
            shown = value is not None and not (isinstance(value, float) and math.isnan(value))
            row[words] = f"{value:.{DECIMALS}f}" if shown else missing
        rows.append(row)
    return rows
