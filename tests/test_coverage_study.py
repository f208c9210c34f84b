"""The coverage study (studies/coverage.py) on one seed: what CI can afford. The study itself
(200 seeds per setting, about 25 minutes) is run by hand and its figures are in docs/method.md."""

import importlib.util
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from tf_eval import config
from tf_eval.data.outcomes import OUTCOMES

STUDY = Path(__file__).resolve().parent.parent / "studies" / "coverage.py"


@pytest.fixture(scope="module")
def coverage():
    spec = importlib.util.spec_from_file_location("coverage_study", STUDY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_one_seed_of_one_la_x_cohort(coverage) -> None:
    setting = coverage.SETTINGS["cell"]
    rows = pd.DataFrame(coverage.one_seed(3, setting))
    # methods x (matched, placebo) x outcomes
    assert len(rows) == len(coverage.METHODS) * 2 * len(OUTCOMES)
    assert 120 <= rows["selected"].iloc[0] <= 250  # about 170 families in the cell
    by = rows.set_index(["method", "kind", "outcome"])
    cr1, cr2 = by.loc["CR1, full model"], by.loc["CR2 + BM df, full model"]
    # The same estimates; CR2's intervals wider, on fewer degrees of freedom than families - 1.
    # A rare 0/1 outcome's df are capped by its families with the event whatever the variance
    # (test_rare_events): the comparison holds for the others, and is no worse for those. (Where
    # both df are capped alike, the widths compare the two variances alone, and CR1's
    # small-sample factor (N - 1) / (N - K), with some 80 parameters on 62 families, can exceed
    # CR2's adjustment: juvenile convictions' here.)
    pd.testing.assert_series_equal(cr1["estimate"], cr2["estimate"])
    outcomes = cr1.index.get_level_values("outcome")
    common = ~outcomes.map(lambda o: OUTCOMES[o].any_event).to_numpy(dtype=bool)
    wider = (cr2["ci_high"] - cr2["ci_low"]) > (cr1["ci_high"] - cr1["ci_low"])
    assert wider[common | (cr2["df"] < cr1["df"]).to_numpy()].all()
    assert common.any() and (cr2["df"][common] < cr1["df"][common]).all()
    assert (cr1["df"][common] == cr1["families"][common] - 1).all()
    assert (cr2["df"] <= cr1["df"]).all() and (cr1["df"] <= cr1["families"] - 1).all()
    # As released, the interval is recomputed on df rounded down to a multiple of 5: never
    # narrower, and as wide where the df were already a multiple of 5.
    assert (rows["released_half"] >= (rows["ci_high"] - rows["ci_low"]) / 2 * (1 - 1e-12)).all()
    thin = by.loc["CR2 + BM df, thin-data rule"]
    rule = config.OUTCOME_MODEL_MIN_FAMILIES_PER_PARAMETER
    for row in thin.itertuples():
        # About 100 matched families cannot carry the full model's parameters; the rule keeps
        # the pre-levels (2 + 2 x those that vary, at least the first four outcomes') only when
        # they can.
        assert row.model in ("pre-levels", "none"), row
        assert row.model == "none" or row.families >= rule * (2 + 2 * 4), row
    table = coverage.summarise(rows, {k: 0.0 for k in rows["outcome"].unique()})
    pooled = table[(table["outcome"] == "all") & (table["kind"] == "placebo")]
    assert len(pooled) == len(coverage.METHODS)
    assert pooled["estimates"].tolist() == [len(OUTCOMES)] * len(coverage.METHODS)
    assert all(0 <= c <= 1 for c in pooled["coverage"])
    assert all(math.isfinite(w) for w in pooled["width"])
