"""Makes tests/data/honest_bounds_reference.json: Rambachan and Roth's (2023) relative-magnitudes
bounds on hand-made event studies, the reference tests/test_honest_bounds.py holds
tf_eval.method.honest_bounds to.

Two tools, neither a dependency of tf-eval; run this once, in a throwaway environment, from the
repository root:

    python3 -m venv /tmp/venv-hb
    /tmp/venv-hb/bin/pip install diff-diff==3.13.0 "moderndid[didhonest]==0.2.0" numba
    /tmp/venv-hb/bin/python tests/data/honest_bounds_reference.py \
        > tests/data/honest_bounds_reference.json

- diff-diff 3.13.0, `HonestDiD(method="relative_magnitude", M=Mbar).fit(results)`, fed the raw
  coefficients and covariance as a `MultiPeriodDiDResults` (its `period_effects`, `vcov` and
  `interaction_indices` are all `_extract_event_study_params` reads). Its identified set is the
  target. Its confidence interval is NOT Rambachan and Roth's: diff-diff 3.13.0 widens the
  identified set by 1.96 standard errors ("naive FLCI"; its source says the ARP test is
  "disabled pending calibration"), so it is recorded for comparison only.
- moderndid 0.2.0, the Python port of R HonestDiD, for the robust confidence set: its ARP
  conditional-least-favourable tests (`lp_conditional_test`, `test_in_identified_set_lf_hybrid`,
  `compute_least_favorable_cv` with seed 0), assembled here exactly as R HonestDiD's
  `computeConditionalCS_DeltaRM` assembles them (R/deltarm.R): every pre-period drift as the
  largest, with either sign; post-period moments only; HonestDiD's grid of 1,000 points, each
  component's accepted interval found by moderndid's binary search. moderndid's own
  `compute_conditional_cs_rm` departs from R in two places, so it is recorded but is not the
  target: it leaves out the earliest pre-period drift as a candidate for the largest (its
  identified set collapses to the estimate when that drift is the largest, case
  `first_drift_largest`), and with one post period its confidence set fails (an IndexError).
- The breakdown value: the largest Mbar (bisection on [0, 10] to 0.01, rounded down) at which
  every component's test rejects an effect of 0, with the same moderndid tests.

Cases (T pre and Tb post coefficients, the reference period left out): no pre-trend, a clear
pre-trend, one post period, three post periods, the first pre-period drift the largest, the first
post period alone as the target, and a realistic quarterly one (8 pre, 4 post) whose covariance
is drawn as a cluster-robust one would be.
"""

from __future__ import annotations

import json
import sys
import warnings
from importlib.metadata import version

import numpy as np
from diff_diff.honest_did import HonestDiD
from diff_diff.results import MultiPeriodDiDResults, PeriodEffect
from moderndid.didhonest.arp_no_nuisance import test_in_identified_set_lf_hybrid
from moderndid.didhonest.arp_nuisance import (
    _binary_search_ci_bounds,
    _construct_gamma,
    compute_least_favorable_cv,
    lp_conditional_test,
)
from moderndid.didhonest.delta.rm.rm import compute_conditional_cs_rm, compute_identified_set_rm

ALPHA = 0.05
GRID_POINTS = 1000
MBARS = [0.0, 0.5, 1.0, 2.0]


def ar_cov(n: int, sd: float, rho: float) -> np.ndarray:
    """Correlated coefficients, as neighbouring periods' are."""
    idx = np.arange(n)
    return (sd**2 * rho ** np.abs(idx[:, None] - idx[None, :])).round(10)


def realistic() -> tuple[np.ndarray, np.ndarray]:
    """8 pre and 4 post quarters: a sandwich covariance from 60 clusters' scores, and
    coefficients drawn around a small pre-trend and a growing effect."""
    rng = np.random.default_rng(18)
    scores = rng.normal(size=(60, 12)) @ np.linalg.cholesky(ar_cov(12, 1.0, 0.6)).T
    sigma = (scores.T @ scores / 60**2 * 0.04).round(10)
    trend = np.r_[np.linspace(0.04, 0.005, 8), [0.10, 0.16, 0.2, 0.22]]
    beta = (trend + rng.multivariate_normal(np.zeros(12), sigma)).round(6)
    return beta, sigma


def cases() -> dict[str, dict]:
    beta_r, sigma_r = realistic()
    return {
        "no_pretrend": dict(
            beta=[0.0, 0.0, 0.0, 0.3, 0.4], sigma=ar_cov(5, 0.05, 0.3), num_pre=3, num_post=2
        ),
        "clear_pretrend": dict(
            beta=[-0.3, -0.2, -0.1, 0.3, 0.45], sigma=ar_cov(5, 0.04, 0.3), num_pre=3, num_post=2
        ),
        "one_post": dict(
            beta=[0.02, -0.01, 0.03, 0.25], sigma=ar_cov(4, 0.05, 0.3), num_pre=3, num_post=1
        ),
        "several_post": dict(
            beta=[0.01, 0.04, -0.02, 0.3, 0.35, 0.4],
            sigma=ar_cov(6, 0.06, 0.3),
            num_pre=3,
            num_post=3,
        ),
        "first_drift_largest": dict(
            beta=[0.2, 0.0, 0.01, -0.3, -0.35], sigma=ar_cov(5, 0.03, 0.2), num_pre=3, num_post=2
        ),
        "first_post_only": dict(
            beta=[0.03, 0.01, -0.02, -0.2, -0.1, 0.05],
            sigma=ar_cov(6, 0.05, 0.4),
            num_pre=3,
            num_post=3,
            l_vec=[1.0, 0.0, 0.0],
        ),
        "realistic": dict(beta=beta_r, sigma=sigma_r, num_pre=8, num_post=4),
    }


def diff_diff(beta, sigma, num_pre, num_post, l_vec, mbar) -> dict:
    """diff-diff's HonestDiD on raw coefficients: labels -T..-1 and 1..Tb around a reference 0."""
    labels = list(range(-num_pre, 0)) + list(range(1, num_post + 1))
    effects = {
        p: PeriodEffect(p, float(b), float(np.sqrt(sigma[i, i])), 0.0, 1.0, (0.0, 0.0))
        for i, (p, b) in enumerate(zip(labels, beta, strict=True))
    }
    results = MultiPeriodDiDResults(
        period_effects=effects,
        avg_att=0.0,
        avg_se=1.0,
        avg_t_stat=0.0,
        avg_p_value=1.0,
        avg_conf_int=(0.0, 0.0),
        n_obs=1000,
        n_treated=500,
        n_control=500,
        pre_periods=labels[:num_pre],
        post_periods=labels[num_pre:],
        vcov=sigma,
        reference_period=0,
        interaction_indices={p: i for i, p in enumerate(labels)},
    )
    fit = HonestDiD(method="relative_magnitude", M=mbar, l_vec=l_vec).fit(results)
    return {"lb": fit.lb, "ub": fit.ub, "ci_lb": fit.ci_lb, "ci_ub": fit.ci_ub}


def a_rm(num_pre, num_post, mbar, s, sign) -> np.ndarray:
    """R HonestDiD's .create_A_RM (s from -(T-1) to 0, R's indexing), 0-based."""
    periods = num_pre + num_post
    drift = np.zeros((periods, periods + 1))
    for r in range(periods):
        drift[r, r : r + 2] = [-1, 1]
    largest = np.zeros(periods + 1)
    largest[num_pre + s - 1 : num_pre + s + 1] = [-sign, sign]
    bound = np.vstack([np.tile(largest, (num_pre, 1)), np.tile(mbar * largest, (num_post, 1))])
    a = np.vstack([drift - bound, -drift - bound])
    a = a[(a * a).sum(axis=1) > 1e-10]
    return np.delete(a, num_pre, axis=1)


def component_tests(beta, sigma, num_pre, num_post, l_vec, mbar):
    """One test of theta = t per (s, sign), as R's .computeConditionalCS_DeltaRM_fixedS."""
    kappa = ALPHA / 10
    tests = []
    for s in range(-(num_pre - 1), 1):
        for sign in (1, -1):
            a = a_rm(num_pre, num_post, mbar, s, sign)
            if num_post == 1:
                a = a[a[:, -1] != 0]
                lf = compute_least_favorable_cv(None, a @ sigma @ a.T, kappa, seed=0)
                e = np.zeros(num_pre + 1)
                e[num_pre] = 1.0
                tests.append(
                    lambda t, a=a, lf=lf, e=e: test_in_identified_set_lf_hybrid(
                        beta - e * t, sigma, a, np.zeros(len(a)), ALPHA, kappa, lf
                    )
                )
                continue
            rows = np.where(np.any(a[:, num_pre:] != 0, axis=1))[0]
            rotated = a[:, num_pre:] @ np.linalg.inv(_construct_gamma(l_vec))
            cov = a @ sigma @ a.T
            hybrid = {"hybrid_kappa": kappa}
            hybrid["lf_cv"] = compute_least_favorable_cv(
                rotated[:, 1:], cov, kappa, rows_for_arp=rows
            )
            tests.append(
                lambda t, a=a, r=rotated, c=cov, h=hybrid, rows=rows: (
                    not lp_conditional_test(
                        a @ beta - r[:, 0] * t, r[:, 1:], c, ALPHA, "LF", dict(h), rows
                    )["reject"]
                )
            )
    return tests


def grid(beta, sigma, num_pre, num_post, l_vec, mbar) -> np.ndarray:
    """HonestDiD's grid: the estimate +- (Mbar sum_t t|l_t| largest drift + 20 standard errors)."""
    post = slice(num_pre, None)
    sd = np.sqrt(l_vec @ sigma[post, post] @ l_vec)
    largest = np.max(np.abs(np.diff(np.r_[beta[:num_pre], 0.0])))
    half = mbar * (np.arange(1, num_post + 1) @ np.abs(l_vec)) * largest + 20 * sd
    return np.linspace(beta[post] @ l_vec - half, beta[post] @ l_vec + half, GRID_POINTS)


def robust_set(beta, sigma, num_pre, num_post, l_vec, mbar) -> list[float]:
    points = grid(beta, sigma, num_pre, num_post, l_vec, mbar)
    accepted = np.zeros(GRID_POINTS, dtype=bool)
    for test in component_tests(beta, sigma, num_pre, num_post, l_vec, mbar):
        lo, hi = _binary_search_ci_bounds(lambda i, test=test: test(points[i]), GRID_POINTS)
        if lo is not None:
            accepted[lo : hi + 1] = True
    return [float(points[accepted].min()), float(points[accepted].max())]


def breakdown(beta, sigma, num_pre, num_post, l_vec) -> float | None:
    def excludes(mbar):
        tests = component_tests(beta, sigma, num_pre, num_post, l_vec, mbar)
        return not any(test(0.0) for test in tests)

    if not excludes(0.0):
        return 0.0
    if excludes(10.0):
        return None
    lo, hi = 0.0, 10.0
    while hi - lo > 0.01:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if excludes(mid) else (lo, mid)
    return lo


def moderndid_own(beta, sigma, num_pre, num_post, l_vec, mbar) -> dict:
    """moderndid's own functions; with one post period its confidence set fails (IndexError in
    moderndid 0.2.0), recorded as such."""
    ident = compute_identified_set_rm(mbar, beta, l_vec, num_pre, num_post)
    if num_post == 1:
        return {"lb": float(ident.id_lb), "ub": float(ident.id_ub), "ci": "fails in moderndid"}
    cs = compute_conditional_cs_rm(beta, sigma, num_pre, num_post, l_vec=l_vec, m_bar=mbar, seed=0)
    points = cs["grid"][cs["accept"] > 0]
    return {
        "lb": float(ident.id_lb),
        "ub": float(ident.id_ub),
        "ci_lb": float(points.min()),
        "ci_ub": float(points.max()),
    }


def main() -> None:
    warnings.simplefilter("ignore")
    out = {
        "about": (
            "Relative-magnitudes bounds (Rambachan and Roth 2023) on hand-made event studies; "
            "see tests/data/honest_bounds_reference.py. Per case and Mbar: diff_diff (its "
            "identified set lb/ub is the target; its ci is identified set +- 1.96 se, not RR's), "
            "robust (R HonestDiD's C-LF confidence set from moderndid's ARP tests: the target, "
            "on HonestDiD's grid of 1000 points), moderndid_own (moderndid's own "
            "compute_conditional_cs_rm, which departs from R; not a target); per case breakdown "
            "(largest Mbar, to 0.01 rounded down, at which the robust set excludes 0)."
        ),
        "packages": {p: version(p) for p in ("diff-diff", "moderndid", "numpy", "scipy")},
        "alpha": ALPHA,
        "cases": {},
    }
    for name, case in cases().items():
        beta = np.asarray(case["beta"], dtype=float)
        sigma = np.asarray(case["sigma"], dtype=float)
        num_pre, num_post = case["num_pre"], case["num_post"]
        l_vec = np.asarray(case.get("l_vec", np.full(num_post, 1 / num_post)), dtype=float)
        print(name, file=sys.stderr)
        args = (beta, sigma, num_pre, num_post, l_vec)
        out["cases"][name] = {
            "beta": beta.tolist(),
            "sigma": sigma.tolist(),
            "num_pre": num_pre,
            "num_post": num_post,
            "l_vec": l_vec.tolist(),
            "by_mbar": [
                {
                    "mbar": mbar,
                    "diff_diff": diff_diff(*args, mbar),
                    "robust": robust_set(*args, mbar),
                    "moderndid_own": moderndid_own(*args, mbar),
                }
                for mbar in MBARS
            ],
            "breakdown": breakdown(*args),
        }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
