"""ACRO's verdicts for tests/test_disclosure_acro.py, run in ACRO's own environment (.venv-acro).

ACRO needs pandas 2.3.3 or older, and the dashboard's environment must not be changed by the
tests, so ACRO lives in an environment of its own and this worker is its only user. It reads one
JSON request per line on stdin ({"people": {column: values}, "value": name or null, "aggfunc":
name or null}), asks ACRO for the unmitigated crosstab of la x cohort, and writes one JSON line
per request: the table and ACRO's per-cell outcome (each as index, columns, data) and the cell
positions ACRO's record names. Nothing else reaches stdout: ACRO's own printing goes to stderr.
"""

import json
import logging
import os
import sys
import tempfile
import warnings

import pandas as pd


def _split(frame: pd.DataFrame) -> dict:
    data = frame.astype(object).where(frame.notna(), None).to_numpy().tolist()
    return {"index": list(frame.index), "columns": list(frame.columns), "data": data}


def main() -> None:
    answers = sys.stdout
    sys.stdout = sys.stderr  # ACRO prints; the protocol is ours alone
    warnings.simplefilter("ignore")
    logging.getLogger("acro").setLevel(logging.WARNING)
    os.chdir(tempfile.mkdtemp(prefix="tf-eval-acro-"))  # ACRO writes nothing unless finalised
    import acro

    session = acro.ACRO(suppress=False)
    for line in sys.stdin:
        request = json.loads(line)
        people = pd.DataFrame(request["people"])
        values = None if request["value"] is None else people[request["value"]]
        table = session.crosstab(
            people["la"], people["cohort"], values=values, aggfunc=request["aggfunc"]
        )
        record = session.results.get_index(-1)
        cells = sorted(
            {
                tuple(int(i) for i in cell)
                for found in record.sdc["cells"].values()
                for cell in found
            }
        )
        answer = {"table": _split(table), "outcome": _split(record.outcome), "cells": cells}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
