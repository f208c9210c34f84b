"""Cross-check of tf-eval's disclosure gate against ACRO (SACRO project), on random tables.

What is compared. For each of 50 seeded random per-person tables (LA x cohort, skewed so that
small and empty cells occur, a whole-number magnitude `visits` with a few heavy contributors
planted so that dominance occurs, sometimes a few missing values, and a 0/1 outcome `any_ae`),
ACRO's default risk appetite (default.yaml: threshold 10, nk-dominance n=2 k=0.9, p-ratio 0.1,
zeros disclosive) is asked, through `ACRO.crosstab` with no mitigation, which cells of

* the crosstab of counts (FrequencyTable: MinimumThresholdCheck, PresenceOfZeroCheck),
* the crosstab of the mean of `visits` (Mean: MinimumThresholdCheck, NKCheck, PPercentCheck),
* the crosstab of the sum of `visits` (Sum: the same checks), and
* the crosstab of the mean of the 0/1 `any_ae` (a rate)

it flags. ACRO's verdict per cell is read from the recorded output's `outcome` frame (a cell is
flagged when it names any check instead of "ok"); it is checked against the cell positions in
the record's `sdc["cells"]`, and a hand-built table pins down that this reading finds each check.

The assertion is one way: every cell ACRO flags is suppressed by tf-eval, by `count_table` on
the same counts, and by `mean_table` with the same grouping for the means, sums and rates
(tf-eval never shows a sum; a mean shown beside its protected group size would give the sum
away, so the mean's suppression is what must cover ACRO's sum verdict). Where tf-eval is
stricter than ACRO (e.g. rates need 10 people with and 10 without; people with a missing value
do not count towards a group's size) that is allowed.

Zero cells are the one deliberate exception. ACRO's threshold check flags a count of 0 (0 < 10)
and, with `zeros_are_disclosive: True`, so does its PresenceOfZeroCheck. ACRO reads that
setting from a YAML file inside the installed package (`ACRO(config=name)` looks only there);
patching the loaded dict would not help, as the threshold check flags zeros whatever it says, so
zeros are handled here rather than configured away. tf-eval shows 0 by design (its rules
suppress counts of 1-9 only: docs/disclosure-control.md). So for a zero-count cell the test
asserts tf-eval shows exactly 0 in the count table and shows no mean for it (mean_table has no
row for an empty group), and counts such cells separately instead of requiring suppression.

A group of 10+ people who all have 0 is flagged by ACRO (its PPercentCheck) and withheld by
tf-eval (its all-same rule); a hand-built table pins that case, as the 50 random tables happen to
contain no such group.

tf-eval perturbs what it shows (docs/disclosure-control.md#consistent-perturbation): each person
here gets a random record key, each count its cell key, and the comparison allows for the noise.
A shown count is at most 3 + 2 from ACRO's (noise, then rounding to 5), never 1-9, and a table's
total is the sum of its shown cells; a shown mean is within the noise's reach of ACRO's (at most
the cell's largest value over its size, plus the rounding). The noise never unsuppresses a cell:
what is suppressed is decided on the exact values.

ACRO runs in an environment of its own (`.venv-acro`, from requirements-acro.txt, built on
first use): it needs pandas 2.3.3 or older, and the tests must not change the dashboard's
environment. One worker process there (tests/acro_worker.py) answers every crosstab; it works in
a temporary folder, and ACRO writes no files unless `finalise` is called (it is not).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tf_eval import config
from tf_eval.governance.rules import Rules
from tf_eval.release.disclosure import count_table, mean_table

RULES = Rules()  # the design defaults, whatever disclosure.toml says
SEEDS = range(50)
DIMS = ["la", "cohort"]
ACRO_ENV = config.PROJECT_ROOT / ".venv-acro"
ACRO_REQUIREMENTS = config.PROJECT_ROOT / "requirements-acro.txt"
WORKER = Path(__file__).with_name("acro_worker.py")


def _acro_python() -> Path:
    """ACRO's own environment (requirements-acro.txt), built on first use: ACRO needs pandas
    2.3.3 or older, which must not reach the dashboard's environment (.venv)."""
    python = ACRO_ENV / "bin" / "python"
    ready = [str(python), "-c", "import acro"]
    if python.exists() and subprocess.run(ready, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(ACRO_ENV)], check=True)
    install = [str(python), "-m", "pip", "install", "-q", "-r", str(ACRO_REQUIREMENTS)]
    subprocess.run(install, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(ready, check=True)
    return python


class Acro:
    """ACRO behind a pipe: one worker process (tests/acro_worker.py) in ACRO's environment."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [str(_acro_python()), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def crosstab(
        self, people: pd.DataFrame, value: str | None, aggfunc: str | None
    ) -> tuple[pd.DataFrame, pd.DataFrame, set[tuple[int, int]]]:
        """ACRO's table, its per-cell outcome and the cells its record names."""
        columns = ["la", "cohort"] + ([value] if value else [])
        plain = people[columns].astype(object).where(people[columns].notna(), None)
        request = {"people": plain.to_dict("list"), "value": value, "aggfunc": aggfunc}
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the ACRO worker stopped"
        answer = json.loads(line)
        frames = []
        for part in ("table", "outcome"):
            split = answer[part]
            frame = pd.DataFrame(split["data"], columns=split["columns"])
            frame.index = pd.Index(split["index"], dtype=people["la"].dtype)
            frame.columns = pd.Index(split["columns"], dtype=people["cohort"].dtype)
            frames.append(frame if part == "outcome" else frame.fillna(np.nan))
        return frames[0], frames[1], {(int(i), int(j)) for i, j in answer["cells"]}

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def session() -> Iterator[Acro]:
    acro = Acro()
    try:
        yield acro
    finally:
        acro.close()


def people_table(seed: int) -> pd.DataFrame:
    """A random per-person table: skewed LA and cohort shares (small and empty cells), A&E
    visits with a few heavy users planted, sometimes missing values, and a 0/1 outcome."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 240))
    las = [f"LA{i}" for i in range(int(rng.integers(2, 5)))]
    cohorts = [f"{2018 + i}/{19 + i}" for i in range(int(rng.integers(2, 4)))]
    la = rng.choice(las, n, p=rng.dirichlet(np.full(len(las), 0.8)))
    cohort = rng.choice(cohorts, n, p=rng.dirichlet(np.full(len(cohorts), 0.8)))
    visits = rng.poisson(rng.uniform(0.2, 3.0), n).astype(float)
    heavy = rng.choice(n, size=int(rng.integers(0, 5)), replace=False)
    visits[heavy] = rng.integers(30, 3000, heavy.size)
    if seed % 3 == 0:
        visits[rng.choice(n, size=int(rng.integers(1, 6)), replace=False)] = math.nan
    any_ae = (rng.random(n) < rng.uniform(0.05, 0.7)).astype(int)
    key = rng.integers(0, 256, n)  # each person's record key
    return pd.DataFrame({"la": la, "cohort": cohort, "visits": visits, "any_ae": any_ae, "k": key})


def acro_verdict(
    session: Acro, people: pd.DataFrame, value: str | None, aggfunc: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ACRO's (unmitigated) table and its per-cell verdict: the check names, or "ok"."""
    table, outcome, positions = session.crosstab(people, value, aggfunc)
    assert outcome.shape == table.shape
    flagged = outcome != "ok"
    rows, cols = np.nonzero(flagged.to_numpy())
    assert positions == {(int(i), int(j)) for i, j in zip(rows, cols, strict=True)}
    return table, outcome


def flagged_cells(outcome: pd.DataFrame) -> Iterator[tuple[tuple[str, str], str]]:
    for la in outcome.index:
        for cohort in outcome.columns:
            if outcome.loc[la, cohort] != "ok":
                yield (la, cohort), outcome.loc[la, cohort]


def checks_named(verdict: str) -> set[str]:
    return {name.strip() for name in verdict.split(";") if name.strip()}


def tf_counts(people: pd.DataFrame) -> dict[tuple[str, str], object]:
    """tf-eval's count table of the full LA x cohort grid, zeros included, each cell with its
    key (its people's keys summed modulo 256); its total is the sum of its shown cells."""
    exact = pd.crosstab(people["la"], people["cohort"]).stack().rename("n").reset_index()
    keys = people.groupby(DIMS)["k"].sum() % 256
    cells = zip(exact["la"], exact["cohort"], strict=True)
    exact["n_key"] = [int(keys.get(cell, 0)) for cell in cells]
    safe = count_table(exact, ["n"], "acro-check", rules=RULES)
    shown = [v for v in safe.shown("n") if v != RULES.suppressed_mark]
    assert all(v == 0 or v >= RULES.count_threshold for v in shown)  # never 1-9
    assert safe.total("n") == sum(shown)
    return {(r.la, r.cohort): r.n for r in safe.frame.itertuples(index=False)}


def tf_means(people: pd.DataFrame, value: str, binary: bool) -> dict[tuple[str, str], float]:
    safe = mean_table(people, DIMS, value, "acro-check", binary=binary, rules=RULES, key="k")
    return {(r.la, r.cohort): getattr(r, value) for r in safe.frame.itertuples(index=False)}


def released_step(exact: float, people: int) -> float:
    """The step a shown mean is rounded to (docs/disclosure-control.md, Rates and means): its
    third significant figure, or the power of ten at or above 1 / people (as shown, to 5),
    whichever is coarser."""
    shown = 5 * round(people / 5)
    figures = 10.0 ** (math.floor(math.log10(abs(exact))) - 2) if exact else 0.0
    return max(figures, 10.0 ** -math.floor(math.log10(shown)))


def noise_reach(people: pd.DataFrame, value: str, cell: tuple[str, str]) -> float:
    """How far noise (at most the cell's largest value) and rounding can move its mean."""
    inside = (people["la"] == cell[0]) & (people["cohort"] == cell[1])
    values = people.loc[inside, value].dropna()
    return float(values.abs().max() / len(values)) * (1 + 1 / (2 * math.sqrt(6))) + 1e-12


def known_people() -> pd.DataFrame:
    """A hand-built table whose ACRO verdicts are known: a cell of 3 people (threshold), a
    cell of 15 dominated by one person (nk and p-ratio), a cell of 12 people who all have 0
    (ACRO's p-ratio check: with top1 = 0 its `where` keeps (sum - top2) = 0, and 0 < 0.1), three
    ordinary cells and an empty one."""
    rows = (
        [("A", "2019", 1.0)] * 3
        + [("A", "2020", 1000.0)] + [("A", "2020", 1.0)] * 14
        + [("B", "2019", float(v % 3)) for v in range(20)]
        + [("B", "2020", 2.0)] * 12
        + [("C", "2019", 1.0)] * 11
        + [("D", "2019", 0.0)] * 12
        + [("D", "2020", 1.0)] * 10
    )  # fmt: skip
    frame = pd.DataFrame(rows, columns=["la", "cohort", "visits"])
    frame["k"] = np.arange(len(frame)) * 37 % 256  # record keys
    return frame


def test_reading_acros_verdict_finds_each_check(session: Acro) -> None:
    people = known_people()
    _, outcome = acro_verdict(session, people, "visits", "mean")
    verdicts = {cell: checks_named(v) for cell, v in flagged_cells(outcome)}
    assert verdicts == {
        ("A", "2019"): {"MinimumThresholdCheck"},
        ("A", "2020"): {"NKCheck", "PPercentCheck"},
        ("C", "2020"): {"MinimumThresholdCheck"},  # empty
        ("D", "2019"): {"PPercentCheck"},  # everyone 0
    }
    means = tf_means(people, "visits", binary=False)
    assert math.isnan(means[("A", "2019")]) and math.isnan(means[("A", "2020")])
    assert ("C", "2020") not in means
    # 19 / 20 = 0.95 plus noise, then released no finer than 1 / 20 people allows (0.1)
    reach = noise_reach(people, "visits", ("B", "2019"))
    assert abs(means[("B", "2019")] - 19 / 20) <= reach + released_step(19 / 20, 20) / 2
    # Everyone in B 2020 has 2 visits: ACRO shows that mean, tf-eval (stricter) withholds it.
    assert math.isnan(means[("B", "2020")])

    _, outcome = acro_verdict(session, people, None, None)
    verdicts = {cell: checks_named(v) for cell, v in flagged_cells(outcome)}
    assert verdicts == {
        ("A", "2019"): {"MinimumThresholdCheck"},
        ("C", "2020"): {"MinimumThresholdCheck", "PresenceOfZeroCheck"},
    }
    counts = tf_counts(people)
    assert pd.isna(counts[("A", "2019")]) and counts[("C", "2020")] == 0


def test_a_group_acro_flags_because_everyone_has_zero_is_suppressed() -> None:
    means = tf_means(known_people(), "visits", binary=False)
    assert math.isnan(means[("D", "2019")])


def test_every_count_acro_flags_is_suppressed(session: Acro) -> None:
    seen: Counter[str] = Counter()
    failures = []
    for seed in SEEDS:
        people = people_table(seed)
        table, outcome = acro_verdict(session, people, None, None)
        pd.testing.assert_frame_equal(
            table, pd.crosstab(people["la"], people["cohort"]), check_names=False
        )
        shown = tf_counts(people)
        assert set(shown) == {(la, c) for la in table.index for c in table.columns}
        for cell, verdict in flagged_cells(outcome):
            seen.update(checks_named(verdict))
            exact = int(table.loc[cell])
            if exact == 0:  # tf-eval shows zeros by design (see the module docstring)
                seen["zero cells"] += 1
                if shown[cell] != 0:
                    failures.append((seed, cell, exact, shown[cell], verdict))
            elif not pd.isna(shown[cell]):
                failures.append((seed, cell, exact, shown[cell], verdict))
        for cell, value in shown.items():  # the cells line up: shown = ACRO's, noise + rounding
            if not pd.isna(value):
                seen["shown by tf-eval"] += 1
                assert abs(int(value) - int(table.loc[cell])) <= 5, (seed, cell)
    assert not failures, f"ACRO-flagged counts that tf-eval shows: {failures}"
    assert seen["MinimumThresholdCheck"] >= 20 and seen["PresenceOfZeroCheck"] >= 1
    assert seen["zero cells"] >= 1 and seen["shown by tf-eval"] >= 50


@pytest.mark.parametrize(
    ("value", "aggfunc", "binary", "seeds"),
    [
        ("visits", "mean", False, SEEDS),
        ("visits", "sum", False, SEEDS[::2]),
        ("any_ae", "mean", True, SEEDS[::2]),
    ],
    ids=["mean-visits", "sum-visits", "rate-any_ae"],
)
def test_every_mean_sum_or_rate_acro_flags_is_suppressed(
    session: Acro, value: str, aggfunc: str, binary: bool, seeds: range
) -> None:
    seen: Counter[str] = Counter()
    failures = []
    for seed in seeds:
        people = people_table(seed)
        table, outcome = acro_verdict(session, people, value, aggfunc)
        means = tf_means(people, value, binary)
        sizes = pd.crosstab(people["la"], people["cohort"])
        finite = people.groupby(DIMS)[value].count()
        for cell, verdict in flagged_cells(outcome):
            seen.update(checks_named(verdict))
            if cell not in means:  # an empty cell: tf-eval has no row, so shows nothing
                assert int(sizes.loc[cell]) == 0, (seed, cell)
                seen["zero cells"] += 1
            elif not math.isnan(means[cell]):
                failures.append((seed, cell, means[cell], verdict))
        for (
            cell,
            mean,
        ) in means.items():  # the cells line up: a shown mean is ACRO's + noise, rounded
            if not math.isnan(mean):
                seen["shown by tf-eval"] += 1
                acros = table.loc[cell]
                if aggfunc == "sum":  # the mean is the sum over the people with a value
                    acros /= finite.loc[cell]
                n = int(finite.loc[cell])
                step = max(released_step(acros, n), released_step(mean, n))
                reach = noise_reach(people, value, cell)
                assert abs(mean - acros) <= reach + step / 2 + 1e-12, (seed, cell, mean, acros)
    assert not failures, f"ACRO-flagged {aggfunc}s of {value} that tf-eval shows: {failures}"
    assert seen["MinimumThresholdCheck"] >= 5 and seen["shown by tf-eval"] >= 20
    if not binary:
        assert seen["NKCheck"] >= 3 and seen["PPercentCheck"] >= 1
