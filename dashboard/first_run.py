"""The first run: with no data of the user's own, build the synthetic demo store once, with a
progress bar, while every other visitor waits for it."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from dashboard.connection import build_lock
from dashboard.trail import record
from tf_eval import config
from tf_eval.data import store, synth


def ensure_store(path: Path) -> None:
    """On first run with no data of the user's own, build the synthetic demo store with a progress
    bar. A missing store at a path the user chose is an error, not a reason to invent one."""
    if path.exists():
        return
    if os.environ.get(config.DB_ENV_VAR):
        st.error(
            f"No store at {path} (set by {config.DB_ENV_VAR}). Build one with "
            f"`python -m tf_eval demo --db {path}`, or unset {config.DB_ENV_VAR} to use the demo."
        )
        st.stop()
    with build_lock():
        if path.exists():  # another session built it while this one waited
            return
        notice = st.empty()
        with notice.container():
            st.info(
                "No data store yet: building a **synthetic** demo store "
                f"({config.DEMO_FAMILIES:,} made-up families) so you can explore tf-eval. "
                "This happens once."
            )
            bar = st.progress(0.0, text="Starting")
            try:
                synth.build_demo_store(
                    path,
                    families=config.DEMO_FAMILIES,
                    seed=config.DEMO_SEED,
                    progress=lambda fraction, message: bar.progress(fraction, text=message),
                )
            except store.StoreError as exc:  # e.g. TF_EVAL_DB_KEY set, no secure encryption
                notice.empty()
                st.error(f"The demo store cannot be built: {exc}")
                st.stop()
        built = {"families": config.DEMO_FAMILIES, "seed": config.DEMO_SEED}
        record("demo built", built)
        notice.empty()
        st.toast(f"Synthetic demo store ready: {path}", icon=":material/science:")
