"""The synthetic demo store: a linked store with planted effects and their exact truth, built from
the world in tf_eval.data.demo_world (what is generated, and why it is hard for the method) and
the truth in tf_eval.data.demo_truth.

`build_demo_store` writes a store in one transaction, moved into place only when complete;
`write_demo_extracts` writes the same records as agency extracts, for rehearsing a load.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.data import contracts, coverage, store
from tf_eval.data.demo_truth import TruthSums
from tf_eval.data.demo_world import (
    LOCAL_AUTHORITIES,
    NO_EFFECTS,
    DemoCalendar,
    PlantedEffects,
    generate_batch,
)
from tf_eval.governance import private

Progress = Callable[[float, str], None]

__all__ = [
    "DEMO_TABLES",
    "NO_EFFECTS",
    "DemoCalendar",
    "PlantedEffects",
    "build_demo_store",
    "write_demo_extracts",
]

# The record tables the demo fills: all of them.
DEMO_TABLES = store.RECORD_TABLES
LA_CODES = tuple(a.code for a in LOCAL_AUTHORITIES)
# The defaults of a build: the planted effects and the calendar of docs/method.md.
DEFAULT_EFFECTS = PlantedEffects()
DEFAULT_CALENDAR = DemoCalendar()
# The pre-divergence variant's strength (tf_eval.data.demo_world): what the tests and the event
# study's Monte Carlo build to see the pre-trend test reject.
PRE_DIVERGENCE_DEMO = 0.5


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, load_id: int) -> None:
    columns = ", ".join(frame.columns)
    con.register("batch_frame", frame)
    con.execute(
        f"INSERT INTO {table} ({columns}, load_id) SELECT {columns}, ? FROM batch_frame", [load_id]
    )
    con.unregister("batch_frame")


def _check_replaceable(path: Path) -> None:
    """A demo build may replace an earlier demo store, never a store holding loaded data."""
    if not path.exists():
        return
    if store.not_a_database(path):
        raise store.StoreError(
            f"{path} exists and is not a tf-eval demo store (not a DuckDB database file); "
            "refusing to replace it"
        )
    try:
        con = store.connect(path, read_only=True)
        try:
            kind = con.execute("SELECT value FROM store_info WHERE key = 'kind'").fetchall()
        finally:
            con.close()
    except store.StoreKeyError:
        raise
    except (duckdb.Error, store.StoreError) as exc:
        raise store.StoreError(
            f"{path} exists and is not a tf-eval demo store ({str(exc).splitlines()[0]}); "
            "refusing to replace it"
        ) from exc
    if kind != [("demo",)]:
        raise store.StoreError(
            f"{path} holds loaded data, not a demo store; refusing to replace it "
            "(choose another --db)"
        )


@private.owner_only_files()  # the store, its .wal and the temporary file: 0600 from the start
def build_demo_store(
    path: Path,
    families: int = config.DEMO_FAMILIES,
    seed: int = config.DEMO_SEED,
    effects: PlantedEffects = DEFAULT_EFFECTS,
    progress: Progress | None = None,
    support_shift: float = 0.0,
    calendar: DemoCalendar = DEFAULT_CALENDAR,
    truth: TruthSums | None = None,
    pre_divergence: float = 0.0,
) -> dict[str, int]:
    """Build a complete demo store at `path` and return its row count per table.

    `pre_divergence` (off by default; PRE_DIVERGENCE_DEMO for the variant) makes some families'
    troubles grow over the year before identification, and those families likelier to be
    supported: supported families were already diverging before support, which the event study's
    pre-trend test should find (tf_eval.data.demo_world).

    `truth`, if given, collects the planted truth instead of a fresh TruthSums: a study passes
    one kept by family to read each family's truth afterwards (studies/monte_carlo.py).

    `calendar` sets the years the records cover and families are identified in (by default
    2012-2022 and 2014-2020).

    `support_shift` is added to every family's log-odds of being supported: 0 makes about 38% of
    families supported; benchmarks/bench_national.py uses -1.0 for about one in five, the
    national programme's mix (400,000 supported among 2 million families identified).

    The store is written to a temporary file beside `path` and moved into place only when
    complete, so a failed or interrupted build never leaves a half-written store.
    """
    if families < 1:
        raise ValueError("families must be at least 1")
    _check_replaceable(path)
    report = progress or (lambda fraction, message: None)
    tmp = path.with_name(f".{path.name}.building-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    batches = -(-families // config.DEMO_BATCH_FAMILIES)
    seeds = np.random.SeedSequence(seed).spawn(batches)
    loads = {table: i + 1 for i, table in enumerate(DEMO_TABLES)}
    truth = truth if truth is not None else TruthSums(LA_CODES)
    try:
        con = store.connect(tmp, read_only=False)
        try:
            con.execute(f"SET memory_limit = '{config.DEMO_BUILD_MEMORY_LIMIT}'")
            store.create_schema(con)
            con.execute("BEGIN TRANSACTION")
            for b in range(batches):
                report(
                    b / batches,
                    f"Generating families {b * config.DEMO_BATCH_FAMILIES + 1:,}"
                    f"-{min((b + 1) * config.DEMO_BATCH_FAMILIES, families):,} of {families:,}",
                )
                size = min(config.DEMO_BATCH_FAMILIES, families - b * config.DEMO_BATCH_FAMILIES)
                frames = generate_batch(
                    seeds[b], size, effects, truth, calendar, support_shift, pre_divergence
                )
                for table, frame in frames.items():
                    _insert(con, table, frame, loads[table])
            report(0.97, "Recording provenance and the planted truth")
            counts = _record_provenance(
                con, families, seed, effects, loads, truth, support_shift, calendar, pre_divergence
            )
            report(0.98, "Recording what the records cover")
            coverage.record_coverage(con)
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        Path(f"{path}.wal").unlink(missing_ok=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
        raise
    report(1.0, f"Demo store ready: {families:,} families")
    return counts


def _record_provenance(
    con: duckdb.DuckDBPyConnection,
    families: int,
    seed: int,
    effects: PlantedEffects,
    load_ids: dict[str, int],
    truth: TruthSums,
    support_shift: float,
    calendar: DemoCalendar,
    pre_divergence: float = 0.0,
) -> dict[str, int]:
    """One `loads` row per table, the store's description and `demo_truth`; returns row counts."""
    shifted = f", support shift {support_shift:+g}" if support_shift else ""
    if pre_divergence:
        shifted += f", supported families diverging before support ({pre_divergence:g})"
    description = f"synthetic demo (seed {seed}, {families} families{shifted})"
    parameters = f"tf-eval {config.VERSION} {description} {effects} {calendar}"
    digest = hashlib.sha256(parameters.encode()).hexdigest()
    now = datetime.now()
    counts = {}
    for table, load_id in load_ids.items():
        counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        con.execute(
            "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?)",
            [load_id, table, description, digest, counts[table], now, "tf-eval demo"],
        )
    info = {
        "kind": "demo",
        "seed": str(seed),
        "families": str(families),
        "support_shift": str(support_shift),
        **({"pre_divergence": str(pre_divergence)} if pre_divergence else {}),
        "created_at": now.isoformat(timespec="seconds"),
        "tf_eval_version": config.VERSION,
    }
    info.update({f"effect.{f.name}": str(getattr(effects, f.name)) for f in fields(effects)})
    con.executemany("INSERT INTO store_info VALUES (?, ?)", list(info.items()))
    truth_frame = truth.frame()
    con.register("truth_frame", truth_frame)
    con.execute("INSERT INTO demo_truth SELECT * FROM truth_frame")
    con.unregister("truth_frame")
    counts["demo_truth"] = len(truth_frame)
    return counts


@private.owner_only_files()  # raw agency references: owner-only folder and files
def write_demo_extracts(
    directory: Path,
    families: int = config.DEMO_FAMILIES,
    seed: int = config.DEMO_SEED,
    effects: PlantedEffects = DEFAULT_EFFECTS,
    progress: Progress | None = None,
    calendar: DemoCalendar = DEFAULT_CALENDAR,
) -> dict[str, int]:
    """Write the demo's records as agency extracts, one SOURCE.csv per source in `directory`,
    and return the records per file. They carry agency references instead of pseudonyms (family
    'FAM-000001', person 'P-0000001', numbered in the order generated; the same person reference
    in every source), so a steward can rehearse loading: ingesting them in source order gives the
    store `build_demo_store` makes from the same seed, up to its pseudonyms. Refuses to overwrite
    a file; the files appear only when all are complete."""
    if families < 1:
        raise ValueError("families must be at least 1")
    report = progress or (lambda fraction, message: None)
    targets = {source: directory / f"{source}.csv" for source in contracts.SOURCES}
    existing = [path.name for path in targets.values() if path.exists()]
    if existing:
        raise FileExistsError(f"{directory} already holds {', '.join(existing)}; choose another")
    private.make_dirs(directory)
    drafts = {source: path.with_name(f".{path.name}.partial") for source, path in targets.items()}
    batches = -(-families // config.DEMO_BATCH_FAMILIES)
    seeds = np.random.SeedSequence(seed).spawn(batches)
    counts = dict.fromkeys(contracts.SOURCES, 0)
    try:
        for b in range(batches):
            start = b * config.DEMO_BATCH_FAMILIES
            size = min(config.DEMO_BATCH_FAMILIES, families - start)
            report(b / batches, f"Writing families {start + 1:,}-{start + size:,} of {families:,}")
            frames = generate_batch(seeds[b], size, effects, TruthSums(LA_CODES), calendar)
            references = {
                "family_id": _references(frames["families"]["family_id"], "FAM-", 6, start),
                "person_id": _references(frames["people"]["person_id"], "P-", 7, counts["people"]),
            }
            for source, frame in frames.items():
                for column, (ids, refs) in references.items():
                    if column in frame:
                        frame[column] = refs[ids.get_indexer(frame[column])]
                names = [c.stored_as for c in contracts.CONTRACTS[source].columns]
                extract = frame[names].set_axis(contracts.CONTRACTS[source].names, axis=1)
                extract.to_csv(
                    drafts[source],
                    mode="a" if b else "w",
                    header=not b,
                    index=False,
                    date_format="%Y-%m-%d",
                )
                counts[source] += len(frame)
        for source, draft in drafts.items():
            os.replace(draft, targets[source])
    finally:
        for draft in drafts.values():
            draft.unlink(missing_ok=True)
    report(1.0, f"Demo extracts ready in {directory}")
    return counts


def _references(
    ids: pd.Series, prefix: str, width: int, written: int
) -> tuple[pd.Index, np.ndarray]:
    """A batch's pseudonyms and the agency references that replace them, numbered on from the
    `written` families or people of earlier batches."""
    numbers = pd.Series(np.arange(written + 1, written + len(ids) + 1)).astype(str).str.zfill(width)
    return pd.Index(ids), (prefix + numbers).to_numpy()
