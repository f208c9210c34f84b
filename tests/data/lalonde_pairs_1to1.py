"""Writes lalonde_pairs_1to1.csv: tf-eval's 1:1 nearest-neighbour matches without replacement on
lalonde (match-file's defaults; the rule is MatchIt 4.7.2's, tests/test_matching.py), the pairs
rosenbaum_lalonde.R reads. Run from the repository:

    PYTHONPATH=. .venv/bin/python tests/data/lalonde_pairs_1to1.py
"""

from pathlib import Path

import pandas as pd

from tf_eval.method.matchfile import match_file

HERE = Path(__file__).parent
COVARIATES = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]

match = match_file(HERE / "lalonde.csv", "treat", COVARIATES, ["re78"])
ids = pd.read_csv(HERE / "lalonde.csv")["id"].to_numpy()
pairs = match.matching.pairs
assert pairs is not None
pd.DataFrame({"treated": ids[pairs[:, 0]], "control": ids[pairs[:, 1]]}).to_csv(
    HERE / "lalonde_pairs_1to1.csv", index=False
)
