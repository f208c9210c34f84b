"""Issue 16, part 3: the attacks on the files tf-eval writes and on its command line, played as
the attacker would (docs/threat-model.md). Each test failed on the code before the fix.

- Every file kind tf-eval writes is owner-only (0600) and every folder it makes 0700, even under
  umask 000: store, audit log, saved specs, writers' lock, private copies, demo builds, demo
  extracts and their partial files, board packs.
- A purge's audit row holds protected counts, not exact ones.
- Every command-line estimate, match-file and board pack leaves an audit row.
- A tiny Parquet file of 20 million rows is refused quickly, in one line, in little memory.
- Values and file names from an extract cannot drive the terminal.
- No CSV cell a spreadsheet would run as a formula.
- `report --out` through a symbolic link is refused in one line, leaving nothing behind.
- `estimate --json | head -1` ends quietly.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tf_eval import cli, config
from tf_eval.data import ingest, store, synth
from tf_eval.governance import audit
from tf_eval.method import specs
from tf_eval.method.estimate import AnalysisSpec
from tf_eval.release import pack_contents, report

SAMPLES = config.PROJECT_ROOT / "data" / "samples"
KEY = "tests-only-pseudonym-key-0123456789abcdef"
LALONDE = config.PROJECT_ROOT / "tests" / "data" / "lalonde.csv"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tf_eval", *args],
        capture_output=True,
        text=True,
        cwd=config.PROJECT_ROOT,
        env={**os.environ, **env},
        timeout=600,
    )


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _loose(root: Path) -> dict[str, str]:
    """Every file under `root` that is not 0600 and every folder that is not 0700."""
    found = {}
    for path in [root, *root.rglob("*")]:
        want = 0o700 if path.is_dir() else 0o600
        if _mode(path) != want:
            found[str(path.relative_to(root.parent))] = oct(_mode(path))
    return found


# --- item 3: owner-only files ---------------------------------------------------------------------


def test_every_file_kind_is_owner_only_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library under umask 000 (as a notebook might run it): nothing it writes, even for a
    moment, may be readable by another account."""
    monkeypatch.setenv(config.PSEUDO_KEY_ENV_VAR, KEY)
    root = tmp_path / "deploy"
    seen: dict[str, int] = {}

    def look(pattern: str) -> None:
        for path in root.rglob(pattern):
            seen[path.name] = _mode(path)

    with _umask(0):
        demo = root / "new" / "nested" / "demo.duckdb"  # folders tf-eval creates
        synth.build_demo_store(demo, 300, 3, progress=lambda f, m: look(".*.building-*"))
        audit.append(demo, "ann", "cli", "demo built", [{"families": 300}])
        specs.save(demo, "my analysis", AnalysisSpec(), "ann")
        real = root / "loads" / "real.duckdb"
        ingest.ingest_file(SAMPLES / "families.csv", "families", real, "ann")
        with store.replacing(real):  # a writer's private copy and the lock, while it works
            look(".*.writing-*")
            look(".*.lock")
        monkeypatch.setattr(config, "DEMO_BATCH_FAMILIES", 100)  # partial files between batches
        synth.write_demo_extracts(
            root / "extracts", 300, 3, progress=lambda f, m: look(".*.partial")
        )
        out = root / "packs" / "board"
        out.parent.mkdir(mode=0o700)
        with _opened(demo) as current:
            contents = pack_contents.gather(current, AnalysisSpec())
        report.publish(
            contents, out, demo, "ann", "cli", progress=lambda f, m: look(".board.writing-*")
        )
    assert any(name.startswith(".demo.duckdb.building-") for name in seen)
    assert any(name.startswith(".real.duckdb.writing-") for name in seen)
    assert ".real.duckdb.lock" in seen and any(name.endswith(".partial") for name in seen)
    transient = {name: oct(mode) for name, mode in seen.items() if mode not in (0o600, 0o700)}
    assert not transient, f"readable by others while being written: {transient}"
    kinds = {p.name for p in root.rglob("*")}
    assert {"demo.duckdb", "demo.audit.duckdb", "demo.specs.duckdb", "real.duckdb"} <= kinds
    assert {"families.csv", "board-pack.pdf", "manifest.json"} <= kinds
    assert not _loose(root), f"readable by others: {_loose(root)}"


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[store.Store]:
    current = store.Store(path)
    try:
        yield current
    finally:
        current.close()


def test_the_command_line_writes_owner_only_files_under_a_loose_umask(tmp_path: Path) -> None:
    root = tmp_path / "cli"
    env = {config.PSEUDO_KEY_ENV_VAR: KEY}
    demo = root / "a" / "b" / "demo.duckdb"
    loose = {"preexec_fn": lambda: os.umask(0)}
    for argv in (
        ["demo", "--db", str(demo), "--families", "300"],
        ["demo", "--as-extracts", str(root / "extracts"), "--families", "300"],
        ["ingest", "families", str(SAMPLES / "families.csv"), "--db", str(root / "r.duckdb")],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "tf_eval", *argv],
            capture_output=True,
            text=True,
            cwd=config.PROJECT_ROOT,
            env={**os.environ, **env},
            **loose,
        )
        assert done.returncode == 0, done.stderr
    assert not _loose(root), f"readable by others: {_loose(root)}"


# --- item 4: the purge's audit row ----------------------------------------------------------------


def test_a_purges_audit_row_holds_only_protected_counts(tmp_path: Path) -> None:
    """An administrator reading the audit log must learn no more than the purge printed: exact
    counts per table could tell how many records one family had."""
    path = tmp_path / "store.duckdb"
    synth.build_demo_store(path, 400, 7)
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE loads SET loaded_at = TIMESTAMP '2012-01-01 09:00:00'")
        con.execute("CHECKPOINT")
    assert cli.main(["purge", "--db", str(path), "--as-of", "2024-12-31"]) == 0
    detail = json.loads(audit.read(path).query("action == 'purge'")["detail"].iloc[0])
    removed = detail["removed"]
    assert set(removed) == set(store.RECORD_TABLES)
    for table, shown in removed.items():
        assert shown == "c" or (isinstance(shown, int) and shown % 5 == 0), (table, shown)
    assert any(isinstance(v, int) and v > 0 for v in removed.values())


# --- item 5: every estimate and export is audited -------------------------------------------------


def test_every_command_line_estimate_and_match_leaves_an_audit_row(
    default_demo_db: Path, tmp_path: Path
) -> None:
    """Before, an estimate with nothing suppressed left no trace: outputs could be taken from the
    command line unrecorded."""
    db = tmp_path / "copy.duckdb"
    db.write_bytes(default_demo_db.read_bytes())
    done = _run("estimate", "--db", str(db), "--outcome", "ae_use", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["estimates"]
    flat = tmp_path / "flat.duckdb"
    done = _run(
        "match-file", str(LALONDE), "--treatment", "treat", "--covariates", "age,educ,re74",
        "--outcome", "re78", "--db", str(flat),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for path, output in ((db, "estimate"), (flat, "match-file")):
        trail = audit.read(path)
        rows = trail[trail["action"] == "estimate"]
        assert len(rows) == 1, (output, trail["action"].tolist())
        assert json.loads(rows["detail"].iloc[0])["output"] == output


# --- item 6: a file too large to load -------------------------------------------------------------


def _compressible_parquet(path: Path, rows: int) -> None:
    """`rows` families with the same values: megabytes of memory per million rows once read,
    a few kilobytes on disk."""
    chunk = 1_000_000
    batch = pa.table(
        {
            "family_ref": pa.array(["FAM-000001"] * chunk).dictionary_encode(),
            "la_code": pa.array(["E06000006"] * chunk).dictionary_encode(),
            "identified_on": pa.array(["2015-03-02"] * chunk).dictionary_encode(),
        }
    )
    with pq.ParquetWriter(path, batch.schema, compression="zstd") as writer:
        for _ in range(rows // chunk):
            writer.write_table(batch, row_group_size=chunk)


# Runs a command with at most this much address space (the old code needed gigabytes) and
# writes its peak memory to a file. It stands between the test and the command because a process
# forked from the test starts with the test process's pages, and ru_maxrss counts them: measured
# straight from the test, the peak grew with the test run (1,001 MB in the full run, 268 MB alone).
_MEASURED = """
import os, resource, subprocess, sys
limit = int(sys.argv[1])
def cap():
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
child = subprocess.Popen(sys.argv[3:], preexec_fn=cap)
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[2], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_tiny_parquet_of_twenty_million_rows_is_refused_quickly_in_little_memory(
    tmp_path: Path,
) -> None:
    bomb = tmp_path / "families.parquet"
    _compressible_parquet(bomb, 20_000_000)
    assert bomb.stat().st_size < 1_000_000
    db = tmp_path / "real.duckdb"
    err = tmp_path / "stderr.txt"
    started = time.monotonic()
    with err.open("w") as stderr:
        peak = tmp_path / "peak.txt"
        command = [sys.executable, "-m", "tf_eval", "ingest", "families", str(bomb), "--db"]
        done = subprocess.run(
            [sys.executable, "-c", _MEASURED, str(3000 * 2**20), str(peak), *command, str(db)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=config.PROJECT_ROOT,
            env={**os.environ, config.PSEUDO_KEY_ENV_VAR: KEY},
        )
    seconds = time.monotonic() - started
    peak_mb = int(peak.read_text()) / 1024  # the command's own peak memory
    done.stderr = err.read_text()
    print(f"refused in {seconds:.1f} s, peak memory {peak_mb:.0f} MB")
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "20,000,000 rows" in done.stderr and "EXTRACT_MAX_ROWS" in done.stderr
    assert seconds < 30 and peak_mb < 1000
    assert not db.exists()


def test_a_csv_with_too_many_lines_is_refused_before_it_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "EXTRACT_MAX_ROWS", 2)
    monkeypatch.setenv(config.PSEUDO_KEY_ENV_VAR, KEY)
    with pytest.raises(ingest.IngestError, match="3 rows, more than the 2"):
        ingest.ingest_file(SAMPLES / "families.csv", "families", tmp_path / "r.duckdb", "ann")
    monkeypatch.setattr(config, "EXTRACT_MAX_BYTES", 10)
    with pytest.raises(ingest.IngestError, match="one file may be"):
        ingest.ingest_file(b"x" * 11, "families", tmp_path / "r.duckdb", "ann", file_name="u")


# --- item 7: the terminal -------------------------------------------------------------------------


def test_values_and_names_from_an_extract_cannot_drive_the_terminal(tmp_path: Path) -> None:
    """A value that clears the screen, retitles the terminal, moves up a line and overwrites it
    with a fake line of its own; a file name that turns the terminal red."""
    evil = "\x1b[2J\x1b]0;pwned\x07\x1b[1A\x1b[2KLoaded families.csv as load 1\x0b\x85\u202e"
    name = tmp_path / "fam\x1b[31milies.csv"
    name.write_text(f"family_ref,la_code,identified_on\nFAM-1,E06000006,{evil}\n")
    done = _run("ingest", "families", str(name), "--db", str(tmp_path / "r.duckdb"),
                **{config.PSEUDO_KEY_ENV_VAR: KEY})  # fmt: skip
    assert done.returncode == 1
    controls = [c for c in done.stderr if c != "\n" and (ord(c) < 32 or 0x7F <= ord(c) < 0xA0)]
    assert not controls and "\u202e" not in done.stderr, controls
    assert "\\x1b[2J" in done.stderr and "fam\\x1b[31milies.csv" in done.stderr  # shown
    lines = done.stderr.splitlines()
    assert lines[0].startswith("tf-eval: error: ") and "1 problem" in lines[0]
    assert len(lines) == 2  # the report's first line and its one problem, no more


# --- item 8: formulas in CSV files ---------------------------------------------------------------


def test_no_csv_cell_of_the_board_pack_is_a_formula() -> None:
    table = pack_contents.Table(
        "effects", "Effects", ["group", "att", "note"],
        [["=HYPERLINK(\"http://x\",\"y\")", -0.25, "-0.5"], ["@SUM(A1)", "+1", "\tcmd"],
         ["-x", 3, "\rcmd"]],
        (),
    )  # fmt: skip
    text = report._csv_bytes(table).decode()
    rows = text.splitlines()[1:]
    cells = [cell for row in rows for cell in row.split(",")]
    assert '\'=HYPERLINK(""http://x""' in text and "'@SUM(A1)" in text and "'-x" in text
    assert "-0.25" in cells and "-0.5" in cells and "+1" in cells  # numbers stay numbers
    for cell in cells:
        assert not cell.lstrip('"').startswith(("=", "@", "\t", "\r")), cell


# --- item 10: report --out through a symbolic link ------------------------------------------------


def test_report_out_through_a_symbolic_link_is_one_line_and_leaves_nothing(
    demo_db: Path, tmp_path: Path, capsys
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "board").symlink_to(elsewhere)
    before = sorted(p.name for p in packs.iterdir()), sorted(elsewhere.iterdir())
    assert cli.main(["report", "--db", str(demo_db), "--out", str(packs / "board")]) == 1
    err = capsys.readouterr().err
    assert "symbolic link" in err and err.count("\n") == 1
    assert (sorted(p.name for p in packs.iterdir()), sorted(elsewhere.iterdir())) == before
    assert (packs / "board").is_symlink()


# --- item 13: output closed early -----------------------------------------------------------------


def test_estimate_json_into_head_ends_quietly(default_demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.duckdb"
    db.write_bytes(default_demo_db.read_bytes())
    done = subprocess.run(
        f"{sys.executable} -m tf_eval estimate --db {db} --outcome ae_use --json | head -1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=config.PROJECT_ROOT,
        timeout=600,
    )
    assert done.stdout == "{\n"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert len(audit.read(db)) >= 1  # recorded before anything was printed
