"""The audit trail as the dashboard writes and reads it: who is signed in, each action once per
session, what the gate withheld from whom, and the Audit log page's entries."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import streamlit as st

from dashboard.connection import db_path
from tf_eval.governance import audit, untrusted
from tf_eval.governance.rules import Suppression
from tf_eval.method import specs

# The title of the page being viewed (set by signin.record_page_view), to say where a
# suppression was shown.
VIEWING = "viewing"


def current_user() -> tuple[str, str]:
    """The signed-in user's name and role, for the audit trail."""
    user = st.session_state.get("signed_in")
    return (user.name, user.role) if user else ("not signed in", "none")


def record(action: str, detail: dict[str, object], who: tuple[str, str] | None = None) -> None:
    """Append one row to the audit trail, as the signed-in user unless `who` is given."""
    audit.append(db_path(), *(who or current_user()), action, [detail])


def record_once(action: str, detail: dict[str, object], who: tuple[str, str] | None = None) -> None:
    """Record an action once per session (not on every rerun that shows the same thing)."""
    key = json.dumps([action, detail, who], sort_keys=True, default=str)
    done = st.session_state.setdefault("recorded", set())
    if key not in done:
        record(action, detail, who)
        done.add(key)


def audited(output: str, path: str, suppressed: tuple[Suppression, ...]) -> None:
    """Every suppression is logged, under the user whose request first computed the output."""
    audit.record_suppressions(Path(path), output, suppressed, *current_user())


@st.cache_resource(show_spinner=False)
def _withheld_from() -> dict[str, dict[tuple[str, str], tuple[Suppression, ...]]]:
    """What the gate withheld from each user's pages, by user, then by (page, output): kept by
    the server, not the session, so that a reload (a new session) still lists it. It holds
    outputs' names, rules and reasons, never a value."""
    return {}


def remember(output: str, suppressed: tuple[Suppression, ...]) -> None:
    """The suppressions of an output shown on the page being viewed, for the Disclosure page."""
    page = st.session_state.get(VIEWING, "")
    _withheld_from().setdefault(current_user()[0], {})[(page, output)] = suppressed


def session_suppressions() -> dict[tuple[str, str], tuple[Suppression, ...]]:
    """The signed-in user's suppressions by (page, output), since the server started."""
    return dict(_withheld_from().get(current_user()[0], {}))


def audit_choices() -> tuple[list[str], list[str]]:
    """The users and actions in the audit trail, for the Audit log page's filters."""
    return audit.users_and_actions(db_path())


def audit_entries(
    users: list[str], actions: list[str], since: date | None, until: date | None
) -> list[dict[str, str]]:
    """The audit trail, newest first, filtered; every value as text. It holds who did what and
    outputs' names and reasons, never a record about a person (tests/test_access.py)."""
    trail = audit.read(db_path(), users, actions, since, until)
    if trail.empty:
        return []
    trail["at"] = trail["at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    trail["detail"] = [_readable(detail) for detail in trail["detail"]]
    return trail.iloc[::-1].astype(str).to_dict("records")


def _readable(detail: str | None) -> str:
    """An audit detail as 'key: value; ...' (a missing filter is 'all', an analysis in words);
    a file name or value from outside keeps no control character (the page's table also
    neutralises formulas)."""
    fields = json.loads(detail or "{}")
    text = "; ".join(
        f"{'analysis' if key == 'spec' else key}: {'all' if value is None else _words(value)}"
        for key, value in fields.items()
    )
    return untrusted.plain(text)


# How the audit log records an output's analysis: its spec's repr, exact, at the end of a value
# ("estimate AnalysisSpec(outcomes=(...), ...)").
_SPEC = re.compile(r"AnalysisSpec\(.*\)\Z", re.DOTALL)


def _words(value: object) -> object:
    """A value with the analysis it names (if any) described in words (specs.describe)."""
    found = _SPEC.search(value) if isinstance(value, str) else None
    spec = specs.from_repr(found.group()) if found else None
    if found is None or spec is None:
        return value
    before = value[: found.start()].strip()
    return f"{before} ({specs.describe(spec)})" if before else specs.describe(spec)


def utc_today() -> date:
    """Today in UTC, the audit trail's clock."""
    return datetime.now(UTC).date()
