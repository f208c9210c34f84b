"""Loading agency extracts: contracts, pseudonyms at the door, all or nothing, linkage.

Every refusal is checked to leave the store byte-identical (sha256 before and after)."""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import io
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tf_eval import cli, config
from tf_eval.data import ingest, pseudonymise, store, synth
from tf_eval.data.contracts import CONTRACTS, SOURCES
from tf_eval.data.outcomes import OUTCOMES
from tf_eval.method.estimate import AnalysisSpec, evaluate

KEY = "tests-only-pseudonym-key-0123456789abcdef"
SAMPLES = config.PROJECT_ROOT / "data" / "samples"
FAMILIES, SEED = 1500, 23
# What the demo's agency references look like: any of these bytes in a store is a leak.
RAW_REFERENCE = re.compile(rb"FAM-\d{6}|P-\d{7}")


@pytest.fixture(scope="module", autouse=True)
def pseudonym_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every load here uses a known key, never the user's own key file."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(config.PSEUDO_KEY_ENV_VAR, KEY)
        unused = tmp_path_factory.mktemp("key") / "unused.key"
        patch.setenv(config.PSEUDO_KEY_FILE_ENV_VAR, str(unused))
        patch.delenv(config.MAX_UNLINKED_SHARE_ENV_VAR, raising=False)
        yield


@pytest.fixture(scope="module", autouse=True)
def small_batches() -> Iterator[None]:
    """Demo builds here span several batches, so references must carry on across them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "DEMO_BATCH_FAMILIES", 700)
        yield


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(data: Path | bytes, source: str, db: Path, name: str | None = None) -> ingest.LoadResult:
    return ingest.ingest_file(data, source, db, "tester", file_name=name)


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def query(db: Path, sql: str) -> pd.DataFrame:
    current = store.Store(db)
    try:
        return current.query(sql)
    finally:
        current.close()


def work_files(db: Path) -> list[Path]:
    """A writer's private copies (and their logs) beside the store."""
    return sorted(db.parent.glob(f".{db.name}.writing-*"))


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's records as agency extracts, written by the command line."""
    directory = tmp_path_factory.mktemp("extracts") / "out"
    flags = ["--families", str(FAMILIES), "--seed", str(SEED)]
    assert cli.main(["demo", "--as-extracts", str(directory), *flags]) == 0
    return directory


@pytest.fixture(scope="module")
def loaded(extracts: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Every extract loaded in source order, and a copy of the store taken just before the first
    outcome source."""
    folder = tmp_path_factory.mktemp("loaded")
    db, before_outcomes = folder / "real.duckdb", folder / "before-outcomes.duckdb"
    for source in SOURCES:
        if source == "attendance":
            shutil.copyfile(db, before_outcomes)
        load(extracts / f"{source}.csv", source, db)
    return db, before_outcomes


@pytest.fixture(scope="module")
def direct_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("direct") / "demo.duckdb"
    synth.build_demo_store(path, FAMILIES, SEED)
    return path


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample families, people and programme (data/samples) loaded into a real store."""
    db = tmp_path_factory.mktemp("samples") / "real.duckdb"
    for source in ("families", "people", "programme"):
        load(SAMPLES / f"{source}.csv", source, db)
    return db


# --- the round trip: demo -> extracts -> ingest ---------------------------------------------


def test_demo_extracts_carry_agency_references(extracts: Path) -> None:
    people = pd.read_csv(extracts / "people.csv", dtype=str)
    assert people["person_ref"].str.fullmatch(r"P-\d{7}").all()
    assert people["family_ref"].str.fullmatch(r"FAM-\d{6}").all()
    families = pd.read_csv(extracts / "families.csv", dtype=str)
    assert len(families) == FAMILIES and families["family_ref"].is_unique
    for source in SOURCES:
        header = (extracts / f"{source}.csv").read_text().splitlines()[0]
        assert header == ",".join(CONTRACTS[source].names), source


def test_loaded_extracts_give_the_demo_estimates(
    loaded: tuple[Path, Path], direct_demo: Path
) -> None:
    # Nearest-neighbour matching breaks ties in score by row order, as MatchIt does, and the
    # pseudonyms reorder the rows; matched exactly on the index quarter, no tie changes who is
    # matched in this store (under the default LA x cohort one does: a comparison family of the
    # same score but another size), so the round trip can be held to identical numbers.
    spec = AnalysisSpec(exact=("la_code", "index_quarter"))
    results = []
    for path in (direct_demo, loaded[0]):
        current = store.Store(path)
        results.append(evaluate(current, spec))
        current.close()
    direct, ingested = ([*r.estimates, *r.naive, *r.placebo] for r in results)
    assert len(direct) == len(ingested) == 3 * len(OUTCOMES)
    for a, b in zip(direct, ingested, strict=True):
        assert (b.outcome, b.n_treated, b.n_comparison) == (a.outcome, a.n_treated, a.n_comparison)
        # To a billionth, or a billionth of a standard error for an estimate near 0: the rows'
        # order changes the sums' rounding, which the outcome model's stored cube (a least-
        # squares residual) carries into the last digits of an estimate of 0.0006.
        assert b.att == pytest.approx(a.att, rel=1e-9, abs=1e-9 * a.se), a.outcome
        assert b.se == pytest.approx(a.se, rel=1e-9), a.outcome


def test_loaded_records_equal_the_demo_records_but_for_identifiers(
    loaded: tuple[Path, Path], direct_demo: Path
) -> None:
    for source in SOURCES:
        ids = {c.stored_as for c in CONTRACTS[source].columns if c.kind == "reference"}
        sql = f"SELECT * EXCLUDE ({', '.join([*ids, 'load_id'])}) FROM {source} ORDER BY ALL"
        expected, got = query(direct_demo, sql), query(loaded[0], sql)
        pd.testing.assert_frame_equal(got, expected, obj=source)
    # Each person is still linked to their own family.
    members = "SELECT f.la_code, f.identified_on, p.birth_year, p.sex, p.role "
    members += "FROM people p JOIN families f USING (family_id) ORDER BY ALL"
    expected = query(direct_demo, members)
    pd.testing.assert_frame_equal(query(loaded[0], members), expected)
    assert len(expected) == len(query(direct_demo, "SELECT * FROM people"))


def test_every_row_carries_the_load_that_brought_it(
    loaded: tuple[Path, Path], extracts: Path
) -> None:
    db = loaded[0]
    loads = query(db, "SELECT * FROM loads ORDER BY load_id")
    assert loads["source"].tolist() == list(SOURCES)
    assert loads["load_id"].tolist() == list(range(1, len(SOURCES) + 1))
    assert set(loads["loaded_by"]) == {"tester"}
    for load_row in loads.itertuples():
        per_load = query(db, f"SELECT load_id, count(*) AS n FROM {load_row.source} GROUP BY 1")
        assert per_load.values.tolist() == [[load_row.load_id, load_row.rows]], load_row.source
        records = len(pd.read_csv(extracts / f"{load_row.source}.csv", dtype=str))
        assert load_row.rows == records
        assert load_row.sha256 == sha(extracts / f"{load_row.source}.csv")
    assert query(db, "SELECT value FROM store_info WHERE key = 'kind'")["value"].tolist() == [
        "real"
    ]


def test_no_raw_identifier_reaches_the_store(
    loaded: tuple[Path, Path], extracts: Path, tmp_path: Path
) -> None:
    db = loaded[0]
    assert not Path(f"{db}.wal").exists() and not work_files(db)
    for path in (db, db.with_suffix(config.AUDIT_SUFFIX)):
        assert RAW_REFERENCE.search(path.read_bytes()) is None, path
    # The scan would see them: the same store with the people extract copied in.
    leaky = tmp_path / "leaky.duckdb"
    shutil.copyfile(db, leaky)
    with duckdb.connect(str(leaky)) as con:
        # Stored as they are: duckdb 1.5 sometimes compresses these strings (FSST), hiding them.
        con.execute("SET force_compression = 'uncompressed'")
        con.execute(
            "CREATE TABLE leak AS SELECT * FROM read_csv(?, all_varchar = true)",
            [str(extracts / "people.csv")],
        )
        con.execute("CHECKPOINT")
    assert RAW_REFERENCE.search(leaky.read_bytes())
    # Nor is any text value in the store a reference, and identifiers are the keyed hash.
    people = pd.read_csv(extracts / "people.csv", dtype=str)
    references = set(people["person_ref"]) | set(people["family_ref"])
    text_columns = query(
        db,
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE data_type = 'VARCHAR'",
    )
    for table, column in text_columns.itertuples(index=False):
        values = set(query(db, f'SELECT DISTINCT "{column}" AS v FROM {table}')["v"])
        assert not values & references, (table, column)
    digest = hmac.digest(KEY.encode(), b"person\0" + people["person_ref"][0].encode(), "sha256")
    pseudonym = int.from_bytes(digest[:8], "big", signed=True)
    first = query(db, f"SELECT * FROM people WHERE person_id = {pseudonym}")
    assert first[["birth_year", "sex", "role"]].values.tolist() == [
        [int(people["birth_year"][0]), people["sex"][0], people["role"][0]]
    ]
    assert query(db, "SELECT typeof(person_id) AS t FROM people LIMIT 1")["t"][0] == "BIGINT"


def test_linkage_report_counts_what_each_source_offered_and_linked(
    loaded: tuple[Path, Path], direct_demo: Path
) -> None:
    sources = [s for s in SOURCES if s != "families"]
    for db in (loaded[0], direct_demo):  # the demo has no linkage rows: all its records link
        current = store.Store(db)
        report = ingest.linkage_report(current)
        current.close()
        assert report["source"].tolist() == sources
        assert (report["offered"] == report["linked"]).all() and (report["share_linked"] == 1).all()
        loads = query(db, "SELECT rows FROM loads WHERE source <> 'families' ORDER BY load_id")
        assert report["offered"].tolist() == loads["rows"].tolist()


# --- all or nothing -----------------------------------------------------------------------


def test_a_load_killed_mid_way_leaves_the_store_as_it_was(
    loaded: tuple[Path, Path], extracts: Path, tmp_path: Path
) -> None:
    """kill -9 once the load has copied the store, and once it is committing (its write-ahead
    log exists): the store is byte-identical each time, and the same file then loads whole."""
    db = tmp_path / "real.duckdb"
    shutil.copyfile(loaded[1], db)
    before = sha(db)
    extract = extracts / "attendance.csv"
    code = (
        "import sys; from pathlib import Path; from tf_eval.data import ingest; "
        "ingest.ingest_file(Path(sys.argv[1]), 'attendance', Path(sys.argv[2]), 'killed')"
    )
    for moment in ("copied", "committing"):
        process = subprocess.Popen(
            [sys.executable, "-c", code, str(extract), str(db)], cwd=config.PROJECT_ROOT
        )
        work = db.with_name(f".{db.name}.writing-{process.pid}")
        watched = work if moment == "copied" else Path(f"{work}.wal")
        deadline = time.monotonic() + 120
        while not watched.exists():
            assert process.poll() is None, f"the load ended before it was {moment}"
            assert time.monotonic() < deadline
            time.sleep(0.001)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
        assert work.exists()  # killed mid-way: its private copy is left behind
        assert sha(db) == before, moment
        assert not Path(f"{db}.wal").exists()
    assert query(db, "SELECT count(*) AS n FROM attendance")["n"][0] == 0
    result = load(extract, "attendance", db)
    assert result.rows == len(pd.read_csv(extract, dtype=str)) and result.load_id == 4
    assert query(db, "SELECT count(*) AS n FROM attendance")["n"][0] == result.rows
    assert not work_files(db)  # the killed loads' copies were cleared


def test_a_file_is_loaded_once(tmp_path: Path) -> None:
    db = tmp_path / "real.duckdb"
    first = load(SAMPLES / "families.csv", "families", db)
    assert (first.load_id, first.rows, first.offered) == (1, 3, 3)
    before = sha(db)
    with pytest.raises(ingest.IngestRefused, match=r"already loaded \(load 1, families, .* tester"):
        load(SAMPLES / "families.csv", "families", db)
    renamed = (SAMPLES / "families.csv").read_bytes()
    with pytest.raises(ingest.IngestRefused, match="already loaded"):
        load(renamed, "families", db, name="families-again.csv")
    assert sha(db) == before
    assert query(db, "SELECT count(*) AS n FROM loads")["n"][0] == 1


def test_the_demo_store_is_never_loaded_into(tmp_path: Path, capsys) -> None:
    db = tmp_path / "demo.duckdb"
    synth.build_demo_store(db, 300, 1)
    before = sha(db)
    assert cli.main(["ingest", "families", str(SAMPLES / "families.csv"), "--db", str(db)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "is a synthetic demo store" in err
    assert sha(db) == before


@pytest.mark.parametrize(
    "content, error, complaint",
    [
        (b"my precious notes", store.StoreError, "is not a tf-eval store .*refusing to write"),
        (None, ingest.IngestError, "is a DuckDB file but not a tf-eval store"),
    ],
)
def test_a_file_that_is_not_a_store_is_left_alone(
    tmp_path: Path, content: bytes | None, error: type[Exception], complaint: str
) -> None:
    db = tmp_path / "other.duckdb"
    if content is None:
        duckdb.connect(str(db)).execute("CREATE TABLE t (x INTEGER)").close()
    else:
        db.write_bytes(content)
    before = sha(db)
    with pytest.raises(error, match=complaint):
        load(SAMPLES / "families.csv", "families", db)
    assert sha(db) == before and not work_files(db)


def test_a_store_being_written_is_not_written_again(tmp_path: Path) -> None:
    db = tmp_path / "real.duckdb"
    load(SAMPLES / "families.csv", "families", db)
    before = sha(db)
    with open(db.with_name(f".{db.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(store.StoreError, match="another process is writing"):
            load(SAMPLES / "people.csv", "people", db)
    wal = Path(f"{db}.wal")
    wal.write_bytes(b"left by a crashed writer")
    with pytest.raises(store.StoreError, match="stopped before it finished"):
        load(SAMPLES / "people.csv", "people", db)
    wal.unlink()
    assert sha(db) == before
    assert load(SAMPLES / "people.csv", "people", db).rows == 7


# --- broken files -------------------------------------------------------------------------

FAMILY = "family_ref,la_code,identified_on"
PERSON = "person_ref,family_ref,birth_year,sex,role"
CARE = "person_ref,episode_type,start_date,end_date"
FUTURE = (date.today() + timedelta(days=400)).isoformat()
NOT_UTF8 = csv_bytes(FAMILY, "FAM-9,LA01,2015-01-01") + "FAM-é,LA01,2015-01-01\n".encode("latin-1")

BROKEN: dict[str, tuple[str, bytes, list[str]]] = {
    "empty": ("families", b"", ["families.csv: the file is empty; expected a header line"]),
    "blank": ("families", b"\n  \n", ["the file is empty"]),
    "header only": ("families", csv_bytes(FAMILY), ["header line but no records"]),
    "missing column": (
        "families",
        csv_bytes("family_ref,la_code", "FAM-9,LA01"),
        ["families.csv line 1, identified_on: column is missing"],
    ),
    "extra column": (
        "families",
        csv_bytes(FAMILY + ",surname", "FAM-9,LA01,2015-01-01,Smith"),
        ["line 1, surname: unexpected column", "may hold personal data"],
    ),
    "column twice": (
        "families",
        csv_bytes(FAMILY + ",la_code", "FAM-9,LA01,2015-01-01,LA01"),
        ["line 1, la_code: column appears twice"],
    ),
    "semicolons": (
        "families",
        csv_bytes("family_ref;la_code;identified_on", "FAM-9;LA01;2015-01-01"),
        ["line 1: columns are separated by semicolons; expected commas"],
    ),
    "too few values": (
        "families",
        csv_bytes(FAMILY, "FAM-9,LA01"),
        ["line 2: 2 values, expected 3"],
    ),
    "quoted line break": (
        "families",
        csv_bytes(FAMILY, '"FAM', '9",LA01,2015-01-01'),
        ["line 2: a quoted value runs over lines 2-3"],
    ),
    "bad quoting": (
        "families",
        csv_bytes(FAMILY, 'FAM-9,"LA"01,2015-01-01'),
        ["line 2: cannot be read as CSV"],
    ),
    "not UTF-8": (
        "families",
        NOT_UTF8,
        ["line 3: byte 0xE9 at character 5 is not UTF-8 text"],
    ),
    "UTF-16": (
        "families",
        csv_bytes(FAMILY, "FAM-9,LA01,2015-01-01").decode().encode("utf-16"),
        ["families.csv: is UTF-16 text"],
    ),
    "binary junk": (
        "families",
        bytes(range(256)) * 8,
        ["line 1: holds binary data, not text"],
    ),
    "date format": (
        "families",
        csv_bytes(FAMILY, "FAM-9,LA01,02/03/2015"),
        ["line 2, identified_on: '02/03/2015' is not a date written YYYY-MM-DD"],
    ),
    "impossible date": (
        "families",
        csv_bytes(FAMILY, "FAM-9,LA01,2021-02-30"),
        ["families.csv line 2, identified_on: '2021-02-30' is not a real date"],
    ),
    "future date": (
        "families",
        csv_bytes(FAMILY, f"FAM-9,LA01,{FUTURE}"),
        [f"line 2, identified_on: '{FUTURE}' is in the future"],
    ),
    "before 1900": (
        "families",
        csv_bytes(FAMILY, "FAM-9,LA01,1899-12-31"),
        ["line 2, identified_on: '1899-12-31' is before 1900-01-01"],
    ),
    "empty value": (
        "families",
        csv_bytes(FAMILY, "FAM-9,,2015-01-01"),
        ["line 2, la_code: is empty; expected a local authority code"],
    ),
    "padded reference": (
        "families",
        csv_bytes(FAMILY, " FAM-9,LA01,2015-01-01"),
        ["line 2, family_ref: ' FAM-9' is not a family reference"],
    ),
    "repeated key": (
        "families",
        csv_bytes(FAMILY, "FAM-9,LA01,2015-01-01", "FAM-9,LA02,2016-01-01"),
        ["line 3, family_ref: repeats line 2 (same family_ref; each must be unique)"],
    ),
    "already stored": (
        "families",
        csv_bytes(FAMILY, "FAM-000101,LA01,2015-01-01"),
        ["line 2, family_ref: a record with this family_ref is already in the store"],
    ),
    "many problems": (
        "families",
        csv_bytes(FAMILY, *(f"FAM-{i},LA01,2015-13-{i:02d}" for i in range(1, 31))),
        ["families.csv refused, nothing loaded: 30 problems", "line 21, ", "  and 10 more"],
    ),
    "bad number": (
        "people",
        csv_bytes(PERSON, "P-9,FAM-000101,19x5,F,adult"),
        ["people.csv line 2, birth_year: '19x5' is not a whole number"],
    ),
    "year out of range": (
        "people",
        csv_bytes(PERSON, "P-9,FAM-000101,1850,F,adult"),
        ["line 2, birth_year: '1850' is not a year from 1900 to this year"],
    ),
    "not an allowed value": (
        "people",
        csv_bytes(PERSON, "P-9,FAM-000101,1980,X,lodger"),
        ["line 2, sex: 'X' is not F or M", "line 2, role: 'lodger' is not adult or child"],
    ),
    "unknown family": (
        "people",
        csv_bytes(PERSON, "P-9,FAM-000101,1980,F,adult", "P-10,FAM-999999,1981,M,adult"),
        ["line 3, family_ref: 'FAM-999999' is not a family in the store (load the families"],
    ),
    "end before start": (
        "programme",
        csv_bytes("family_ref,attached_on,ended_on", "FAM-000103,2017-03-01,2017-02-01"),
        ["line 2, ended_on: '2017-02-01' is before attached_on '2017-03-01'"],
    ),
    "programme already stored": (
        "programme",
        csv_bytes("family_ref,attached_on,ended_on", "FAM-000101,2015-04-01,"),
        ["line 2, family_ref: a record with this family_ref is already in the store"],
    ),
    "fractional sessions": (
        "attendance",
        csv_bytes(
            "person_ref,term_start,sessions_possible,sessions_missed", "P-0001002,2016-09-05,12.5,1"
        ),
        ["line 2, sessions_possible: '12.5' is not a whole number"],
    ),
    "missed more than possible": (
        "attendance",
        csv_bytes(
            "person_ref,term_start,sessions_possible,sessions_missed",
            "P-0001002,2016-09-05,100,101",
        ),
        ["line 2, sessions_missed: '101' is more than sessions_possible '100'"],
    ),
    "unknown person": (
        "offences",
        csv_bytes(
            "person_ref,offence_date,disposal",
            "P-0001004,2018-01-02,caution",
            "P-9999999,2018-01-03,custody",
        ),
        [
            "offences.csv: 1 of 2 records (50.0%) name a person not in the store",
            "line 3, person_ref: 'P-9999999' is not a person in the store",
        ],
    ),
    "not a disposal": (
        "offences",
        csv_bytes("person_ref,offence_date,disposal", "P-0001004,2018-01-02,fine"),
        ["line 2, disposal: 'fine' is not caution, conviction or custody"],
    ),
    "benefit ends before it starts": (
        "benefit_spells",
        csv_bytes("person_ref,start_date,end_date,benefit", "P-0001003,2018-03-01,2018-02-28,UC"),
        ["line 2, end_date: '2018-02-28' is before start_date '2018-03-01'"],
    ),
    "corrupt Parquet": (
        "families",
        b"PAR1" + b"\x00\x01junk" * 20,
        ["families.csv: is not a readable Parquet file"],
    ),
    "Parquet missing column": (
        "families",
        parquet_bytes(pd.DataFrame({"family_ref": ["FAM-9"], "la_code": ["LA01"]})),
        ["families.csv, identified_on: column is missing"],
    ),
    "Parquet bad values": (
        "people",
        parquet_bytes(
            pd.DataFrame(
                {
                    "person_ref": ["P-9", "P-10"],
                    "family_ref": ["FAM-000101", "FAM-000101"],
                    "birth_year": [1980.0, 1980.5],
                    "sex": ["F", "x"],
                    "role": ["adult", "adult"],
                }
            )
        ),
        ["row 2, birth_year: '1980.5' is not a whole number", "row 2, sex: 'x' is not F or M"],
    ),
    "birth month outside 1-12": (
        "people",
        csv_bytes(
            "person_ref,family_ref,birth_year,birth_month,sex,role",
            "P-9,FAM-000101,1980,13,F,adult",
            "P-8,FAM-000101,1980,0,F,adult",
        ),
        [
            "line 2, birth_month: '13' is not a month 1-12, or empty when unknown",
            "line 3, birth_month: '0' is not a month 1-12",
        ],
    ),
    "term ends before it starts": (
        "attendance",
        csv_bytes(
            "person_ref,term_start,term_end,sessions_possible,sessions_missed",
            "P-0001002,2015-09-01,2015-08-31,100,1",
        ),
        ["line 2, term_end: '2015-08-31' is before term_start '2015-09-01'"],
    ),
    "not an episode type": (
        "social_care",
        csv_bytes(CARE, "P-0001005,in_care,2016-05-16,", "P-0001007,Looked_After,2017-02-13,"),
        [
            "social_care.csv line 2, episode_type: 'in_care' is not child_in_need, "
            "child_protection_plan or looked_after",
            "line 3, episode_type: 'Looked_After' is not child_in_need",
        ],
    ),
    "episode ends before it starts": (
        "social_care",
        csv_bytes(CARE, "P-0001005,child_protection_plan,2016-06-20,2016-06-19"),
        ["line 2, end_date: '2016-06-19' is before start_date '2016-06-20'"],
    ),
    "episode of an unknown person": (
        "social_care",
        csv_bytes(
            CARE, "P-0001005,child_in_need,2016-05-16,", "P-9999999,looked_after,2017-01-09,"
        ),
        [
            "social_care.csv: 1 of 2 records (50.0%) name a person not in the store",
            "line 3, person_ref: 'P-9999999' is not a person in the store",
        ],
    ),
    "episode dates": (
        "social_care",
        csv_bytes(
            CARE,
            "P-0001005,child_in_need,16/05/2016,",
            "P-0001007,looked_after,2017-02-30,",
            f"P-0001007,child_in_need,2017-03-01,{FUTURE}",
            "P-0001002,looked_after,,",
        ),
        [
            "line 2, start_date: '16/05/2016' is not a date written YYYY-MM-DD",
            "line 3, start_date: '2017-02-30' is not a real date",
            f"line 4, end_date: '{FUTURE}' is in the future",
            "line 5, start_date: is empty; expected a date YYYY-MM-DD",
        ],
    ),
    "episode repeated": (
        "social_care",
        csv_bytes(
            CARE,
            "P-0001005,looked_after,2016-05-16,2016-09-01",
            "P-0001005,child_in_need,2016-05-16,",  # another kind the same day: fine
            "P-0001005,looked_after,2016-05-16,",
        ),
        [
            "line 4, person_ref: repeats line 2 (same person_ref and episode_type and "
            "start_date; each must be unique)"
        ],
    ),
    "episode type missing": (
        "social_care",
        csv_bytes("person_ref,start_date,end_date", "P-0001005,2016-05-16,"),
        ["social_care.csv line 1, episode_type: column is missing"],
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_file_is_refused_with_its_problems(sample_store: Path, case: str) -> None:
    source, content, expected = BROKEN[case]
    before = sha(sample_store)
    with pytest.raises(ingest.IngestRefused) as refused:
        load(content, source, sample_store, name=f"{source}.csv")
    message = str(refused.value)
    first, *lines = message.splitlines()
    assert re.fullmatch(rf"{source}\.csv refused, nothing loaded: [\d,]+ problems?", first)
    assert lines and all(re.match(rf"  ({source}\.csv[ :,]|and \d+ more$)", x) for x in lines)
    for fragment in expected:
        assert fragment in message, message
    assert len(lines) <= config.INGEST_PROBLEMS_SHOWN + 1
    assert sha(sample_store) == before
    assert not work_files(sample_store)


def test_a_refused_load_creates_no_store(tmp_path: Path) -> None:
    db = tmp_path / "new.duckdb"
    with pytest.raises(ingest.IngestRefused, match="is not a family in the store"):
        load(SAMPLES / "people.csv", "people", db)  # checked against the (empty) new store
    with pytest.raises(ingest.IngestRefused, match="the file is empty"):
        load(b"", "families", db, name="families.csv")
    assert not db.exists() and not work_files(db)
    assert load(SAMPLES / "families.csv", "families", db).rows == 3
    assert store.Store(db).info()["kind"] == "real"


def test_the_command_line_lists_the_problems(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "families.csv"
    bad.write_text(csv_bytes(FAMILY, "FAM-1,LA01,2021-02-30", "FAM-2,LA 1,2015-01-01").decode())
    db = tmp_path / "real.duckdb"
    assert cli.main(["ingest", "families", str(bad), "--db", str(db)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "tf-eval: error: families.csv refused, nothing loaded: 2 problems",
        "  families.csv line 2, identified_on: '2021-02-30' is not a real date",
        "  families.csv line 3, la_code: 'LA 1' is not a local authority code (letters and digits)",
    ]
    assert not db.exists()
    assert cli.main(["ingest", "families", str(tmp_path / "none.csv"), "--db", str(db)]) == 1
    assert capsys.readouterr().err == (
        f"tf-eval: error: cannot read {tmp_path / 'none.csv'}: No such file or directory\n"
    )


def test_the_command_line_loads_and_says_so(tmp_path: Path, capsys) -> None:
    db = tmp_path / "real.duckdb"
    for number, source in enumerate(SOURCES, start=1):
        assert cli.main(["ingest", source, str(SAMPLES / f"{source}.csv"), "--db", str(db)]) == 0
        out = capsys.readouterr().out
        rows = len(pd.read_csv(SAMPLES / f"{source}.csv"))
        assert out == f"Loaded {source}.csv into {db} as load {number}: {rows:,} records\n"
    logged = query(db, "SELECT source, rows FROM loads ORDER BY load_id")
    assert logged["source"].tolist() == list(SOURCES)


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["ingest", "pets", "x.csv"], "argument SOURCE: invalid choice: 'pets'"),
        (["ingest", "families"], "the following arguments are required: FILE"),
        (["demo", "--db", "x.duckdb", "--as-extracts", "d"], "not allowed with argument --db"),
    ],
)
def test_command_line_usage_mistakes_are_one_line(args: list[str], complaint: str, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(args)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and complaint in err


def test_demo_extracts_never_overwrite_a_file(tmp_path: Path, capsys) -> None:
    (tmp_path / "people.csv").write_text("a steward's own extract")
    assert cli.main(["demo", "--as-extracts", str(tmp_path), "--families", "50"]) == 1
    assert capsys.readouterr().err == (
        f"tf-eval: error: {tmp_path} already holds people.csv; choose another\n"
    )
    assert (tmp_path / "people.csv").read_text() == "a steward's own extract"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["people.csv"]


# --- formats, samples, documentation ------------------------------------------------------


def test_a_parquet_extract_loads_like_the_same_csv(tmp_path: Path) -> None:
    csv_store, parquet_store = tmp_path / "csv.duckdb", tmp_path / "parquet.duckdb"
    for source in ("families", "people", "programme"):
        load(SAMPLES / f"{source}.csv", source, csv_store)
        frame = pd.read_csv(SAMPLES / f"{source}.csv", dtype=str, keep_default_na=False)
        for column in CONTRACTS[source].columns:
            if column.kind == "date":  # typed as Parquet dates and timestamps, with a gap
                frame[column.name] = pd.to_datetime(frame[column.name].replace("", None))
            elif column.kind == "year":
                frame[column.name] = frame[column.name].astype(int)
        load(parquet_bytes(frame), source, parquet_store, name=f"{source}.parquet")
    for source in ("families", "people", "programme"):
        sql = f"SELECT * FROM {source} ORDER BY ALL"
        pd.testing.assert_frame_equal(query(parquet_store, sql), query(csv_store, sql))


def test_the_optional_columns_may_be_left_out_or_empty(sample_store: Path, tmp_path: Path) -> None:
    """birth_month and term_end may be missing from the file, or empty: stored as NULL."""
    db = tmp_path / "optional.duckdb"
    for source in ("families", "programme"):
        load(SAMPLES / f"{source}.csv", source, db)
    people = csv_bytes(
        "person_ref,family_ref,birth_year,sex,role",  # no birth_month column at all
        "P-0001001,FAM-000101,1984,F,adult",
        "P-0001002,FAM-000101,2008,M,child",
    )
    load(people, "people", db, name="people.csv")
    more = csv_bytes(
        "role,sex,birth_month,birth_year,family_ref,person_ref",  # any order, one empty
        "adult,M,,1979,FAM-000102,P-0001003",
        "child,F,4,2011,FAM-000102,P-0001005",
    )
    load(more, "people", db, name="more-people.csv")
    terms = csv_bytes(
        "person_ref,term_start,sessions_possible,sessions_missed",  # no term_end column
        "P-0001002,2014-09-01,140,12",
    )
    load(terms, "attendance", db, name="terms.csv")
    frame = pd.DataFrame(
        {
            "person_ref": ["P-0001002", "P-0001005"],
            "term_start": pd.to_datetime(["2015-01-05", "2016-09-05"]),
            "term_end": pd.to_datetime([None, "2016-12-16"]),
            "sessions_possible": [124, 138],
            "sessions_missed": [9, 20],
        }
    )
    load(parquet_bytes(frame), "attendance", db, name="terms.parquet")
    months = query(db, "SELECT birth_year, birth_month FROM people ORDER BY birth_year")
    assert months["birth_month"].isna().tolist() == [True, True, True, False]  # 1979-2008
    assert months["birth_month"].iloc[3] == 4  # 2011
    ends = query(db, "SELECT term_start, term_end FROM attendance ORDER BY term_start")
    assert ends["term_end"].isna().tolist() == [True, True, False]
    assert ends["term_end"].iloc[2] == pd.Timestamp(2016, 12, 16)


def test_the_samples_follow_their_contracts_and_load(tmp_path: Path) -> None:
    db = tmp_path / "samples.duckdb"
    for source in SOURCES:
        header = (SAMPLES / f"{source}.csv").read_text().splitlines()[0]
        assert header == ",".join(CONTRACTS[source].names), source
        assert load(SAMPLES / f"{source}.csv", source, db).rows > 0
    assert query(db, "SELECT count(*) AS n FROM ae_attendances")["n"][0] == 3  # repeats count


def test_social_care_episodes_load_with_their_kind_and_open_ends(tmp_path: Path) -> None:
    db = tmp_path / "care.duckdb"
    for source in ("families", "people", "social_care"):
        load(SAMPLES / f"{source}.csv", source, db)
    episodes = query(
        db,
        "SELECT episode_type, start_date, end_date FROM social_care ORDER BY start_date",
    )
    assert episodes["episode_type"].tolist() == [
        "child_in_need",
        "child_in_need",
        "child_protection_plan",
        "looked_after",
    ]
    assert episodes["end_date"].isna().tolist() == [False, True, False, True]
    covered = query(db, "SELECT * FROM coverage WHERE source = 'social_care'")
    assert len(covered) == 1  # recorded by the load (too few children for any months)


def test_the_data_stewards_guide_documents_every_column() -> None:
    guide = (config.PROJECT_ROOT / "docs" / "guides" / "data-steward.md").read_text()
    section = guide.split("## Loading agency extracts", 1)[1].split("\n## ", 1)[0]
    for source, contract in CONTRACTS.items():
        (row,) = [line for line in section.splitlines() if line.startswith(f"| `{source}` |")]
        for column in contract.names:
            assert f"`{column}`" in row, (source, column)
    for setting in (
        config.PSEUDO_KEY_ENV_VAR,
        config.PSEUDO_KEY_FILE_ENV_VAR,
        config.MAX_UNLINKED_SHARE_ENV_VAR,
    ):
        assert setting in section


# --- pseudonym key --------------------------------------------------------------------------


def test_a_new_key_file_is_private_and_used_again(tmp_path: Path, monkeypatch) -> None:
    key_file = tmp_path / "config" / "tf-eval" / "pseudonym.key"
    monkeypatch.delenv(config.PSEUDO_KEY_ENV_VAR)
    monkeypatch.setenv(config.PSEUDO_KEY_FILE_ENV_VAR, str(key_file))
    db = tmp_path / "data" / "real.duckdb"
    load(SAMPLES / "families.csv", "families", db)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    key = key_file.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert key.encode() not in db.read_bytes()
    assert load(SAMPLES / "people.csv", "people", db).rows == 7  # same key: families found
    assert key_file.read_text().strip() == key


def test_an_unsafe_or_different_key_is_refused(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "real.duckdb"
    load(SAMPLES / "families.csv", "families", db)
    before = sha(db)
    monkeypatch.setenv(config.PSEUDO_KEY_ENV_VAR, "tests-only-another-key-f3a9c27e51b8d406")
    with pytest.raises(pseudonymise.PseudonymKeyError, match="not the one .* was loaded with"):
        load(SAMPLES / "people.csv", "people", db)
    monkeypatch.setenv(config.PSEUDO_KEY_ENV_VAR, "too-short")
    with pytest.raises(pseudonymise.PseudonymKeyError, match="has 9 characters; it needs at least"):
        load(SAMPLES / "people.csv", "people", db)
    monkeypatch.delenv(config.PSEUDO_KEY_ENV_VAR)
    shared = tmp_path / "shared.key"
    shared.write_text(KEY)
    shared.chmod(0o644)
    monkeypatch.setenv(config.PSEUDO_KEY_FILE_ENV_VAR, str(shared))
    with pytest.raises(pseudonymise.PseudonymKeyError, match="can be read by others"):
        load(SAMPLES / "people.csv", "people", db)
    assert sha(db) == before
    shared.chmod(0o600)
    assert load(SAMPLES / "people.csv", "people", db).rows == 7  # the store's own key, from file


# --- linkage --------------------------------------------------------------------------------

OFFENCES = csv_bytes(
    "person_ref,offence_date,disposal",
    "P-0001004,2018-01-02,caution",
    "P-0001006,2018-03-04,custody",
    "P-9999999,2018-05-06,caution",
)


def test_unknown_people_refuse_an_outcome_file_unless_a_share_is_allowed(
    sample_store: Path, tmp_path: Path, monkeypatch
) -> None:
    db = tmp_path / "real.duckdb"
    shutil.copyfile(sample_store, db)
    before = sha(db)
    with pytest.raises(
        ingest.IngestRefused,
        match=r"1 of 3 records \(33.3%\) name a person not in the store; none may",
    ):
        load(OFFENCES, "offences", db, name="offences.csv")
    monkeypatch.setenv(config.MAX_UNLINKED_SHARE_ENV_VAR, "0.2")
    with pytest.raises(ingest.IngestRefused, match="at most 20.0% may"):
        load(OFFENCES, "offences", db, name="offences.csv")
    monkeypatch.setenv(config.MAX_UNLINKED_SHARE_ENV_VAR, "0.5")
    with pytest.raises(ingest.IngestRefused, match="'FAM-999999' is not a family"):
        load(csv_bytes(PERSON, "P-9,FAM-999999,1980,F,adult"), "people", db, name="people.csv")
    assert sha(db) == before
    result = load(OFFENCES, "offences", db, name="offences.csv")
    assert (result.offered, result.rows) == (3, 2)
    assert query(db, "SELECT count(*) AS n FROM offences")["n"][0] == 2
    current = store.Store(db)
    report = ingest.linkage_report(current).set_index("source")
    current.close()
    assert report.loc["offences"].tolist() == [3, 2, pytest.approx(2 / 3)]
    assert report.loc["people"].tolist() == [7, 7, 1.0]
    monkeypatch.setenv(config.MAX_UNLINKED_SHARE_ENV_VAR, "lots")
    with pytest.raises(ingest.IngestError, match="must be a share from 0 to 0.5"):
        load(SAMPLES / "offences.csv", "offences", db)


def test_a_store_that_cannot_be_upgraded_is_left_as_it_was(tmp_path: Path) -> None:
    """A version-2 store whose social_care rows have no episode_type (no tf-eval load wrote
    them) refuses a load in one line, and stays byte-identical: the upgrade is the load's."""
    from tests.test_store import _version_2_store

    db = tmp_path / "old.duckdb"
    _version_2_store(db, episodes=1)
    with duckdb.connect(str(db)) as con:
        con.execute("INSERT INTO store_info VALUES ('kind', 'real')")
    before = sha(db)
    with pytest.raises(store.StoreError, match="cannot bring the store up to schema version 3"):
        load(SAMPLES / "social_care.csv", "social_care", db)
    assert sha(db) == before and not work_files(db)
