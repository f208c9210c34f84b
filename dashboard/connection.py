"""The store this server reads: its path, one shared read-only connection per version of the
file, and the disclosure rules checked before anything is shown. Pages never reach the store
through it: they take gated results from `dashboard.results`."""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

from tf_eval.data import store
from tf_eval.governance import rules


def db_path() -> Path:
    return store.resolve_db_path()


@st.cache_resource(show_spinner=False)
def build_lock() -> threading.Lock:
    """One lock for every session, so two first visitors do not both build the demo."""
    return threading.Lock()


def check_disclosure_rules() -> None:
    """A bad disclosure config stops the dashboard before it shows anything."""
    try:
        rules.current_rules()
    except rules.DisclosureConfigError as exc:
        st.error(f"Disclosure settings cannot be used: {exc}", icon=":material/gpp_bad:")
        st.stop()


_opened: dict[str, store.Store] = {}  # the newest connection per path, to close when replaced


@st.cache_resource(show_spinner=False)
def open_store(path: str, modified: int) -> store.Store:
    """One shared read-only connection per store file version. When the file has been replaced
    (a load, a demo rebuild) the old connection is closed first: while it is open, DuckDB would
    hand a new connection to the same path the old database."""
    with build_lock():
        replaced = _opened.pop(path, None)
        if replaced is not None:
            replaced.close()
        _opened[path] = store.Store(Path(path))
        return _opened[path]


def get_store() -> store.Store:
    """The current store, or a clear message and a stopped page if it cannot be opened."""
    path = db_path()
    try:
        return open_store(str(path), path.stat().st_mtime_ns)
    except (store.StoreError, FileNotFoundError) as exc:
        st.error(str(exc))
        st.stop()
