"""Monte Carlo check of the method: bias, standard-error calibration and 95% CI coverage of every
estimator, for each analysis spec an evaluator is likely to run, on the synthetic demo.

    .venv/bin/python studies/monte_carlo.py                       # 200 seeds of 20,000 families
    .venv/bin/python studies/monte_carlo.py --seeds 20 --workers 2 --out /tmp/mc.csv
    .venv/bin/python studies/monte_carlo.py --from /tmp/mc-*.csv   # the tables of saved runs
    .venv/bin/python studies/monte_carlo.py --every-cell --seeds 40 --out /tmp/cells.csv

Each seed builds a fresh demo store (tf_eval.data.synth: attachment 0-3 months after
identification, selection by an eligibility rule, effects that ramp up) and evaluates it with each
spec of SPECS. Every estimate is compared with the planted truth of what it estimates, for its
own follow-up: the supported families the matching kept (with a caliper, fewer than all), or for
the doubly robust DiD every supported family of the selection (tf_eval.data.demo_truth, kept by
family). Reports, per spec, estimator and outcome: the mean truth, the bias in Monte Carlo
terms and in units of the mean standard error, the ratio of the estimates' spread to the mean
standard error (1 = calibrated), and how often the 95% interval covered the truth; and for the
headline estimator's placebo, how often its interval excluded 0.

`--every-cell` evaluates instead each of a store's 56 LA x cohort selections (8 LAs, 7 years of
identification; 200-600 families each) with the default analysis: 56 samples of "one LA x
cohort" from one store build, for rates a single selection's 400 seeds measure too loosely (a
rare outcome's placebo the gate shows in one sample in eight). It reports, per outcome, how
often the placebo's interval excluded 0 among the samples shown (with a 95% Clopper-Pearson
interval), and the default estimate's coverage and mean error in standard errors.
Not part of the test run (it takes about an hour on two cores); its table is in
docs/method.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tf_eval import config  # noqa: E402
from tf_eval.data import store, synth  # noqa: E402
from tf_eval.data.demo_truth import TruthSums  # noqa: E402
from tf_eval.data.outcomes import OUTCOMES  # noqa: E402
from tf_eval.governance.rules import current_rules  # noqa: E402
from tf_eval.method.estimate import AnalysisSpec, Estimate, evaluate  # noqa: E402
from tf_eval.method.estimators import DR_DID, ESTIMATORS, PRE_LEVELS  # noqa: E402
from tf_eval.release.estimate_rules import estimate_reason, events_reason  # noqa: E402

# The specs studied: the default and the choices that change what is estimated or how precisely.
SPECS: dict[str, AnalysisSpec] = {
    "default": AnalysisSpec(),
    "no replacement": AnalysisSpec(replace=False),
    "ratio 3": AnalysisSpec(ratio=3),
    "24 months": AnalysisSpec(follow_up_months=24),
    "caliper 0.2": AnalysisSpec(caliper=0.2),
    "later joiners": AnalysisSpec(comparison="later joiners"),
    "one LA": AnalysisSpec(la="LA03"),
    "one LA x cohort": AnalysisSpec(la="LA03", cohort=2017),
}
# Every LA x cohort of the demo (`--every-cell`).
CELLS: dict[str, AnalysisSpec] = {
    f"{la} x {year}": AnalysisSpec(la=la, cohort=year)
    for la in synth.LA_CODES
    for year in range(config.DEMO_IDENTIFIED_FROM.year, config.DEMO_IDENTIFIED_TO.year + 1)
}


def matched_truth(family_truth: pd.DataFrame, family_ids, follow_up: int) -> dict[str, float]:
    """The planted truth over the supported families given: the mean expected effect of their
    measured people, per outcome."""
    rows = family_truth[
        (family_truth["follow_up_months"] == follow_up) & family_truth["family_id"].isin(family_ids)
    ]
    sums = rows.groupby("outcome")[["effect_sum", "people"]].sum()
    return (sums["effect_sum"] / sums["people"]).to_dict()


@contextmanager
def seed_store(seed: int, families: int) -> Iterator[tuple[store.Store, pd.DataFrame]]:
    """One seed's demo store, open, and its planted truths by family; removed afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mc.duckdb"
        sums = TruthSums(synth.LA_CODES, by_family=True)
        synth.build_demo_store(path, families, seed, truth=sums)
        shared = store.Store(path)
        try:
            yield shared, sums.family_frame()
        finally:
            shared.close()


def withheld(e: Estimate) -> bool:
    """Whether the disclosure gate withholds `e` whatever its numbers (too few families or
    degrees of freedom; for a 0/1 outcome, too few people with the event): a user sees no
    estimate, so the study counts none."""
    rules = current_rules()
    arms = [e.families_treated, e.families_comparison] if e.compared else [e.families_treated]
    if estimate_reason(arms, e.df_resid, rules):
        return True
    people = (e.n_treated, e.n_comparison)
    if e.events is None:
        return False
    return events_reason(e.events, people, e.compared, rules, e.informative_families) is not None


def one_seed(seed: int, families: int, specs: tuple[str, ...] = tuple(SPECS)) -> list[dict]:
    """Every estimate of every spec of `specs` on one seed's demo store, beside its truth: for
    the matched estimators, that of the supported families the matching kept (a caliper changes
    what is estimated: the effect for the matched ones); for the doubly robust DiD, which uses
    every family, that of all supported families in the selection. An estimate the gate would
    withhold counts as not computed."""
    rows = []
    with seed_store(seed, families) as (shared, family_truth):
        for name in specs:
            spec = SPECS[name] if name in SPECS else CELLS[name]
            evaluation = evaluate(shared, spec)
            treated = evaluation.matching.treated.astype(bool)
            ids = evaluation.family_ids
            matched = matched_truth(
                family_truth,
                ids[treated & (evaluation.matching.weights > 0)],
                spec.follow_up_months,
            )
            everyone = matched_truth(family_truth, ids[treated], spec.follow_up_months)
            kinds = {**(evaluation.by_estimator or {}), "placebo": evaluation.placebo}
            for kind, estimates in kinds.items():
                for e in estimates:
                    truth = everyone if kind == DR_DID else matched
                    target = 0.0 if kind == "placebo" else truth[e.outcome]
                    hidden = withheld(e)
                    rows.append(
                        {
                            "seed": seed,
                            "spec": name,
                            "kind": kind,
                            "outcome": e.outcome,
                            "truth": target,
                            "estimate": e.att,
                            "se": e.se,
                            "df": e.df_t,
                            "covered": e.ci_low <= target <= e.ci_high,
                            "withheld": hidden,
                            # What the gate's rule for a 0/1 outcome judged, to study it.
                            "events_treated": e.events[0] if e.events else None,
                            "events_comparison": e.events[1] if e.events else None,
                            "people_treated": e.n_treated,
                            "people_comparison": e.n_comparison,
                            "informative_families": e.informative_families,
                            "model": e.outcome_model,
                        }
                    )
    return rows


def _withheld(results: pd.DataFrame) -> pd.Series:
    """Which rows the gate withholds: as recorded when the study ran, or, for a 0/1 outcome
    whose events were kept beside it, by the rule in force now (a run under a looser rule is
    summarised as the gate would now show it; CSVs from before the rule have neither)."""
    recorded = results.get("withheld", pd.Series(False, index=results.index)).astype(bool)
    if "events_treated" not in results:
        return recorded
    rules = current_rules()
    informative = results.get("informative_families", pd.Series(None, index=results.index))
    now = [
        pd.notna(et)
        and events_reason(
            (int(et), int(ec)),
            (int(pt), int(pc)),
            kind != "naive",
            rules,
            None if pd.isna(families) else int(families),
        )
        is not None
        for kind, et, ec, pt, pc, families in zip(
            results["kind"],
            results["events_treated"],
            results["events_comparison"],
            results["people_treated"],
            results["people_comparison"],
            informative,
            strict=True,
        )
    ]
    return recorded | pd.Series(now, index=results.index, dtype=bool)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Per spec, kind and outcome, over the samples where the estimate could be computed and
    the gate shows it (the others are counted as `not_computed`: an estimate withheld for want
    of data, or by the gate)."""
    shown = results["estimate"].notna() & ~_withheld(results)
    results = results.assign(error=results["estimate"] - results["truth"], computed=shown)
    missing = results.groupby(["spec", "kind", "outcome"], sort=False)["computed"].agg(
        lambda c: int((~c).sum())
    )
    results = results[results["computed"]]
    groups = results.groupby(["spec", "kind", "outcome"], sort=False)
    table = groups.agg(
        truth=("truth", "mean"),
        bias=("error", "mean"),
        sd=("estimate", "std"),
        mean_se=("se", "mean"),
        coverage=("covered", "mean"),
        seeds=("seed", "nunique"),
    )
    table["not_computed"] = missing
    table["bias_mc_se"] = groups["error"].sem()
    table["bias_in_se"] = table["bias"] / table["mean_se"]
    table["sd_over_se"] = table["sd"] / table["mean_se"]
    return table.reset_index()


# The tables of docs/method.md: the first release's four outcomes, then the national study's five.
TABLES = (
    ("attendance", "offending", "worklessness", "ae_use"),
    tuple(
        key for key in OUTCOMES if key not in ("attendance", "offending", "worklessness", "ae_use")
    ),
)


def markdown(table: pd.DataFrame, outcomes: tuple[str, ...], headline: str = PRE_LEVELS) -> str:
    """A table of docs/method.md: a row per spec and estimator (the placebo is the headline
    estimator's), a column per outcome, each cell "bias in SE; SD over SE; coverage" with how
    many samples could not be computed or were withheld ("n/c"; a cell none could is "n/c", and
    one shown in fewer than a tenth of its samples says only how many: its statistics would be
    those of a few samples the gate let through)."""
    lines = [
        "| spec | estimator | " + " | ".join(OUTCOMES[k].label for k in outcomes) + " |",
        "|---|---|" + "---|" * len(outcomes),
    ]
    names = {key: e.short[0].lower() + e.short[1:] for key, e in ESTIMATORS.items()}
    names[headline] += " (default)"
    names["placebo"] = "placebo (default's)"
    cells = table.set_index(["spec", "kind", "outcome"])
    for spec in dict.fromkeys(table["spec"]):
        for kind in (headline, *(k for k in ESTIMATORS if k != headline), "placebo"):
            row = [spec, names[kind]]
            for outcome in outcomes:
                if (spec, kind, outcome) not in cells.index:
                    row.append("n/c")
                    continue
                r = cells.loc[(spec, kind, outcome)]
                if r.seeds < (r.seeds + r.not_computed) / 10:
                    row.append(f"shown in {int(r.seeds)} of {int(r.seeds + r.not_computed)}")
                    continue
                missing = f" ({int(r.not_computed)} n/c)" if r.not_computed else ""
                row.append(f"{r.bias_in_se:+.2f}; {r.sd_over_se:.2f}; {r.coverage:.1%}{missing}")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--families", type=int, default=20_000)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--specs",
        nargs="+",
        choices=list(SPECS),
        default=list(SPECS),
        metavar="SPEC",
        help=f"the specs to run (default all: {', '.join(repr(s) for s in SPECS)})",
    )
    parser.add_argument(
        "--every-cell",
        action="store_true",
        help="evaluate every LA x cohort of each store with the default analysis instead",
    )
    parser.add_argument("--out", type=Path, help="also write every estimate to this CSV")
    parser.add_argument(
        "--from",
        dest="saved",
        type=Path,
        nargs="+",
        help="summarise CSVs written by --out (runs of seeds in batches) instead of running",
    )
    args = parser.parse_args()
    if args.saved:
        results = pd.concat([pd.read_csv(path) for path in args.saved], ignore_index=True)
        seeds = results["seed"].nunique()
    else:
        seeds = args.seeds
        results = pd.DataFrame(_run(args))
        if args.out:
            results.to_csv(args.out, index=False)
    print(f"{seeds} seeds x {args.families:,} families\n")
    if results["spec"].isin(list(CELLS)).all():
        print(cells_table(results))
        return
    table = summarise(results)
    print("\n\n".join(markdown(table, outcomes) for outcomes in TABLES))


def cells_table(results: pd.DataFrame) -> str:
    """`--every-cell`'s table: per outcome, the samples shown (of all), how often the placebo's
    interval excluded 0 among them, with a 95% Clopper-Pearson interval, and the spread of its
    t statistics (its truth is 0 everywhere); the default estimate's coverage of its truth and
    mean (estimate - truth) / SE (cells differ in their truths, so no spread)."""
    shown = results["estimate"].notna() & ~_withheld(results)
    lines = [
        "| outcome | placebo shown | placebo excludes 0 (95% interval) | SD / SE of the placebo "
        "| default shown | default's coverage | mean error in SE |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for outcome in OUTCOMES:
        cells = []
        for kind in ("placebo", PRE_LEVELS):
            rows = results[(results["kind"] == kind) & (results["outcome"] == outcome)]
            seen = rows[shown.loc[rows.index]]
            cells.append(f"{len(seen):,} of {len(rows):,}")
            if seen.empty:
                cells += ["", ""]
            elif kind == "placebo":
                out = int((~seen["covered"].astype(bool)).sum())
                n = len(seen)
                low = stats.beta.ppf(0.025, out, n - out + 1) if out else 0.0
                high = stats.beta.ppf(0.975, out + 1, n - out) if out < n else 1.0
                spread = f"{(seen['estimate'] / seen['se']).std():.2f}" if n > 1 else ""
                cells += [f"{out / n:.1%} ({low:.1%}-{high:.1%})", spread]
            else:
                error = (seen["estimate"] - seen["truth"]) / seen["se"]
                cells += [f"{seen['covered'].mean():.1%}", f"{error.mean():+.2f}"]
        lines.append(f"| {OUTCOMES[outcome].label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> list[dict]:
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    rows: list[dict] = []
    with ProcessPoolExecutor(args.workers) as pool:
        specs = tuple(CELLS) if args.every_cell else tuple(args.specs)
        runs = pool.map(one_seed, seeds, [args.families] * len(seeds), [specs] * len(seeds))
        for done, batch in enumerate(runs):
            rows.extend(batch)
            print(f"seed {done + 1} of {len(seeds)} done", file=sys.stderr, flush=True)
    return rows


if __name__ == "__main__":
    main()
