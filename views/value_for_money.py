"""Value for money: what this selection's measured effects are worth per supported family, to the
public purse and to society, against what support costs, with intervals carried from the
estimates and the settings that move the answer most."""

import streamlit as st

import dashboard
from tf_eval.governance.untrusted import markdown
from tf_eval.method.estimate import AnalysisSpec
from tf_eval.method.unit_costs import default_costs_text
from tf_eval.release import charts, value_charts
from tf_eval.release.value import (
    assumptions,
    cost_rows,
    headline,
    outcome_rows,
    pounds,
)

summary = dashboard.get_overview()
la, cohort = dashboard.selection_sidebar(summary)
source = charts.selection_source(charts.data_source(summary.description), la, cohort)

dashboard.page_title("Value for money", la, cohort)
st.caption(
    "Each outcome's effect per supported family, in units a year, times what one unit costs the "
    "public purse (fiscal) and society (economic), over the years the effect lasts, discounted, "
    "against what support costs per family. Only estimates the disclosure rules show enter, and "
    "every figure carries the uncertainty of the estimates behind it."
)
settings = dashboard.value_form()
st.download_button(
    "Download the default unit costs, to put in your own and upload above",
    default_costs_text(),
    file_name="unit_costs.toml",
    mime="application/toml",
    icon=":material/download:",
    on_click="ignore",
)
if settings is None:
    st.info(
        "Set the programme's cost per supported family above to see the value for money: no "
        "default pretends to know it.",
        icon=":material/payments:",
    )
    st.stop()

spec = AnalysisSpec(la=la, cohort=cohort)
vfm = dashboard.get_value_for_money(spec, settings)
if vfm is None:
    st.stop()

if settings.illustrative:
    st.warning(
        "These figures use the illustrative default unit costs: check each one (below) before "
        "use, or upload your council's own.",
        icon=":material/warning:",
    )
st.markdown(f"**{headline(vfm)}**")
if not vfm.valued:
    dashboard.table(outcome_rows(vfm), hide_index=True)
    st.stop()
ratio, per_family = vfm.figures.ratio, vfm.figures.per_family
fiscal, economic, even = st.columns(3)
for column, measure, words in ((fiscal, "fiscal", "Fiscal"), (economic, "economic", "Economic")):
    interval = ratio[measure]
    column.metric(
        f"{words} return per £1",
        pounds(interval.estimate, pence=True),
        help=f"95% interval {pounds(interval.low, True)} to {pounds(interval.high, True)}",
    )
even.metric(
    "Break-even cost (fiscal)",
    pounds(per_family["fiscal"].estimate),
    help="The most support could cost per supported family and still pay for itself to the "
    f"public purse (to society: {pounds(per_family['economic'].estimate)}).",
)

st.subheader("What each outcome is worth")
dashboard.chart(value_charts.benefits_chart(vfm, source), "value-by-outcome")
dashboard.table(outcome_rows(vfm), hide_index=True)

st.subheader("What moves the answer")
st.caption(
    "Each bar moves one setting either way, the rest as chosen: the longest bars are the "
    "assumptions the answer hangs on."
)
dashboard.chart(value_charts.sensitivity_chart(vfm, source), "value-sensitivity")

st.subheader("What the figures assume")
st.markdown("\n".join(f"- {markdown(line)}" for line in assumptions(vfm)))
with st.expander(f"Unit costs: {markdown(settings.costs.title)}"):
    dashboard.table(cost_rows(vfm), hide_index=True)
    st.caption(
        "Each outcome is costed in the unit named, and its agency bears the fiscal cost; an "
        "outcome the file gives no cost is left out."
    )
