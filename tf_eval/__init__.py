"""tf-eval: evaluate family-support programmes on pseudonymised, linked records.

A plain Python library (no Streamlit import): the store, the synthetic demo, the evaluation engine
and the disclosure gate live here; the dashboard pages and the CLI are thin views over it.
"""

__version__ = "0.1.0"
