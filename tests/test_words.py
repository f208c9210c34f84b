"""People's words, not the code's names (issue 17 item 11): covariates on the Love plot, the
balance table and the board pack; a variance ratio that does not apply; analyses in the audit
log."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.test_cli import run
from tf_eval.method import specs
from tf_eval.method.covariates import WORDS, covariate_words
from tf_eval.method.estimate import DEFAULT_COVARIATES, EXACT_KEYS, AnalysisSpec
from tf_eval.method.propensity import design_matrices

# What the code calls things: a design column (covariate + level), a snake_case name, the repr
# of a spec, or a missing value printed by Python or pandas.
RAW = re.compile(r"^(la_code|cohort|index_quarter)\w+$|_|^distance$|^(None|nan|NaN|<NA>)$")


def test_every_covariate_and_design_column_has_words() -> None:
    assert set(DEFAULT_COVARIATES) | set(EXACT_KEYS) <= set(WORDS)
    frame = pd.DataFrame(
        {
            "la_code": ["LA01", "LA02", "LA01"],
            "cohort": ["2014", "2015", "2016"],
            "index_quarter": ["2016Q1", "2016Q3", "2017Q2"],
            "n_adults": [1, 2, 3],
            "has_pupil": [0, 1, 1],
        }
    )
    columns = ["distance", *design_matrices(frame, list(frame.columns)).balance.columns]
    words = [covariate_words(c) for c in columns]
    assert not [w for w in words if RAW.search(w)], words
    assert len(set(words)) == len(words)  # no two columns read alike
    assert {"Propensity score", "Local authority LA02", "Cohort 2014"} <= set(words)
    assert "Quarter identified 2016 Q3" in words


@pytest.mark.parametrize(
    "spec",
    [
        AnalysisSpec(),
        AnalysisSpec(la="LA03", cohort=2016, caliper=0.2, ratio=3, replace=False),
        AnalysisSpec(covariates=("la_code", "pre_ae_use"), outcomes=("offending",), exact=()),
    ],
)
def test_a_spec_recorded_in_the_audit_log_is_read_back_and_described_in_words(
    spec: AnalysisSpec,
) -> None:
    assert specs.from_repr(str(spec)) == spec
    described = specs.describe(spec)
    assert "AnalysisSpec" not in described and not re.search(r"\w_\w", described), described
    assert specs.from_repr("AnalysisSpec(la=__import__('os').getcwd())") is None  # never run
    assert specs.from_repr("estimates") is None


def test_the_love_plot_and_the_balance_table_name_covariates_in_words(open_view) -> None:
    page = open_view("views/matching.py")
    assert not page.exception
    love = json.loads(page.get("plotly_chart")[0].proto.spec)
    labels = [label for trace in love["data"] for label in trace["y"]]
    assert labels and not [label for label in labels if RAW.search(label)], set(labels)
    assert {"Propensity score", "Local authority LA01", "Cohort 2014"} <= set(labels)
    table = next(d.value for d in page.dataframe if "covariate" in d.value.columns)
    assert set(table["covariate"]) == set(labels)
    cells = [str(v) for column in table.columns for v in table[column]]
    assert not [c for c in cells if RAW.search(c)]  # no "None", no la_codeLA01
    binary = table.set_index("covariate").loc["Has a child at school"]
    assert binary["variance ratio after"] == binary["variance ratio before"] == "\u2014"
    float(table.set_index("covariate").loc["Adults in the family", "variance ratio after"])
    chosen = page.multiselect[0]
    assert chosen.format_func("pre_ae_use") == "A&E use, year before"


def test_the_audit_log_describes_analyses_in_words(open_view) -> None:
    page = open_view("views/audit.py")  # the Overview ran first and estimated the default
    assert not page.exception
    entries = page.dataframe[0].value
    what = list(entries["detail"])
    assert not [w for w in what if "AnalysisSpec(" in w]
    estimates = [w for w in what if w.startswith("output: estimates;")]
    assert estimates and all("analysis: 1:1 with replacement" in w for w in estimates)


def test_the_board_pack_names_covariates_in_words(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "board"
    result = run("report", "--db", str(demo_db), "--out", str(out))
    assert result.returncode == 0, result.stderr
    balance = pd.read_csv(out / "tables/balance.csv")
    assert not [c for c in balance["covariate"] if RAW.search(c)], list(balance["covariate"])
    assert balance["covariate"].iloc[0] == "Propensity score"
    (chart,) = out.glob("charts/*-balance.svg")
    svg = chart.read_text()
    assert "Local authority LA01" in svg and "la_codeLA01" not in svg
    # The PDF too: its method paragraph and provenance page said "exactly on la_code, cohort"
    # and listed the analysis by its settings' names (pre_attendance, pre_level_adjustment).
    from pypdf import PdfReader

    text = "\n".join(page.extract_text() for page in PdfReader(out / "board-pack.pdf").pages)
    names = [n for n in (*WORDS, "pre_level_adjustment", "follow_up_months") if "_" in n]
    assert not [name for name in names if name in text], [n for n in names if n in text]
