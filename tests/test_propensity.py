"""The propensity model: MatchIt's design and glm scores on the lalonde data, and a one-line
refusal, naming the culprits, for every model whose scores could not be trusted."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression

from tf_eval.method import propensity
from tf_eval.method.propensity import ModelError, PropensityModel, as_treatment, design_matrices

DATA = Path(__file__).parent / "data"
COVARIATES = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]


@pytest.fixture(scope="module")
def lalonde() -> pd.DataFrame:
    return pd.read_csv(DATA / "lalonde.csv")


@pytest.fixture(scope="module")
def matchit() -> dict:
    with open(DATA / "matchit_lalonde_nearest_1to1.json") as f:
        return json.load(f)


@pytest.fixture(autouse=True)
def silent():
    """Nothing here may warn: failures are ModelErrors, never warnings left for the user."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _fit_error(X: pd.DataFrame, treated, max_iter: int = 100) -> str:
    model = PropensityModel(max_iter=max_iter)
    with pytest.raises(ModelError) as caught:
        model.fit(X, treated)
    assert not model.converged_
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_scores_match_matchit_glm(lalonde: pd.DataFrame, matchit: dict) -> None:
    design = design_matrices(lalonde, COVARIATES)
    scores = PropensityModel().fit(design.model, lalonde["treat"]).predict(design.model)
    expected = matchit["propensity_score_first_5_rows"]
    np.testing.assert_allclose(scores[: len(expected)], expected, rtol=0, atol=1e-8)
    assert len(expected) == 5


def test_coefficients_are_the_maximum_likelihood_on_the_original_scale(
    lalonde: pd.DataFrame,
) -> None:
    design = design_matrices(lalonde, COVARIATES)
    model = PropensityModel().fit(design.model, lalonde["treat"])
    reference = sm.Logit(lalonde["treat"], sm.add_constant(design.model)).fit(disp=0, tol=1e-12)
    assert model.converged_
    assert list(model.coef_.index) == ["const", *design.model.columns]
    np.testing.assert_allclose(model.coef_, reference.params, rtol=1e-7, atol=1e-12)


def test_a_strong_predictor_that_still_overlaps_is_fitted_not_refused(
    lalonde: pd.DataFrame,
) -> None:
    """Near separation is not separation: the maximum exists and we find statsmodels' one."""
    X = design_matrices(lalonde, COVARIATES).model
    rng = np.random.default_rng(3)
    X = X.assign(signal=lalonde["treat"] + 0.3 * rng.standard_normal(len(X)))
    treated = lalonde["treat"] == 1
    assert X["signal"][treated].min() < X["signal"][~treated].max()  # the groups overlap
    model = PropensityModel().fit(X, lalonde["treat"])
    reference = sm.Logit(lalonde["treat"], sm.add_constant(X)).fit(disp=0, tol=1e-12)
    assert model.coef_["signal"] > 10
    np.testing.assert_allclose(model.coef_, reference.params, rtol=1e-7, atol=1e-12)


def test_a_fit_whose_full_newton_step_overshoots_still_reaches_the_maximum() -> None:
    """One binary covariate: 12 of 25 units treated where it is 0, 4 of 175 where it is 1. From
    the intercept-only start (16/200 treated) a full Newton step overshoots this maximum, which
    is known by hand: with one binary covariate the scores are the two groups' shares."""
    X = pd.DataFrame({"flag": [0.0] * 25 + [1.0] * 175})
    treated = [1] * 12 + [0] * 13 + [1] * 4 + [0] * 171
    scores = PropensityModel().fit(X, treated).predict(X)
    np.testing.assert_allclose(scores[[0, 25]], [12 / 25, 4 / 175], rtol=1e-12)


def _logit_world(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    X["flag"] = (rng.random(n) < 0.3).astype(float)
    eta = -1.0 + X["a"] - 0.5 * X["b"] ** 2 + 0.8 * X["flag"]
    return X, (rng.random(n) < 1 / (1 + np.exp(-eta))).to_numpy().astype(int)


def _fitted_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows of every logistic regression fitted from now on."""
    rows: list[int] = []
    fit = LogisticRegression.fit

    def counted(self: LogisticRegression, X: np.ndarray, y: np.ndarray) -> LogisticRegression:
        rows.append(len(X))
        return fit(self, X, y)

    monkeypatch.setattr(LogisticRegression, "fit", counted)
    return rows


def test_the_warm_start_from_a_subsample_finds_the_same_maximum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With at least four times propensity.SUBSAMPLE_ROWS units, every k-th unit is fitted
    first and the whole sample starts from its maximum (a few Newton steps fewer): the maximum
    found is the one a fit from zero finds."""
    X, treated = _logit_world(20_000, seed=5)
    cold = PropensityModel().fit(X, treated)
    monkeypatch.setattr(propensity, "SUBSAMPLE_ROWS", 2_000)
    rows = _fitted_rows(monkeypatch)
    warm = PropensityModel().fit(X, treated)
    assert 2_000 in rows  # every 10th unit, fitted first
    np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(warm.predict(X), cold.predict(X), rtol=0, atol=1e-10)


def test_a_subsample_with_one_group_only_leaves_the_whole_sample_to_start_from_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every 10th unit a comparison unit: the subsample has no maximum to start from, so the
    whole sample is fitted from zero, to the same answer (nothing raised, nothing warned)."""
    X, treated = _logit_world(20_000, seed=6)
    treated[::10] = 0
    cold = PropensityModel().fit(X, treated)
    monkeypatch.setattr(propensity, "SUBSAMPLE_ROWS", 2_000)
    rows = _fitted_rows(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warm = PropensityModel().fit(X, treated)
    assert 2_000 in rows
    np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=1e-9, atol=1e-12)


def test_predict_finds_columns_by_name(lalonde: pd.DataFrame) -> None:
    X = design_matrices(lalonde, COVARIATES).model
    model = PropensityModel().fit(X, lalonde["treat"])
    np.testing.assert_array_equal(model.predict(X[X.columns[::-1]]), model.predict(X))
    with pytest.raises(ValueError, match="missing: 're75'"):
        model.predict(X.drop(columns="re75"))


def test_predict_needs_a_successful_fit(lalonde: pd.DataFrame) -> None:
    X = design_matrices(lalonde, COVARIATES).model
    with pytest.raises(ValueError, match="call fit first"):
        PropensityModel().predict(X)
    model = PropensityModel().fit(X, lalonde["treat"])
    with pytest.raises(ModelError):
        model.fit(X, (X["age"] > 30).astype(int))  # age alone separates this treatment
    with pytest.raises(ValueError, match="call fit first"):
        model.predict(X)


def test_design_is_named_and_coded_like_matchit(lalonde: pd.DataFrame) -> None:
    design = design_matrices(lalonde, COVARIATES)
    levels = ["raceblack", "racehispan", "racewhite"]  # sorted, as R's factor() orders them
    rest = ["married", "nodegree", "re74", "re75"]
    assert list(design.model.columns) == ["age", "educ", *levels[1:], *rest]  # black dropped
    assert list(design.balance.columns) == ["age", "educ", *levels, *rest]
    assert design.binary == {"raceblack", "racehispan", "racewhite", "married", "nodegree"}
    for level in ("black", "hispan", "white"):
        expected = (lalonde["race"] == level).astype(float)
        pd.testing.assert_series_equal(design.balance[f"race{level}"], expected, check_names=False)
    pd.testing.assert_series_equal(design.model["re74"], lalonde["re74"].astype(float))


def test_design_handles_booleans_categories_and_counts() -> None:
    frame = pd.DataFrame(
        {
            "la_code": pd.Categorical(["LA02", "LA01", "LA03", "LA02", "LA01"]),
            "lone_parent": [True, False, True, False, False],
            "children": [0, 1, 2, 1, 3],
            "has_sw": [0, 1, 1, 0, 0],
            "tenure": ["rent", "own", "rent", "rent", "own"],
        },
        index=[10, 11, 12, 13, 14],
    )
    design = design_matrices(frame, list(frame.columns))
    assert list(design.model.columns) == [
        "la_codeLA02",
        "la_codeLA03",
        "lone_parent",
        "children",
        "has_sw",
        "tenurerent",
    ]
    assert list(design.balance.columns) == [
        "la_codeLA01",
        "la_codeLA02",
        "la_codeLA03",
        "lone_parent",
        "children",
        "has_sw",
        "tenureown",
        "tenurerent",
    ]
    assert design.binary == set(design.balance.columns) - {"children"}
    assert (design.balance.dtypes == "float64").all() and (design.model.dtypes == "float64").all()
    assert list(design.balance.index) == [10, 11, 12, 13, 14]
    assert list(design.balance["la_codeLA02"]) == [1, 0, 0, 1, 0]
    assert list(design.model["lone_parent"]) == [1, 0, 1, 0, 0]


@pytest.mark.parametrize(
    ("change", "covariates", "message"),
    [
        (None, ["age", "wage"], r"covariates not in the data: 'wage'$"),
        ("missing", ["age", "educ"], r"'age' has missing values in 2 rows; drop or impute"),
        ("constant", ["age", "educ"], r"'educ' has the same value \(12\) in every row"),
        ("one level", ["age", "race"], r"'race' has only one level \('black'\)"),
        ("date", ["age", "seen"], r"'seen' has type datetime64"),
        (None, ["age", "age"], r"'age' appears twice"),
    ],
)
def test_design_errors_name_the_column(
    lalonde: pd.DataFrame, change: str | None, covariates: list[str], message: str
) -> None:
    frame = lalonde.copy()
    if change == "missing":
        frame.loc[[3, 7], "age"] = np.nan
    elif change == "constant":
        frame["educ"] = 12
    elif change == "one level":
        frame["race"] = "black"
    elif change == "date":
        frame["seen"] = pd.Timestamp("2020-01-01")
    with pytest.raises(ValueError, match=message):
        design_matrices(frame, covariates)


def _with(lalonde: pd.DataFrame, **columns) -> pd.DataFrame:
    return design_matrices(lalonde, COVARIATES).model.assign(**columns)


@pytest.mark.parametrize(
    ("make", "named"),
    [
        # Complete separation: a copy of treatment.
        (lambda d: d["treat"].to_numpy(), "'flag'"),
        # Quasi-complete: a flag only some treated units have (every flagged unit is treated).
        (lambda d: ((d["treat"] == 1) & (d.index % 7 == 0)).astype(float).to_numpy(), "'flag'"),
        # Quasi-complete on a continuous covariate: the groups meet at one value (17) only.
        (lambda d: np.where(d["treat"] == 1, d["age"], 17 - d.index % 3), "'flag'"),
    ],
    ids=["copy", "flag-only-treated", "ranges-touch"],
)
def test_a_covariate_that_separates_on_its_own_is_named(
    lalonde: pd.DataFrame, make, named: str
) -> None:
    X = _with(lalonde, flag=make(lalonde))
    message = _fit_error(X, lalonde["treat"])
    assert message.startswith(f"treatment is perfectly predicted by {named} (separation)")


def test_a_combination_that_separates_is_named_and_only_it(lalonde: pd.DataFrame) -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal(len(lalonde))
    side = np.where(lalonde["treat"] == 1, 1, -1)
    b = side * (0.5 + rng.random(len(lalonde))) - a  # a + b > 0 exactly for the treated
    treated = lalonde["treat"].to_numpy() == 1
    for alone in (a, b):  # neither separates alone
        assert alone[treated].min() < alone[~treated].max()
        assert alone[~treated].min() < alone[treated].max()
    message = _fit_error(_with(lalonde, a=a, b=b), lalonde["treat"])
    assert "perfectly predicted by 'a' and 'b' together (separation)" in message


def test_a_category_level_only_one_group_has_is_separation(lalonde: pd.DataFrame) -> None:
    """Every black man treated: the reference level, so the other two levels' dummies (both 0
    exactly for black men) are what separate."""
    frame = lalonde.copy()
    frame.loc[(frame["race"] == "black") & (frame["treat"] == 0), "race"] = "white"
    X = design_matrices(frame, COVARIATES).model
    message = _fit_error(X, frame["treat"])
    assert "perfectly predicted by 'racehispan' and 'racewhite' together" in message


@pytest.mark.parametrize(
    ("name", "formula", "depends_on"),
    [
        ("age_again", "age", "'age'"),
        ("age_next_year", "age + 1", "'age'"),  # collinear through the intercept
        ("earnings", "re74 + re75", "'re74' and 're75'"),
    ],
)
def test_collinear_covariates_are_named(
    lalonde: pd.DataFrame, name: str, formula: str, depends_on: str
) -> None:
    X = design_matrices(lalonde, COVARIATES).model
    message = _fit_error(X.assign(**{name: X.eval(formula)}), lalonde["treat"])
    assert message == (
        f"collinear covariates: {name!r} is a linear combination of {depends_on}; drop one of them"
    )


def test_every_level_of_a_category_is_collinear_with_the_intercept(lalonde: pd.DataFrame) -> None:
    X = design_matrices(lalonde, COVARIATES).balance  # keeps raceblack: the levels sum to 1
    message = _fit_error(X, lalonde["treat"])
    assert message.startswith(
        "collinear covariates: 'racewhite' is a linear combination of 'raceblack' and 'racehispan'"
    )


def test_a_constant_covariate_is_refused(lalonde: pd.DataFrame) -> None:
    message = _fit_error(_with(lalonde, one=1.0), lalonde["treat"])
    assert message.startswith("covariate 'one' has the same value in every row")


def test_a_fit_that_does_not_converge_says_so(lalonde: pd.DataFrame) -> None:
    X = design_matrices(lalonde, COVARIATES).model
    message = _fit_error(X, lalonde["treat"], max_iter=1)
    assert message.startswith(
        "the propensity model did not converge within max_iter=1 Newton steps; raise max_iter"
    )


@pytest.mark.parametrize(
    ("treated", "message"),
    [
        ([1, 0, 1], "treated has 3 values for 4 rows"),
        ([1, 0, 2, 0], "0/1 or True/False"),
        ([1.0, 0.0, np.nan, 0.0], "0/1 or True/False"),
        ([0, 0, 0, 0], "both treated and comparison"),
    ],
)
def test_treatment_is_checked(treated: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        as_treatment(treated, 4)


def test_treatment_accepts_booleans_and_numbers() -> None:
    expected = np.array([True, False, True])
    np.testing.assert_array_equal(as_treatment([True, False, True], 3), expected)
    np.testing.assert_array_equal(as_treatment(pd.Series([1.0, 0.0, 1.0]), 3), expected)
