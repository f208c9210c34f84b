"""Monte Carlo check of the intervals at small sizes: 95% coverage and the placebo's false
rejections, CR1 against CR2 with Bell-McCaffrey degrees of freedom (issue 15, item 2).

    .venv/bin/python studies/coverage.py                          # both settings, 200 seeds each
    .venv/bin/python studies/coverage.py --setting cell --seeds 100 --workers 2

Two settings, each a selection of a fresh demo store per seed (tf_eval.data.synth):

* `cell`: one local authority x cohort (LA01, 2017) of a 6,000-family store: about 170
  families, the smallest selection the disclosure gate lets through;
* `la`: one local authority (LA01) of a 3,500-family store: about 700 families.

Each seed runs the default evaluation of the selection three ways (`Inference`): CR1 with the
full outcome model (the method before this study), CR2 + Bell-McCaffrey df with the full model,
and CR2 + Bell-McCaffrey df with the thin-data rule (today's default). A seed whose selection the
gate refuses (under 50 supported or comparison families) is counted and skipped.

**The truth of a selection.** `demo_truth` is the store's, over every supported family; a
selection's supported families have their own (rates differ by LA and year). So the study first
builds one large store twice, with the planted effects and with none (the same families, people
and records before attachment: tf_eval.data.synth), and takes the selection's truth as the mean
over its supported people of the difference their outcomes show (`--truth-families`, default
200,000: about 2,000 supported families in the cell, so the truth's own noise is a few percent of
a cell estimate's standard error). It is the selection's population effect; a seed's own
supported families differ from it by far less than an estimate's error. The placebo's truth is 0.

Reports per setting, method and outcome: how often the 95% interval covered the truth (as the
engine computes it, and as released: recomputed by the disclosure gate on degrees of freedom
rounded down to a multiple of 5), how often the placebo's interval excluded 0, the mean interval
width and df, the bias with its Monte Carlo standard error, and which outcome model was used.
Not part of the test run (about 10 minutes for 200 seeds of both settings on two cores;
tests/test_coverage_study.py runs one seed); the figures go in docs/method.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tf_eval.data import store, synth  # noqa: E402
from tf_eval.governance.rules import SelectionRefused, current_rules  # noqa: E402
from tf_eval.method.estimate import AnalysisSpec, Inference, evaluate  # noqa: E402
from tf_eval.method.panel import build_panel  # noqa: E402
from tf_eval.release.disclosure import coarse_df  # noqa: E402


@dataclass(frozen=True)
class Setting:
    families: int  # in each seed's store
    la: str
    cohort: int | None
    about: str


SETTINGS = {
    "cell": Setting(6_000, "LA01", 2017, "one LA x cohort (LA01, 2017) of 6,000 families"),
    "la": Setting(3_500, "LA01", None, "one LA (LA01) of 3,500 families"),
}
METHODS = {
    "CR1, full model": Inference("CR1", 0),
    "CR2 + BM df, full model": Inference("CR2", 0),
    "CR2 + BM df, thin-data rule": Inference(),
}
NO_EFFECT = synth.NO_EFFECTS


def selection_truths(settings: list[Setting], families: int, seed: int = 1) -> list[dict]:
    """Each selection's true effect per outcome: the mean, over its supported people, of the
    difference between a large store with the planted effects and the same without."""
    with tempfile.TemporaryDirectory() as folder:
        stores = []
        for name, effects in (("with", synth.PlantedEffects()), ("without", NO_EFFECT)):
            path = Path(folder) / f"{name}.duckdb"
            synth.build_demo_store(path, families, seed, effects=effects)
            stores.append(store.Store(path))
        truths = []
        for setting in settings:
            panels = [build_panel(s, 12, setting.la, setting.cohort) for s in stores]
            truth = {}
            for key, people in panels[0].people.items():
                rows = people["family_row"].to_numpy()
                treated = panels[0].families["treated"].to_numpy()[rows]
                both = people[treated].merge(
                    panels[1].people[key], on="person_id", suffixes=("", "_cf")
                )
                truth[key] = float((both["post"] - both["post_cf"]).mean())
            truths.append(truth)
        for shared in stores:
            shared.close()
    return truths


def one_seed(seed: int, setting: Setting) -> list[dict]:
    """Every method's matched and placebo estimates on one seed's selection ([] if refused)."""
    spec = AnalysisSpec(la=setting.la, cohort=setting.cohort)
    rules = current_rules()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mc.duckdb"
        synth.build_demo_store(path, setting.families, seed)
        shared = store.Store(path)
        panel = build_panel(shared, 12, setting.la, setting.cohort)
        try:
            for method, inference in METHODS.items():
                evaluation = evaluate(shared, spec, panel=panel, inference=inference)
                for kind, estimates in (
                    ("matched", evaluation.estimates),
                    ("placebo", evaluation.placebo),
                ):
                    rows += [
                        {
                            "seed": seed,
                            "method": method,
                            "kind": kind,
                            "outcome": e.outcome,
                            "estimate": e.att,
                            "ci_low": e.ci_low,
                            "ci_high": e.ci_high,
                            # As released: the interval recomputed on df rounded down to a
                            # multiple of the count base (tf_eval.release.disclosure).
                            "released_half": stats.t.ppf(0.975, coarse_df(e.df_t, rules)) * e.se,
                            "df": e.df_t,
                            "model": e.outcome_model,
                            "families": e.families_treated + e.families_comparison,
                            "selected": len(panel.families),
                        }
                        for e in estimates
                    ]
        except SelectionRefused:
            rows = []
        finally:
            shared.close()
    return rows


def summarise(results: pd.DataFrame, truth: dict[str, float]) -> pd.DataFrame:
    """Coverage (matched: of the truth; placebo: of 0), width, df and bias per method, kind and
    outcome, with 'all' rows pooling the four outcomes."""
    target = np.where(results["kind"] == "placebo", 0.0, results["outcome"].map(truth))
    results = results.assign(
        error=results["estimate"] - target,
        covered=(results["ci_low"] <= target) & (target <= results["ci_high"]),
        released=(results["estimate"] - target).abs() <= results["released_half"],
        width=results["ci_high"] - results["ci_low"],
        thin=results["model"] != "covariates",
    )
    pooled = results.assign(outcome="all")
    table = (
        pd.concat([results, pooled])
        .groupby(["method", "kind", "outcome"], sort=False)
        .agg(
            estimates=("covered", "size"),
            coverage=("covered", "mean"),
            released=("released", "mean"),
            width=("width", "mean"),
            df=("df", "median"),
            bias=("error", "mean"),
            bias_se=("error", "sem"),
            thin=("thin", "mean"),
        )
    )
    return table.reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=[*SETTINGS, "both"], default="both")
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--truth-families", type=int, default=200_000)
    parser.add_argument("--csv", type=Path, help="also write every estimate to this file")
    args = parser.parse_args()
    names = list(SETTINGS) if args.setting == "both" else [args.setting]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    truths = selection_truths([SETTINGS[name] for name in names], args.truth_families)
    for name, truth in zip(names, truths, strict=True):
        setting = SETTINGS[name]
        with ProcessPoolExecutor(args.workers) as pool:
            batches = list(pool.map(one_seed, seeds, [setting] * len(seeds)))
        results = pd.DataFrame([r for batch in batches for r in batch])
        if args.csv:
            results.assign(setting=name).to_csv(
                args.csv, mode="a", header=not args.csv.exists(), index=False
            )
        used = results["seed"].nunique()
        print(
            f"\n{setting.about}: {used} of {len(seeds)} seeds evaluated (the others refused), "
            f"median {results['selected'].median():.0f} families selected; truth "
            + ", ".join(f"{k} {v:+.4f}" for k, v in truth.items())
            + "\n"
        )
        print(
            "| method | estimate | outcome | 95% coverage | as released | mean width | median df | "
            "bias (MC s.e.) | thin model |"
        )
        print("|---|---|---|---:|---:|---:|---:|---:|---:|")
        for r in summarise(results, truth).itertuples():
            print(
                f"| {r.method} | {r.kind} | {r.outcome} | {r.coverage:.1%} | {r.released:.1%} | "
                f"{r.width:.4f} | "
                f"{r.df:.0f} | {r.bias:+.4f} ({r.bias_se:.4f}) | {r.thin:.0%} |"
            )


if __name__ == "__main__":
    main()
