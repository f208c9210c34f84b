"""tf-eval: evaluate family-support programmes on pseudonymised, linked records.

A plain Python library (no Streamlit import): the store, the synthetic demo, the evaluation engine
and the disclosure gate live here; the dashboard pages and the CLI are thin views over it.

Linear algebra (numpy's and scipy's OpenBLAS) runs on config.BLAS_THREADS threads, set here once
both are loaded. With a thread per core, OpenBLAS collapses as soon as anything else wants a core
(DuckDB, another dashboard user): on this 2-core machine, with a second job running, the 100,000-
family evaluation took 21 s with two BLAS threads and 2.3 s with one. Its large products are
memory-bound anyway, so a second thread gains little on a quiet machine (benchmarks/README).
"""

import numpy  # noqa: F401 - loaded before the limit, which applies to libraries already loaded
import scipy.linalg  # noqa: F401 - scipy ships an OpenBLAS of its own
from threadpoolctl import threadpool_limits

from tf_eval import config

threadpool_limits(limits=config.BLAS_THREADS, user_api="blas")

__version__ = "0.1.0"
