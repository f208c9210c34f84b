"""Disclosure: the rules in force and what was suppressed from the pages this user viewed (kept
across reloads), on which page, and why. Every figure in tf-eval has passed these rules; every
suppression is also in the audit log."""

import streamlit as st

import dashboard
from tf_eval.governance.rules import RULE_DESCRIPTIONS, current_rules
from tf_eval.release.headlines import suppressed_item_words

st.title("Disclosure control")
st.write(
    "Nobody may be identifiable from anything tf-eval shows. Every count, rate, estimate and "
    "chart passes these rules before it reaches the screen, a file or the command line; what "
    "they withhold is listed below and written to the audit log."
)

rules = current_rules().as_dict()
st.subheader("Rules in force")
dashboard.table(
    [
        {"setting": name, "value": str(value), "meaning": RULE_DESCRIPTIONS[name]}
        for name, value in rules.items()
    ],
    hide_index=True,
    width="stretch",
    height=36 * (len(rules) + 1) + 3,  # every rule visible without scrolling
)
st.caption(
    "Set in disclosure.toml (or the file named by TF_EVAL_DISCLOSURE_CONFIG); "
    "an invalid value stops tf-eval at start-up."
)

st.subheader("Suppressed from what you have viewed")
suppressed = dashboard.session_suppressions()
rows = [
    {
        "page": page,
        "output": output,
        "value": suppressed_item_words(s.item),
        "rule": s.rule,
        "why": s.reason,
    }
    for (page, output), items in suppressed.items()
    for s in items
]
if not rows:
    st.info(
        "Nothing shown to you so far needed suppressing. Visit other pages, or choose a "
        "narrower selection, and anything withheld will be listed here with the page it was "
        "withheld from.",
        icon=":material/verified_user:",
    )
else:
    st.metric("Values suppressed", len(rows))
    dashboard.table(rows, hide_index=True, width="stretch")
    st.caption(
        "Kept by this server until it restarts, so a reload does not clear it; every "
        "suppression is also in the audit log for good."
    )
