"""Coverage of the value-for-money intervals (issue 20): how often the 95% interval of the benefit
per supported family covers the planted truth x unit cost, over the seeds of the Monte Carlo
study (studies/monte_carlo.py --out), without running any evaluation again.

    .venv/bin/python studies/value_for_money.py --from /tmp/mc/seeds-*.csv
    .venv/bin/python studies/value_for_money.py --from /tmp/mc/seeds-*.csv --db data/demo.duckdb

For each seed and spec, the headline estimator's nine estimates (estimate, standard error) go
through the model (tf_eval.method.value_model) with the default unit costs, as the command line
would put them, and the interval of the benefit per family, fiscal and economic, is checked
against the same sum over the planted truths. Held fixed, and said so:

* people per supported family, per outcome: from the default analysis of one demo store (`--db`,
  else the default demo built in a temporary folder), not each seed's own (its released counts
  are not in the Monte Carlo's file); they weight the outcomes, and only their relative sizes
  matter to coverage;
* the draws are normal: the Monte Carlo's file has no degrees of freedom (with hundreds of
  families the t and the normal differ in the third figure).

Reports per spec and measure: the seeds, the coverage, the mean truth and estimate (pounds per
family, one year undiscounted: coverage does not depend on the persistence, which scales every
draw alike), and the spread of the seeds' estimates over the interval's implied standard error
(half-width / 1.96): above 1, the estimates of different outcomes move together more than the
independent draws allow, and the interval is too narrow; below 1, too wide.
Not part of the test run; tests/test_value.py checks the machinery on synthetic draws.
"""

from __future__ import annotations

import argparse
import glob
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tf_eval.data import store, synth  # noqa: E402
from tf_eval.method.estimate import AnalysisSpec, evaluate  # noqa: E402
from tf_eval.method.estimators import PRE_LEVELS  # noqa: E402
from tf_eval.method.unit_costs import UnitCosts, read_costs, units_avoided_per_year  # noqa: E402
from tf_eval.method.value_model import MEASURES, OutcomeInput, Settings, value  # noqa: E402
from tf_eval.release.results import safe_evaluation  # noqa: E402
from tf_eval.release.value import ValueSettings, value_for_money  # noqa: E402

FOLLOW_UP = {"24 months": 24}  # every other spec of the Monte Carlo study follows up 12 months
DRAWS = 4000  # per seed: the Monte Carlo error of a 2.5% quantile is then well under a tenth of
# the interval's width


def people_per_family(db: Path | None) -> dict[str, float]:
    """Each outcome's measured people per matched supported family in the default analysis of a
    demo store, as the model takes them (tf_eval.release.value)."""
    with tempfile.TemporaryDirectory() as folder:
        path = db or Path(folder) / "demo.duckdb"
        if db is None:
            synth.build_demo_store(path)
        current = store.Store(path)
        try:
            results = safe_evaluation(evaluate(current, AnalysisSpec()))
        finally:
            current.close()
    vfm = value_for_money(results, ValueSettings(Settings(1.0), read_costs()))
    return {r.outcome: r.people_per_family for r in vfm.outcomes if r.people_per_family}


def seed_rows(
    seeds: pd.DataFrame, people: dict[str, float], costs: UnitCosts, draws: int = DRAWS
) -> pd.DataFrame:
    """Per seed and spec: the benefit per family's interval and its truth, each measure."""
    rows = []
    settings = Settings(1.0, years=1, discount=0.0)
    headline = seeds[(seeds["kind"] == PRE_LEVELS) & seeds["estimate"].notna()]
    for (spec, seed), group in headline.groupby(["spec", "seed"], sort=False):
        months = FOLLOW_UP.get(str(spec), 12)
        inputs, truth = [], dict.fromkeys(MEASURES, 0.0)
        for row in group.itertuples():
            cost = costs.get(row.outcome)
            if cost is None or row.outcome not in people:
                continue
            item = OutcomeInput(
                row.outcome,
                float(row.estimate),
                float(row.se),
                None,
                people[row.outcome],
                units_avoided_per_year(row.outcome, months),
                cost.fiscal,
                cost.economic,
            )
            inputs.append(item)
            for m, pounds in item.yearly(float(row.truth)).items():
                truth[m] += float(pounds)
        figures = value(inputs, settings, n=draws, seed=int(seed))
        for m in MEASURES:
            found = figures.per_family[m]
            rows.append(
                {
                    "spec": spec,
                    "seed": seed,
                    "measure": m,
                    "outcomes": len(inputs),
                    "truth": truth[m],
                    "estimate": found.estimate,
                    "low": found.low,
                    "high": found.high,
                    "covered": found.low <= truth[m] <= found.high,
                }
            )
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    groups = rows.assign(implied_se=(rows["high"] - rows["low"]) / (2 * 1.96)).groupby(
        ["spec", "measure"], sort=False
    )
    table = groups.agg(
        seeds=("seed", "nunique"),
        coverage=("covered", "mean"),
        truth=("truth", "mean"),
        estimate=("estimate", "mean"),
        sd=("estimate", "std"),
        implied_se=("implied_se", "mean"),
    )
    table["sd_over_se"] = table["sd"] / table["implied_se"]
    return table.reset_index()


def markdown(table: pd.DataFrame) -> str:
    lines = [
        "| spec | measure | seeds | coverage | mean truth (£) | mean estimate (£) | SD / SE |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.spec} | {r.measure} | {r.seeds} | {r.coverage:.1%} | {r.truth:,.0f} | "
            f"{r.estimate:,.0f} | {r.sd_over_se:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    files = "the Monte Carlo study's per-seed files (a glob is expanded)"
    parser.add_argument("--from", dest="files", nargs="+", required=True, help=files)
    parser.add_argument("--db", type=Path, help="a demo store for people per family")
    args = parser.parse_args()
    paths = sorted({p for pattern in args.files for p in glob.glob(pattern)})
    if not paths:
        parser.error(f"no file matches {' '.join(args.files)}")
    seeds = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    people = people_per_family(args.db)
    fixed = ", ".join(f"{k} {v:.3g}" for k, v in people.items())
    print(f"People per supported family (held fixed): {fixed}")
    print(f"{len(paths)} files, {seeds['seed'].nunique()} seeds\n")
    print(markdown(summarise(seed_rows(seeds, people, read_costs()))))


if __name__ == "__main__":
    main()
