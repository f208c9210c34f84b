"""The store this server reads: its path, one shared read-only connection per version of the
file, and the disclosure rules checked before anything is shown. Pages never reach the store
through it: they take gated results from `dashboard.results`."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import streamlit as st

from tf_eval import config
from tf_eval.data import store
from tf_eval.governance import rules, untrusted


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


_opened: dict[str, tuple[tuple[int, int], store.Store]] = {}  # path -> (file version, connection)
_opened_lock = threading.RLock()


def _version(path: str) -> tuple[int, int] | None:
    """Which file is at `path` now (inode, mtime), or None when there is none."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns


@st.cache_resource(show_spinner=False)
def open_store(path: str, modified: int) -> store.Store:
    """One shared read-only connection per store file version. When the file has been replaced
    (a load, a purge, a demo rebuild) the old connection is closed first: while it is open, DuckDB
    would hand a new connection to the same path the old database."""
    with build_lock(), _opened_lock:
        close_replaced_stores()
        replaced = _opened.pop(path, None)
        if replaced is not None:
            replaced[1].close()
        opened = store.Store(Path(path))
        _opened[path] = (_version(path) or (0, modified), opened)
    _watch_store_files()
    return opened


def close_replaced_stores() -> None:
    """Close every connection whose file has been replaced or deleted since it was opened: a
    purged store's old file (which still holds the purged records) is then released by this
    server at once, not at the next page view. A session that still holds one of them opens
    the new file at its next run (get_store)."""
    with _opened_lock:
        for path, (version, opened) in list(_opened.items()):
            if _version(path) != version and not opened.busy:  # a busy one: at the next look
                del _opened[path]
                opened.close()


@st.cache_resource(show_spinner=False)
def _watch_store_files() -> threading.Thread:
    """One thread per server that checks every config.STORE_WATCH_SECONDS whether a store this
    server has open was replaced (by `purge`, `ingest` or `demo` in another process)."""

    def watch() -> None:
        while True:
            time.sleep(config.STORE_WATCH_SECONDS)
            try:
                close_replaced_stores()
            except Exception:  # never let the watcher die: log, and look again
                logging.getLogger("tf_eval").exception("checking the store files failed")

    watcher = threading.Thread(target=watch, name="tf-eval store watcher", daemon=True)
    watcher.start()
    return watcher


def get_store() -> store.Store:
    """The current store, or a clear message and a stopped page if it cannot be opened. A
    connection closed because its file was replaced is dropped from the cache and the new file
    opened."""
    path = db_path()
    try:
        current = open_store(str(path), path.stat().st_mtime_ns)
        if current.closed:
            open_store.clear()
            current = open_store(str(path), path.stat().st_mtime_ns)
        return current
    except (store.StoreError, FileNotFoundError) as exc:
        st.error(untrusted.markdown(exc))
        st.stop()
