"""Audit log: for administrators, who did what and when - sign-ins, pages viewed with their
filters, estimates, loads, suppressions. It names outputs and reasons, never a family or person."""

from datetime import timedelta

import streamlit as st

import dashboard

st.title("Audit log")
st.write(
    "Every sign-in (and failed attempt), sign-out, page viewed with its filters, estimate run, "
    "load and suppression, appended as it happens; nothing in it can be changed from here. "
    "Times are UTC."
)

users, actions = dashboard.audit_choices()
if not actions:
    st.info("Nothing has been recorded yet.", icon=":material/inbox:")
    st.stop()

left, middle, right = st.columns([2, 2, 2])
chosen_users = left.multiselect("User", users, placeholder="All users")
chosen_actions = middle.multiselect("Action", actions, placeholder="All actions")
today = dashboard.utc_today()
days = right.date_input(
    "Dates (UTC)", value=(today - timedelta(days=30), today), max_value=today, format="YYYY-MM-DD"
)
since, until = (days[0], days[-1]) if days else (None, None)  # a range being picked: one date

rows = dashboard.audit_entries(chosen_users, chosen_actions, since, until)
st.caption(f"{len(rows):,} entries, newest first.")
if rows:
    dashboard.table(
        rows,
        hide_index=True,
        width="stretch",
        height=35 * (min(len(rows), 20) + 1) + 3,  # up to 20 rows without scrolling
        column_config={
            "at": "when (UTC)",
            "user": "user",
            "role": "role",
            "action": "action",
            "detail": st.column_config.TextColumn("what", width="large"),
        },
    )
else:
    st.info("No entries match these filters.", icon=":material/filter_alt_off:")
