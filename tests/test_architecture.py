"""Architecture: the library's stages import only downward, and nothing reaches a screen, chart
or export except through the disclosure gate.

These tests read the code itself. They fail when a module of a lower stage imports a higher one
(config < governance < data < method < release < the public API and command line), when the
library imports Streamlit or the dashboard, and when a page, chart or export module opens the
store, queries data, builds its own tables, or takes anything but the gate's safe objects.
"""

import ast
import dataclasses
import inspect
import pkgutil
import types
import typing
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

import dashboard
from tf_eval import config
from tf_eval.method.estimate import AnalysisSpec
from tf_eval.release import (
    charts,
    pack_contents,
    pack_pdf,
    report,
    results,
    time_charts,
    value,
    value_charts,
)
from tf_eval.release.disclosure import Safe, SafeTable

ROOT = config.PROJECT_ROOT
# Modules that show or export output: they may use only safe objects.
VIEW_FILES = [
    ROOT / "app.py",
    *sorted((ROOT / "views").glob("*.py")),
    ROOT / "tf_eval/release/charts.py",
    ROOT / "tf_eval/release/time_charts.py",
    ROOT / "tf_eval/release/value_charts.py",
]
# Ways to reach data without the gate.
FORBIDDEN_IMPORTS = {"duckdb", "pandas", "numpy", "tf_eval.data.store", "tf_eval.method.panel"}
FORBIDDEN_NAMES = {"store", "Store", "get_store", "query", "sql", "execute", "read_csv"}


def _imports(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


# --- the library's stages ------------------------------------------------------------------------

# Lowest first. A module may import from its own stage or a lower one; `tf_eval` itself (the public
# API), `tf_eval.cli` (with its arguments, `tf_eval.cli_parser`) and `tf_eval.__main__` stand above
# every stage.
STAGES = ("config", "governance", "data", "method", "release")
TOP = len(STAGES)
LIBRARY = sorted((ROOT / "tf_eval").rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> int | None:
    """The stage of a tf_eval module (None for anything outside the library)."""
    parts = module.split(".")
    if parts[0] != "tf_eval":
        return None
    return STAGES.index(parts[1]) if len(parts) > 1 and parts[1] in STAGES else TOP


def _library_imports(tree: ast.AST, module: str, is_package: bool = False) -> set[str]:
    """The tf_eval modules a module imports (a relative import resolved against its package);
    `from tf_eval import x` is the module tf_eval.x, or the public API when x is not a module."""
    found = set()
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base == "tf_eval":
                found |= {f"tf_eval.{alias.name}" for alias in node.names}
            else:
                found.add(base)
    return {name for name in found if _stage(name) is not None}


def _upward_imports(source: str, module: str, is_package: bool = False) -> set[str]:
    own = _stage(module)
    imported = _library_imports(ast.parse(source), module, is_package)
    return {name for name in imported if _stage(name) > own}  # type: ignore[operator]


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_library_module_imports_only_its_own_stage_or_lower(path: Path) -> None:
    assert not _upward_imports(path.read_text(), _module_name(path), path.name == "__init__.py")


def test_the_stage_check_catches_an_upward_import() -> None:
    """The check above is itself checked: each of these would break the order."""
    upward = {
        "tf_eval.data.retention": "from tf_eval.release.disclosure import count_table",
        "tf_eval.governance.audit": "from tf_eval.release import disclosure",
        "tf_eval.method.estimate": "import tf_eval.release.results",
        "tf_eval.data.ingest": "from tf_eval import evaluate",  # the public API is on top
        "tf_eval.method.panel": "from ..release.trends import monthly_trends",
        "tf_eval.release.report": "from tf_eval import cli",
    }
    for module, line in upward.items():
        assert _upward_imports(line, module), (module, line)
    downward = {
        "tf_eval.release.report": "from tf_eval.method.estimate import evaluate",
        "tf_eval.data.ingest": "from tf_eval import config",
        "tf_eval.method.panel": "from ..data.store import Store",
        "tf_eval.cli": "from tf_eval.release import report",
    }
    for module, line in downward.items():
        assert not _upward_imports(line, module), (module, line)
    # In a package's own __init__, "." is the package itself.
    assert not _upward_imports("from .store import Store", "tf_eval.data", is_package=True)
    assert _upward_imports("from ..release import disclosure", "tf_eval.data", is_package=True)


def test_every_library_module_is_in_a_stage_and_says_what_it_holds() -> None:
    """No module floats at the top beside the stages (only the public API and the command line
    do), and each stage's package docstring says what it holds and what it may import."""
    loose = {_module_name(p) for p in LIBRARY if _stage(_module_name(p)) == TOP}
    assert loose == {"tf_eval", "tf_eval.__main__", "tf_eval.cli", "tf_eval.cli_parser"}
    for stage in STAGES[1:]:
        doc = ast.get_docstring(ast.parse((ROOT / "tf_eval" / stage / "__init__.py").read_text()))
        assert doc and "Imports:" in doc, stage


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_never_imports_streamlit_or_the_dashboard(path: Path) -> None:
    imported = {name.split(".")[0] for name in _imports(ast.parse(path.read_text()))}
    assert not (imported & {"streamlit", "dashboard", "views", "app"})


def test_the_public_api_is_small_documented_and_importable() -> None:
    import tf_eval

    assert 5 <= len(tf_eval.__all__) <= 20
    for name in tf_eval.__all__:
        assert getattr(tf_eval, name).__doc__, name


# --- the disclosure gate -------------------------------------------------------------------------


@pytest.mark.parametrize("path", VIEW_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_views_never_reach_the_store_or_build_their_own_tables(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = _imports(tree)
    allowed = {"pandas", "numpy"} if path.name.endswith("charts.py") else set()  # safe frames
    assert not (imported & (FORBIDDEN_IMPORTS - allowed)), imported & FORBIDDEN_IMPORTS
    # Pages take the dashboard's listed names (`import dashboard`), never its plumbing modules.
    plumbing = {f"dashboard.{m.name}" for m in pkgutil.iter_modules(dashboard.__path__)}
    assert not (imported & plumbing), imported & plumbing
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    used |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not (used & FORBIDDEN_NAMES), used & FORBIDDEN_NAMES


def _is_safe(annotation: object) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, Safe)


def _holds_safe(annotation: object) -> bool:
    """A safe object, or a list of them, optionally None."""
    if _is_safe(annotation):
        return True
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is dict:
        arguments = arguments[1:]  # keys are labels
    return bool(arguments) and all(_holds_safe(a) for a in arguments)


# Functions of charts.py that draw nothing: a footnote's words about the source and selection,
# and the house look and check every chart is finished with (given a figure already built).
SOURCE_WORDS = {"data_source", "selection_source", "whole_store_source", "finish", "require"}
SOURCE_WORDS |= {"stacked_spacing", "room_for_labels"}  # panels' gaps, row labels' margin


def test_every_chart_takes_only_safe_objects() -> None:
    builders = [
        f
        for module in (charts, time_charts)
        for name, f in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and f.__module__ == module.__name__ and name not in SOURCE_WORDS
    ]
    assert builders
    for builder in builders:
        hints = typing.get_type_hints(builder)
        parameters = [hints[p] for p in inspect.signature(builder).parameters if p in hints]
        assert any(_holds_safe(h) for h in parameters), builder.__name__
        # Labels, not data: titles, widths, outcome names (e.g. the outcomes whose verdict passes).
        labels = (str, int, float, bool, list[str], list[str] | None)
        data = [h for h in parameters if h not in labels]
        assert all(_holds_safe(h) for h in data), (builder.__name__, data)


def test_a_chart_refuses_a_raw_frame() -> None:
    raw = pd.DataFrame({"la_code": ["LA01"], "cohort": [2015], "families": [3]})
    with pytest.raises(TypeError, match="SafeTable"):
        charts.la_cohort_heatmap(raw, "families", "test")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="SafeTable"):
        charts.coverage_chart(raw, "test")  # type: ignore[arg-type]


def _fields_are_safe(cls: type) -> bool:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        origin = typing.get_origin(kind)
        arguments = [a for a in typing.get_args(kind) if a is not type(None)]
        if _is_safe(kind) or (
            origin in (typing.Union, types.UnionType) and all(map(_is_safe, arguments))
        ):
            continue
        if origin is list and all(map(_is_safe, arguments)):
            continue
        if origin is dict and arguments[0] is str and _holds_safe(arguments[1]):
            continue  # safe objects (or lists of them) by label
        if dataclasses.is_dataclass(kind) and _fields_are_safe(kind):
            continue
        # Non-data fields: the store's description, options chosen, the synthetic demo's
        # planted effects, covariate names, settings (a day something is counted as of).
        settings = (AnalysisSpec, value.ValueSettings | None)
        if kind in (dict[str, str], dict[str, typing.Any], list[str], int, date, *settings):
            continue
        return False
    return True


def _returns_safe(kind: object) -> bool:
    """A safe object, a dataclass of safe fields, or containers of them (labels allowed)."""
    if kind in (str, list[str]) or _is_safe(kind):
        return True
    if dataclasses.is_dataclass(kind):
        return _fields_are_safe(kind)
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType, tuple):
        return all(_returns_safe(a) for a in arguments if a is not type(None))
    if origin is dict:
        return arguments[0] is str and _returns_safe(arguments[1])
    return False


def test_what_pages_get_from_the_dashboard_is_safe() -> None:
    getters = [
        f
        for name, f in inspect.getmembers(dashboard, inspect.isfunction)
        if name.startswith("get_")
    ]
    assert len(getters) >= 4
    assert "get_store" not in dashboard.__all__  # plumbing for the dashboard itself
    for getter in getters:
        if getter.__name__ == "get_board_pack":  # files rendered from safe objects (test below)
            assert typing.get_type_hints(getter)["return"] == report.BoardPack | None
            continue
        if getter.__name__ == "get_value_for_money":  # from gated estimates only (test below)
            assert typing.get_type_hints(getter)["return"] == value.ValueForMoney | None
            continue
        returned = typing.get_type_hints(getter)["return"]
        assert _returns_safe(returned), getter.__name__


def test_cli_json_is_built_from_safe_results_only() -> None:
    assert typing.get_type_hints(results.to_json)["results"] is results.SafeResults
    assert _fields_are_safe(results.SafeResults)
    assert typing.get_type_hints(results.SafeMatching)["counts"] is SafeTable


def test_views_are_found_and_there_is_no_pages_folder() -> None:
    """Every page is checked above, and no `pages/` folder exists: Streamlit would run it as a
    legacy multipage app and serve its files without app.py on a deep link."""
    assert len(VIEW_FILES) >= 8
    assert not (ROOT / "pages").exists()


# What pages may take from the dashboard besides the gated `get_*` results, and why each is not
# a leak.
NOT_FROM_THE_STORE = {
    "selection_sidebar": "the LA and cohort chosen (labels from the gated overview)",
    "page_title": "the page heading with the selection in words",
    "chart": "draws a chart built from safe objects",
    "theme_tabs": "a tab per theme of the outcomes given (outcome names, no data)",
    "themed_charts": "draws charts built from safe objects, a theme per tab",
    "describe": "a spec's settings in words",
    "saved_specs": "saved analysis settings, no data",
    "save_spec": "saves settings",
    "expected_form": "the effects an evaluator expects: their own numbers, not the store's",
    "session_suppressions": "what the gate withheld and why (no values)",
    "audit_choices": "user names and action names in the audit trail",
    "audit_entries": "the audit trail: who did what, never a record about a person "
    "(test_access scans it for every pseudonym and reference)",
    "utc_today": "the date",
    "load_extract": "a steward's load: counts of the file they uploaded, as `ingest` prints",
    "table": "draws a table the page was given (st.dataframe, its text cells made CSV-safe)",
    "value_form": "the value-for-money settings and unit costs a user gives: their own numbers",
    "value_settings": "those settings, as chosen (no data)",
}


def test_pages_take_from_the_dashboard_only_gated_results_or_what_holds_no_data() -> None:
    used = set()
    for path in sorted((ROOT / "views").glob("*.py")):
        tree = ast.parse(path.read_text())
        used |= {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "dashboard"
        }
    ungated = {name for name in used if not name.startswith("get_")}
    assert ungated <= set(NOT_FROM_THE_STORE), ungated - set(NOT_FROM_THE_STORE)
    assert {"audit_entries", "load_extract"} <= used  # the list is read, not stale


def test_the_board_pack_is_written_from_safe_objects_only() -> None:
    """The pack is an exit for data: everything it writes comes from a PackContents, whose
    every field passed the gate; its modules never query the store."""
    contents = pack_contents.PackContents
    assert _fields_are_safe(contents)
    writers = (
        report.write_pack,
        report.publish,
        report.archive,
        pack_contents.pack_charts,
        pack_contents.pack_tables,
        pack_contents.pack_provenance,
        pack_pdf.render_pdf,
    )
    for writer in writers:
        assert typing.get_type_hints(writer)["contents"] is contents, writer.__name__
    assert typing.get_type_hints(pack_contents.gather)["return"] is contents
    for module in (report, pack_contents, pack_pdf):
        tree = ast.parse(Path(module.__file__).read_text())
        assert not (_imports(tree) & {"duckdb", "pandas", "numpy"}), module.__name__
        used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not (used & {"query", "sql", "execute", "read_csv"}), module.__name__


def test_value_for_money_is_computed_from_gated_estimates_only() -> None:
    """Issue 20: the value for money is the one output computed after the gate, from its safe
    results and the user's settings only, and every chart of it takes nothing else."""
    hints = typing.get_type_hints(value.value_for_money)
    assert hints["results"] is results.SafeResults and hints["return"] is value.ValueForMoney
    for module in (value, value_charts):
        tree = ast.parse(Path(module.__file__).read_text())
        assert not (_imports(tree) & FORBIDDEN_IMPORTS - {"numpy"}), module.__name__
        used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not (used & {"query", "sql", "execute", "read_csv"}), module.__name__
    builders = [
        f
        for _, f in inspect.getmembers(value_charts, inspect.isfunction)
        if f.__module__ == value_charts.__name__ and not f.__name__.startswith("_")
    ]
    assert len(builders) == 2
    for builder in builders:
        hints = typing.get_type_hints(builder)
        data = [hints[p] for p in inspect.signature(builder).parameters if hints[p] is not str]
        assert data == [value.ValueForMoney], builder.__name__
    with pytest.raises(TypeError, match="ValueForMoney"):
        value_charts.benefits_chart({"ratio": 9.9}, "test")  # type: ignore[arg-type]
