"""The event study's Monte Carlo summary (studies/event_study.py) on hand-made rows: it counts
only what the disclosure gate shows, as the Monte Carlo study does. The study itself (60 seeds,
about 11 minutes) is run by hand and its figures are in docs/method.md."""

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

STUDY = Path(__file__).resolve().parent.parent / "studies" / "event_study.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("event_study_study", STUDY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _rows(seed: int, covered: list[bool], shown: list[bool], p: float, test_shown: bool) -> list:
    return [
        {
            "seed": seed,
            "spec": "default",
            "outcome": "offending",
            "month": month,
            "estimate": 0.1 if ok else 1.0,
            "se": 0.1,
            "covered": ok,
            "pretrend_p": p,
            "shown": seen,
            "pretrend_shown": test_shown,
        }
        for month, ok, seen in zip((-24, -21, -6, 0), covered, shown, strict=True)
    ]


def test_withheld_quarters_and_tests_are_not_counted(study) -> None:
    results = pd.DataFrame(
        _rows(1, [True, True, True, True], [True, True, True, True], 0.50, True)
        # seed 2: a quarter before the index date missed 0 but was withheld, so its test was too
        + _rows(2, [False, True, True, True], [False, True, True, True], 0.01, False)
        + _rows(3, [True, False, True, True], [True, True, True, True], 0.03, True)
    )
    row = study.summarise(results).loc[("default", "offending")]
    # Shown quarters before the reference (-3): seed 1's three, seed 2's two, seed 3's three.
    assert row["quarters_shown"] == pytest.approx(8 / 9)
    assert row["pre_coverage"] == pytest.approx(7 / 8)  # seed 3's -21 missed; seed 2's -24 unseen
    assert row["worst_quarter"] == pytest.approx(2 / 3)  # -21: covered in seeds 1 and 2, not 3
    assert row["tests_shown"] == pytest.approx(2 / 3)
    assert row["rejects"] == pytest.approx(1 / 2)  # seed 3's 0.03 of seeds 1 and 3; not seed 2's
    assert row["seeds"] == 2
