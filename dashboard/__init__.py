"""The dashboard's plumbing: everything `app.py` and the pages in `views/` need from Streamlit
beyond drawing, split by concern.

- `connection`: the store this server reads and its one shared read-only connection.
- `first_run`: the synthetic demo store, built once when there is no data yet.
- `signin`: who is signed in, and which pages their role opens.
- `trail`: the audit trail of who did and saw what.
- `results`: every result a page shows, through the disclosure gate and cached.
- `expected`: the effects an evaluator expects, which the findings' power checks use.
- `selection`: the sidebar's local authority and cohort, kept across pages and in the URL.
- `value_form`: the value-for-money settings (programme cost, persistence, unit costs file).
- `widgets`: charts, tables, and the line shown instead of a traceback.
- `server`: the web server's middleware (closes /_stcore/metrics) and owner-only files.

Pages use only the names below (`import dashboard`, then `dashboard.get_results(...)`), never a
store or a query: tests/test_architecture.py checks that each one returns safe objects or holds
no data.
"""

from dashboard.connection import check_disclosure_rules, db_path
from dashboard.expected import expected_form
from dashboard.first_run import ensure_store
from dashboard.results import (
    describe,
    get_board_pack,
    get_breakdown,
    get_overview,
    get_provenance,
    get_results,
    get_trends,
    get_value_for_money,
    load_extract,
    save_spec,
    saved_specs,
)
from dashboard.selection import (
    page_title,
    selection_in_url,
    selection_sidebar,
)
from dashboard.server import server_middleware
from dashboard.signin import (
    PageSpec,
    SignedIn,
    allowed_pages,
    navigation_pages,
    record_page_view,
    refuse_unlisted_page,
    sign_in,
    user_sidebar,
)
from dashboard.trail import audit_choices, audit_entries, session_suppressions, utc_today
from dashboard.value_form import value_form, value_settings
from dashboard.widgets import INTERNAL_ERROR, chart, table, theme_tabs, themed_charts

__all__ = [
    "INTERNAL_ERROR",
    "PageSpec",
    "SignedIn",
    "allowed_pages",
    "audit_choices",
    "audit_entries",
    "chart",
    "check_disclosure_rules",
    "db_path",
    "describe",
    "ensure_store",
    "expected_form",
    "get_board_pack",
    "get_breakdown",
    "get_overview",
    "get_provenance",
    "get_results",
    "get_trends",
    "get_value_for_money",
    "page_title",
    "load_extract",
    "navigation_pages",
    "record_page_view",
    "refuse_unlisted_page",
    "save_spec",
    "saved_specs",
    "selection_in_url",
    "selection_sidebar",
    "server_middleware",
    "session_suppressions",
    "sign_in",
    "table",
    "theme_tabs",
    "themed_charts",
    "user_sidebar",
    "utc_today",
    "value_form",
    "value_settings",
]
