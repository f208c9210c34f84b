"""Shared fixtures: small demo stores built once per test session, and dashboard pages on them."""

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tf_eval import config
from tf_eval.data import store, synth
from tf_eval.release import register

SEED = 11
FAMILIES = 8000


@pytest.fixture(autouse=True)
def no_accounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test starts with no accounts file of its own (never the user's real one): a test
    that needs accounts adds them to this path."""
    path = tmp_path / "accounts.json"
    monkeypatch.setenv(config.ACCOUNTS_FILE_ENV_VAR, str(path))
    return path


@pytest.fixture(autouse=True)
def own_register(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Callable[[Path], Path]:
    """Every test starts with empty release registers of its own (one per store, as beside the
    store), as it has its own accounts file: the session's shared demo stores would otherwise
    carry one test's releases into the next (two tests choosing nearly the same matching would
    refuse each other). They live in a folder of their own, not in the test's tmp_path. Tests of
    the register itself put it back beside the store (`register.register_path`)."""
    folder = tmp_path_factory.mktemp("registers")

    def beside(store_path: Path) -> Path:
        name = hashlib.sha256(str(Path(store_path).resolve()).encode()).hexdigest()[:16]
        return folder / f"{name}{config.REGISTER_SUFFIX}"

    monkeypatch.setattr(register, "register_path", beside)
    return beside


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo store with the planted effects (read it, don't write it)."""
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    synth.build_demo_store(path, FAMILIES, SEED)
    return path


@pytest.fixture(scope="session")
def counterfactual_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same families with support doing nothing: demo_db's counterfactual."""
    path = tmp_path_factory.mktemp("counterfactual") / "demo.duckdb"
    synth.build_demo_store(path, FAMILIES, SEED, effects=synth.NO_EFFECTS)
    return path


@pytest.fixture
def real_store(tmp_path: Path) -> Path:
    """An (empty) store that holds loaded data rather than a demo: nothing may overwrite it."""
    path = tmp_path / "real.duckdb"
    con = store.connect(path, read_only=False)
    store.create_schema(con)
    con.execute("INSERT INTO store_info VALUES ('kind', 'real')")
    con.close()
    return path


@pytest.fixture(scope="session")
def default_demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo store exactly as a new user gets it (default size and seed)."""
    path = tmp_path_factory.mktemp("default") / "demo.duckdb"
    synth.build_demo_store(path)
    return path


@pytest.fixture(scope="session")
def divergent_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo variant whose supported families were already diverging over the year before
    support (synth.PRE_DIVERGENCE_DEMO): the event study's pre-trend test should reject."""
    path = tmp_path_factory.mktemp("divergent") / "demo.duckdb"
    synth.build_demo_store(path, 20_000, 3, pre_divergence=synth.PRE_DIVERGENCE_DEMO)
    return path


@pytest.fixture
def open_view(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], AppTest]:
    """Open a dashboard view (e.g. "views/data.py") on the demo store, as a user would: app.py
    first, then the page."""

    def open_(view: str) -> AppTest:
        monkeypatch.setenv(config.DB_ENV_VAR, str(demo_db))
        at = AppTest.from_file(str(config.PROJECT_ROOT / "app.py"), default_timeout=300)
        at.run()
        at.switch_page(view).run()
        return at

    return open_
