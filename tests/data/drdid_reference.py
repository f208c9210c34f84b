"""Makes tests/data/drdid_reference.json: the doubly robust DiD ATT and standard error of
Sant'Anna and Zhao (2020) for panel data, from moderndid (the maintained Python port of the
authors' R package DRDID), the reference tests/test_drdid.py holds tf_eval.method.drdid to.

moderndid is NOT a dependency of tf-eval: run this once, in a throwaway environment, from the
repository root:

    python3 -m venv /tmp/venv-drdid && /tmp/venv-drdid/bin/pip install moderndid
    /tmp/venv-drdid/bin/python tests/data/drdid_reference.py > tests/data/drdid_reference.json

Each data set is drawn here from a fixed seed and rounded to 6 decimals, so the JSON holds the
data exactly as well as the results. For each, moderndid's `drdid_imp_panel` (improved: inverse
probability tilting and weighted least squares) and `drdid_panel` (traditional: logit and least
squares) are called with an intercept column added to the covariates and default settings
(trim_level 0.995, no bootstrap), and their ATT, standard error and influence function are
written out (the influence function for data sets of up to 400 units).

R DRDID's own numbers on the same data sets are in drdid_reference_r.json
(tests/data/drdid_reference.R). The two agree except that moderndid floors the propensity scores
at 1e-6 and DRDID does not, which shows in `extreme_scores`.
"""

from __future__ import annotations

import json
import sys
import warnings
from importlib.metadata import version

import numpy as np
from moderndid.drdid.estimators.drdid_imp_panel import drdid_imp_panel
from moderndid.drdid.estimators.drdid_panel import drdid_panel

# Influence functions are written out whole for data sets up to this size.
INFLUENCE_ROWS = 400


def draw(
    seed: int,
    n: int,
    continuous: int,
    binary: int,
    selection: float,
    base: float,
    weighted: bool,
    cell: int = 0,
) -> dict:
    """One panel: covariates, a treatment chosen by a logit of them (`selection` scales its
    slope: larger, more extreme scores; `base` is its intercept), a change with an effect of 1
    on the treated and an outcome model with a nonlinear term, and family-size weights (1-6) if
    `weighted`. With `cell` > 0 a last binary covariate marks `cell` units all treated but two:
    their scores are near 1, so those two comparison units are trimmed."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [rng.normal(size=(n, continuous)), rng.binomial(1, 0.4, size=(n, binary))]
    ).round(6)
    slope = selection * np.linspace(1.0, 0.4, x.shape[1])
    index = base + (x - x.mean(axis=0)) @ slope
    d = rng.binomial(1, 1 / (1 + np.exp(-index)))
    if cell:
        marker = np.zeros(n)
        marker[:cell] = 1
        d[:cell] = 1
        d[:2] = 0
        x = np.column_stack([x, marker])
    change = (
        0.5 + x @ np.linspace(0.8, -0.5, x.shape[1]) + 0.3 * x[:, 0] ** 2 + d * 1.0
    ) + rng.normal(size=n)
    w = rng.integers(1, 7, size=n).astype(float) if weighted else None
    return {
        "change": change.round(6).tolist(),
        "treated": d.tolist(),
        "covariates": x.tolist(),
        "weights": None if w is None else w.tolist(),
    }


DATASETS = {
    "small_unweighted": (
        "60 units, one continuous and one binary covariate", 101, 60, 1, 1, 1.0, -0.6, False,
    ),
    "medium_weighted": (
        "400 units, family-size weights, three covariates", 202, 400, 2, 1, 1.0, -0.6, True,
    ),
    "large_weighted": (
        "3000 units, family-size weights, five covariates", 303, 3000, 3, 2, 0.8, -0.6, True,
    ),
    "extreme_scores": (
        "400 units, strong selection: scores below 1e-6 and near 1", 404, 400, 2, 1, 3.5, -0.6,
        True,
    ),
    "trimmed": (
        "1200 units, strong selection and a cell of 500 units all treated but two, whose "
        "scores of 0.995 or more trim them", 606, 1200, 2, 1, 3.5, -0.6, True, 500,
    ),
}  # fmt: skip


def reference(data: dict) -> dict:
    """moderndid's numbers for one data set, both estimators."""
    x = np.asarray(data["covariates"], dtype=float)
    n = x.shape[0]
    design = np.column_stack([np.ones(n), x])
    change = np.asarray(data["change"])
    d = np.asarray(data["treated"])
    w = None if data["weights"] is None else np.asarray(data["weights"], dtype=float)
    out = {}
    for name, estimator in (("improved", drdid_imp_panel), ("traditional", drdid_panel)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = estimator(
                y1=change, y0=np.zeros(n), d=d, covariates=design, i_weights=w,
                influence_func=True,
            )  # fmt: skip
        influence = np.asarray(fit.att_inf_func)
        entry = {
            "att": float(fit.att),
            "se": float(fit.se),
            "warnings": sorted({str(item.message).splitlines()[0] for item in caught}),
        }
        if n <= INFLUENCE_ROWS:
            entry["influence"] = influence.tolist()
        out[name] = entry
    return out


def main() -> None:
    datasets = {}
    for name, (about, *settings) in DATASETS.items():
        data = draw(*settings)
        datasets[name] = {"about": about, **data, "reference": reference(data)}
    document = {
        "about": (
            "Doubly robust DiD for panel data (Sant'Anna and Zhao 2020) from "
            f"moderndid {version('moderndid')} (Python port of R DRDID): drdid_imp_panel "
            "('improved') and drdid_panel ('traditional'), called with an intercept column added "
            "to 'covariates', y1 = change, y0 = 0, default trim_level 0.995; influence functions "
            "for data sets of up to 400 units. Made by tests/data/drdid_reference.py."
        ),
        "package": "moderndid",
        "version": version("moderndid"),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "datasets": datasets,
    }
    # One line per data set: the lists make the file large enough without indentation.
    head = {key: value for key, value in document.items() if key != "datasets"}
    sys.stdout.write(json.dumps(head)[:-1] + ', "datasets": {\n')
    lines = [f"{json.dumps(name)}: {json.dumps(entry)}" for name, entry in datasets.items()]
    sys.stdout.write(",\n".join(lines) + "\n}}\n")


if __name__ == "__main__":
    main()
