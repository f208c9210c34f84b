"""Data & linkage: what the records cover, where they came from and when, how they link, and how
long they may be kept."""

import streamlit as st

import dashboard
from tf_eval import config
from tf_eval.release import charts

# Each source in words, for the months it covers.
SOURCE_WORDS = {
    **charts.SOURCE_LABELS,
    "attendance": "School attendance",
    "benefit_spells": "Out-of-work benefit spells",
    "programme": "Support (attachments and their ends)",
    "families": "Families identified",
}

summary = dashboard.get_overview(("coverage",))
found = dashboard.get_provenance()
source = charts.whole_store_source(charts.data_source(summary.description))
demo = summary.description.get("kind") == "demo"

st.title("Data & linkage")
if demo:
    st.warning(
        "**Synthetic data.** This store was generated, not loaded: its records are made up and "
        "were created already linked, so every record belongs to a known person.",
        icon=":material/science:",
    )

st.subheader("What the records cover")
if summary.coverage.frame.empty:  # e.g. only families and people loaded so far
    st.info("No outcome records are loaded yet.", icon=":material/inbox:")
else:
    dashboard.chart(charts.coverage_chart(summary.coverage, source), "record-coverage")
if summary.months_covered:
    st.markdown(
        "**Months covered**: from the first month with records to the last, where a year around "
        f"them holds records of at least {config.COUNT_THRESHOLD} people (or families), so that "
        "a stray record neither starts nor stretches them:\n\n"
        + "\n".join(
            f"- {SOURCE_WORDS.get(name, name)}: {months}"
            for name, months in summary.months_covered.items()
        )
    )
if summary.study_months:
    st.markdown(
        f"**Study calendar: {summary.study_months['from']} to {summary.study_months['to']}**, "
        "the months every outcome's records cover. A family whose windows (24 months before "
        "its index date to the end of its follow-up) reach outside it is left out, and a benefit "
        "claim with no end runs to its last day."
    )

st.subheader("Loads and freshness")
loads = found.loads.labels()
if loads.empty:
    st.info("Nothing has been loaded yet.", icon=":material/inbox:")
else:
    dashboard.table(
        loads,
        hide_index=True,
        width="stretch",
        column_config={
            "load_id": "load",
            "file_name": "file",
            "loaded_at": "loaded (UTC)",
            "loaded_by": "by",
            "rows": "rows",
        },
    )
    st.caption(
        f"Newest load: {loads['loaded_at'].max()}. Every stored record carries the load it "
        f"came from. {found.loads.note()}"
    )

st.subheader("Linkage")
st.write(
    "Records from each source are linked to families and people by pseudonym as they are "
    "loaded. A load whose references do not resolve is refused whole, unless the data steward "
    "allowed a small unlinked share (TF_EVAL_MAX_UNLINKED_SHARE): then the unlinked records are "
    "dropped and counted here." + (" Synthetic data are generated already linked." if demo else "")
)
linkage = found.linkage.labels()
if linkage.empty:
    st.info("No extract has been loaded yet.", icon=":material/inbox:")
else:
    dashboard.table(
        linkage,
        hide_index=True,
        width="stretch",
        column_config={
            "offered": "records offered",
            "linked": "records linked",
            "share_linked": st.column_config.NumberColumn("share linked", format="percent"),
        },
    )
    st.caption(found.linkage.note())

st.subheader("Retention")
plan = found.retention
st.write(
    f"The privacy notice promises that the data are destroyed after {plan.years} years. A "
    f"family's records expire {plan.years} years after the later of its index month (the first "
    "day of the month after it was identified) and the newest load that brought a record about "
    "it; the data steward's purge "
    "(`python -m tf_eval purge`, best run on the first of every month) then destroys all of "
    "them together: the family, its people, its programme row and every record of its people."
    + (" A demo store's records were all loaded when it was built." if demo else "")
)


def families(count: int | str) -> str:
    """A protected count in words (a suppressed one is 'a few')."""
    threshold = plan.due_now.rules.count_threshold
    return f"{count:,}" if isinstance(count, int) else f"a few (under {threshold})"


due = plan.due_now.shown("families")[0]
upcoming = plan.next_expiry.labels()
if due != 0:
    st.error(
        f"**A purge is due now**: the retention period of {families(due)} families ended by "
        f"{plan.as_of:%d %B %Y}. Run `python -m tf_eval purge` to destroy their records.",
        icon=":material/delete_forever:",
    )
elif upcoming.empty:
    st.info("No family's records are stored.", icon=":material/inbox:")
else:
    st.success(
        "Nothing is past its retention period. The next records expire in "
        f"{upcoming['month'].iloc[0]} ({families(plan.next_expiry.shown('families')[0])} "
        "families): the purge on the first of the following month removes them.",
        icon=":material/event_available:",
    )
dashboard.chart(charts.retention_chart(plan.by_year, source), "retention")
st.caption(f"Counted as of {plan.as_of:%d %B %Y} (UTC). {plan.due_now.note()}")
