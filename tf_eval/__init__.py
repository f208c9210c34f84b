"""tf-eval: evaluate family-support programmes on pseudonymised, linked records.

A plain Python library (no Streamlit import), in stages that import only downward:

    governance  who may do what, the disclosure rules in force, the audit trail
    data        agency extracts -> the pseudonymised DuckDB store (and the synthetic demo)
    method      the outcome panel, propensity matching, balance and the effects
    release     the disclosure gate, and the summaries, charts and board packs built from it

The dashboard (`dashboard/`, `views/`) and the command line (`python -m tf_eval`) are thin views
over it. The names below are its public API:

    from pathlib import Path
    import tf_eval

    tf_eval.build_demo_store(Path("demo.duckdb"))  # or load extracts: tf_eval.ingest_file
    store = tf_eval.Store(Path("demo.duckdb"))
    evaluation = tf_eval.evaluate(store, tf_eval.AnalysisSpec(la="LA03"))
    results = tf_eval.safe_evaluation(evaluation)  # through the disclosure gate
    print(tf_eval.to_json(results)["estimates"])

`evaluate` and `match_file` return the engine's raw results (exact counts, every family's matching
weight): keep them where the records are. Only what `safe_evaluation` and `safe_file_match` return
may be shown or exported; a selection under the differencing floor raises `SelectionRefused`.
The library keeps no record of what it computed: the release register, which refuses an output
resting on nearly the same families as one shown before (docs/disclosure-control.md), is applied
where outputs are released to people, by the command line and the dashboard
(`tf_eval.release.register.release`); an application built on the library that shows results to
people should do the same.

Linear algebra (numpy's and scipy's OpenBLAS) runs on config.BLAS_THREADS threads, set here once
both are loaded. With a thread per core, OpenBLAS collapses as soon as anything else wants a core
(DuckDB, another dashboard user): on this 2-core machine, with a second job running, the 100,000-
family evaluation took 21 s with two BLAS threads and 2.3 s with one. Its large products are
memory-bound anyway, so a second thread gains little on a quiet machine (docs/performance.md).
"""

import numpy  # noqa: F401 - loaded before the limit, which applies to libraries already loaded
import scipy.linalg  # noqa: F401 - scipy ships an OpenBLAS of its own
from threadpoolctl import threadpool_limits

from tf_eval import config

threadpool_limits(limits=config.BLAS_THREADS, user_api="blas")

from tf_eval.data.ingest import ingest_file  # noqa: E402 - after the BLAS limit
from tf_eval.data.store import Store, StoreError  # noqa: E402
from tf_eval.data.synth import build_demo_store  # noqa: E402
from tf_eval.governance.rules import SelectionRefused  # noqa: E402
from tf_eval.method.estimate import AnalysisSpec, EvaluationError, evaluate  # noqa: E402
from tf_eval.method.matchfile import match_file  # noqa: E402
from tf_eval.release.results import (  # noqa: E402
    SafeResults,
    safe_evaluation,
    safe_file_match,
    to_json,
)

__version__ = config.VERSION

__all__ = [
    "AnalysisSpec",
    "EvaluationError",
    "SafeResults",
    "SelectionRefused",
    "Store",
    "StoreError",
    "build_demo_store",
    "evaluate",
    "ingest_file",
    "match_file",
    "safe_evaluation",
    "safe_file_match",
    "to_json",
]
