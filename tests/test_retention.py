"""Retention: the expiry rule against an independent reading, and the purge (every record of
an expired family gone, from the tables and from the file's bytes; the others untouched; audited;
all or nothing; nothing to remove leaves the store byte-identical)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tf_eval import cli, config
from tf_eval.data import retention, store, synth
from tf_eval.governance import audit
from tf_eval.method.estimate import AnalysisSpec, evaluate
from tf_eval.release import provenance

FAMILIES, SEED = 1500, 29
AS_OF = date(2025, 6, 30)
OLD_LOAD = "2015-01-01 09:00:00"  # every load of the test store, but one
LATE_LOAD = "2024-03-15 10:00:00"  # a late extract about one early family's member
PERSON_TABLES = ("attendance", "offences", "benefit_spells", "ae_attendances")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def query(path: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).df()


@pytest.fixture(scope="module")
def aged_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo store as if loaded in 2015, but for one late A&E extract (load 99, 2024) about a
    member of the earliest family: by the rule, that family is kept while its cohort expires."""
    path = tmp_path_factory.mktemp("aged") / "store.duckdb"
    synth.build_demo_store(path, FAMILIES, SEED)
    with duckdb.connect(str(path)) as con:
        con.execute(f"UPDATE loads SET loaded_at = TIMESTAMP '{OLD_LOAD}'")
        con.execute(
            f"INSERT INTO loads VALUES (99, 'ae_attendances', 'late.csv', 'x', 1, "
            f"TIMESTAMP '{LATE_LOAD}', 'steward')"
        )
        con.execute(
            """UPDATE ae_attendances SET load_id = 99 WHERE person_id = (
                   SELECT min(p.person_id) FROM people p JOIN ae_attendances a USING (person_id)
                   WHERE p.family_id = (SELECT family_id FROM families
                                        ORDER BY identified_on, family_id LIMIT 1))"""
        )
        con.execute("CHECKPOINT")
    return path


@pytest.fixture
def copy_of(aged_store: Path, tmp_path: Path) -> Path:
    path = tmp_path / "store.duckdb"
    shutil.copyfile(aged_store, path)
    return path


def expected_expiry(path: Path, years: int) -> pd.Series:
    """The rule read independently, in pandas: later of the first day of the month of
    identification and the newest load behind any record of the family or its people, plus
    `years`."""
    frame = query(path, "SELECT family_id, identified_on FROM families")
    people = query(path, "SELECT person_id, family_id, load_id FROM people")
    identified = pd.to_datetime(frame["identified_on"])
    frame["index_month"] = identified.dt.to_period("M").dt.to_timestamp()
    loads = query(path, "SELECT load_id, loaded_at FROM loads").set_index("load_id")["loaded_at"]
    sources = [
        query(path, "SELECT family_id, load_id FROM families"),
        query(path, "SELECT family_id, load_id FROM programme"),
        people[["family_id", "load_id"]],
    ]
    for table in PERSON_TABLES:
        records = query(path, f"SELECT person_id, load_id FROM {table}")
        sources.append(records.merge(people[["person_id", "family_id"]], on="person_id"))
    linked = pd.concat([s[["family_id", "load_id"]] for s in sources])
    linked["loaded_on"] = pd.to_datetime(linked["load_id"].map(loads)).dt.normalize()
    newest = linked.groupby("family_id")["loaded_on"].max()
    start = pd.concat([frame.set_index("family_id")["index_month"], newest], axis=1).max(axis=1)
    return (start + pd.DateOffset(years=years)).dt.date.sort_index()


@pytest.mark.parametrize("years", [7, 3])
def test_expiry_is_the_later_of_index_month_and_newest_load_plus_the_years(
    aged_store: Path, years: int
) -> None:
    current = store.Store(aged_store)
    found = current.query(retention.EXPIRY, {"years": years})
    current.close()
    found = found.set_index("family_id")["expires_on"].sort_index()
    expected = expected_expiry(aged_store, years)
    assert found.index.tolist() == expected.index.tolist()
    assert [d.date() for d in pd.to_datetime(found)] == expected.tolist()
    # Both parts of the rule are at work here: the late extract holds one early family.
    assert (expected == date(2024, 3, 15).replace(year=2024 + years)).sum() == 1


def people_of(path: Path, families: list[int]) -> list[int]:
    ids = ", ".join(str(f) for f in families)
    return query(path, f"SELECT person_id FROM people WHERE family_id IN ({ids})")[
        "person_id"
    ].tolist()


def pseudonyms_in_bytes(path: Path, pseudonyms: list[int]) -> list[int]:
    """The pseudonyms found in the file, as 8-byte little-endian integers or decimal text."""
    data = path.read_bytes()
    return [p for p in pseudonyms if struct.pack("<q", p) in data or str(p).encode("ascii") in data]


def records(path: Path, table: str) -> pd.DataFrame:
    frame = query(path, f"SELECT * FROM {table}")
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_a_purge_destroys_every_record_of_expired_families_and_no_other(
    copy_of: Path, capsys
) -> None:
    expiry = expected_expiry(copy_of, 7)
    expired = expiry.index[expiry <= AS_OF].tolist()
    kept = expiry.index[expiry > AS_OF].tolist()
    assert 300 < len(expired) and 300 < len(kept)  # a real purge, with real survivors
    expired_people = people_of(copy_of, expired)
    kept_people = people_of(copy_of, kept)
    # The byte scan sees them before the purge: every pseudonym is in the file.
    assert len(pseudonyms_in_bytes(copy_of, expired + expired_people)) == len(
        expired + expired_people
    )
    before = {t: records(copy_of, t) for t in store.SCHEMA}

    assert cli.main(["purge", "--db", str(copy_of), "--as-of", AS_OF.isoformat()]) == 0

    out = capsys.readouterr().out
    assert f"as of {AS_OF} (7-year retention)" in out and "families " in out
    after = {t: records(copy_of, t) for t in store.SCHEMA}
    assert sorted(after["families"]["family_id"]) == sorted(kept)
    assert sorted(after["people"]["person_id"]) == sorted(kept_people)
    for table in ("families", "people", "programme"):
        survivors = before[table][before[table]["family_id"].isin(kept)]
        pd.testing.assert_frame_equal(after[table], survivors.reset_index(drop=True))
    for table in PERSON_TABLES:
        assert not after[table]["person_id"].isin(expired_people).any(), table
        survivors = before[table][before[table]["person_id"].isin(kept_people)]
        pd.testing.assert_frame_equal(after[table], survivors.reset_index(drop=True))
    for table in ("loads", "linkage", "store_info", "demo_truth", "schema_version"):
        pd.testing.assert_frame_equal(after[table], before[table])
    # Nothing of theirs is left in the file's bytes; the survivors' pseudonyms still are.
    assert pseudonyms_in_bytes(copy_of, expired + expired_people) == []
    assert len(pseudonyms_in_bytes(copy_of, kept[:50])) == 50
    assert not Path(f"{copy_of}.wal").exists()
    assert not list(copy_of.parent.glob(f".{copy_of.name}.writing-*"))


def test_what_a_purge_prints_is_disclosure_controlled(copy_of: Path, capsys) -> None:
    result = retention.purge(copy_of, 7, AS_OF)
    shown = provenance.removed_table(result).shown("removed")
    assert all(n == "c" or (n % 5 == 0 and (n == 0 or n >= 10)) for n in shown)
    assert result.removed["families"] > 300 and result.removed["social_care"] > 0


def test_the_estimates_still_run_on_what_remains(copy_of: Path) -> None:
    """Per cohort: the whole store now holds one 2014 family (kept by its late extract), whose
    cohort alone would predict treatment perfectly, which the propensity model refuses."""
    retention.purge(copy_of, 7, AS_OF)
    cohorts = query(
        copy_of, "SELECT year(identified_on) AS y, count(*) AS n FROM families GROUP BY y"
    )
    assert dict(zip(cohorts["y"], cohorts["n"], strict=True)).get(2014) == 1
    assert set(cohorts["y"]) == {2014, 2018, 2019, 2020}
    current = store.Store(copy_of)
    try:
        for cohort in (2019, 2020):
            evaluation = evaluate(current, AnalysisSpec(cohort=cohort))
            assert evaluation.matching.counts["treated_matched"] >= 50
            # In a cohort of a 1,500-family store a rare outcome (custody of a 10-17 year old)
            # may be one nobody had, and has no estimate; every other has one.
            for row in evaluation.estimates:
                rare = row.outcome in ("custody_juvenile", "custody_adult", "looked_after")
                assert rare or (pd.notna(row.att) and pd.notna(row.se)), row
    finally:
        current.close()


def test_a_purge_with_nothing_expired_leaves_the_store_byte_identical(
    copy_of: Path, capsys
) -> None:
    before = sha(copy_of)
    assert cli.main(["purge", "--db", str(copy_of), "--as-of", "2021-06-30"]) == 0
    assert "Nothing to purge" in capsys.readouterr().out
    assert sha(copy_of) == before
    entry = audit.read(copy_of).iloc[-1]
    assert entry["action"] == "purge" and '"families": 0' in entry["detail"]


def test_a_purge_is_audited_with_its_date_years_and_counts(copy_of: Path) -> None:
    expiry = expected_expiry(copy_of, 8)
    people = len(people_of(copy_of, expiry.index[expiry <= date(2024, 1, 31)].tolist()))
    argv = ["purge", "--db", str(copy_of), "--as-of", "2024-01-31", "--retention-years", "8"]
    assert cli.main(argv) == 0
    trail = audit.read(copy_of)
    entry = trail[trail["action"] == "purge"]
    assert len(entry) == 1 and entry["role"].iloc[0] == "cli" and entry["user"].iloc[0]
    detail = json.loads(entry["detail"].iloc[0])
    assert detail["as_of"] == "2024-01-31" and detail["retention_years"] == 8

    # Protected counts, as printed (issue 16: exact ones could tell one family's records), read
    # independently: 1-9 suppressed, others to the nearest 5 (a remainder of 1 or 2 down).
    # Counts of 10 or more get cell-key noise of at most config.PERTURBATION_MAX before rounding.
    def protected(n: int, shown: int | str) -> bool:
        if 1 <= n <= 9:
            return shown == "c"
        return (
            isinstance(shown, int)
            and shown % 5 == 0
            and abs(shown - n) <= 2 + config.PERTURBATION_MAX
        )

    families = int((expiry <= date(2024, 1, 31)).sum())
    assert families > 0 and protected(families, detail["removed"]["families"])
    assert protected(people, detail["removed"]["people"])
    assert set(detail["removed"]) == set(store.RECORD_TABLES)


def test_a_purge_killed_mid_way_leaves_the_store_as_it_was(copy_of: Path) -> None:
    """kill -9 once the fresh file exists, and once it is committing (its write-ahead log
    exists): the store is byte-identical each time, and the purge then runs whole."""
    before = sha(copy_of)
    code = (
        "import sys; from datetime import date; from pathlib import Path; "
        "from tf_eval.data import retention; "
        "retention.purge(Path(sys.argv[1]), 7, date.fromisoformat(sys.argv[2]))"
    )
    for moment in ("started", "committing"):
        process = subprocess.Popen(
            [sys.executable, "-c", code, str(copy_of), AS_OF.isoformat()],
            cwd=config.PROJECT_ROOT,
        )
        work = copy_of.with_name(f".{copy_of.name}.writing-{process.pid}")
        watched = work if moment == "started" else Path(f"{work}.wal")
        deadline = time.monotonic() + 120
        while not watched.exists():
            assert process.poll() is None, f"the purge ended before it was {moment}"
            assert time.monotonic() < deadline
            time.sleep(0.001)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
        assert sha(copy_of) == before, moment
        assert not Path(f"{copy_of}.wal").exists()
    result = retention.purge(copy_of, 7, AS_OF)
    assert result.removed["families"] > 300
    assert not list(copy_of.parent.glob(f".{copy_of.name}.writing-*"))


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--retention-years", "0"], "retention period of 0 years is too short"),
        (["--retention-years", "seven"], "'seven' is not a whole number"),
        (["--as-of", "2025-02-30"], "'2025-02-30' is not a date (YYYY-MM-DD)"),
        (["--as-of", "2999-01-01"], "--as-of: 2999-01-01 is in the future"),
    ],
)
def test_bad_purge_flags_are_one_line_errors(
    copy_of: Path, args: list[str], complaint: str, capsys
) -> None:
    before = sha(copy_of)
    code = cli_exit(["purge", "--db", str(copy_of), *args])
    err = capsys.readouterr().err
    # A mistake in the command line: a usage error, whatever the store (issue 17, item 15).
    assert code == 2 and err.startswith("tf-eval: error: ") and complaint in err
    assert len(err.strip().splitlines()) == 1
    assert sha(copy_of) == before


def test_a_purge_without_a_store_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "none.duckdb"
    assert cli.main(["purge", "--db", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tf-eval: error: no store at {missing}") and err.count("\n") == 1
    assert not missing.exists()


def cli_exit(argv: list[str]) -> int:
    """cli.main's status, whether it returns it or argparse exits with it."""
    try:
        return cli.main(argv)
    except SystemExit as stop:
        return int(stop.code)


def test_a_demo_store_purges_too(tmp_path: Path, capsys) -> None:
    """A new demo store's records were all loaded at its build: nothing expires for 7 years,
    and a purge with a 1-year retention as of today leaves it byte-identical too."""
    path = tmp_path / "demo.duckdb"
    synth.build_demo_store(path, 300, 3)
    before = sha(path)
    assert cli.main(["purge", "--db", str(path), "--retention-years", "1"]) == 0
    assert "Nothing to purge" in capsys.readouterr().out and sha(path) == before


def test_the_data_page_says_a_purge_is_due_and_when_records_expire(
    aged_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.DB_ENV_VAR, str(aged_store))
    at = AppTest.from_file(str(config.PROJECT_ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("views/data.py").run()
    assert not at.exception
    due = [e.value for e in at.error]
    assert len(due) == 1 and "A purge is due now" in due[0]
    expiry = expected_expiry(aged_store, config.RETENTION_YEARS)
    today = date.today()
    overdue = int((expiry <= today).sum())
    assert f"of {5 * round(overdue / 5):,} families" in due[0]
    figure = json.loads(at.get("plotly_chart")[-1].proto.spec)
    years = sorted({d.year for d in expiry})
    assert [int(x) for x in figure["data"][0]["x"]] == years
