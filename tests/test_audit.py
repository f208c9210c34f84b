"""The audit trail: its own append-only file beside the store, written all-or-nothing."""

import hashlib
import json
from pathlib import Path

import duckdb

from tf_eval import cli
from tf_eval.governance import audit
from tf_eval.governance.rules import Suppression


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_suppressions_are_appended_with_who_what_and_why(tmp_path: Path) -> None:
    db = tmp_path / "tf_eval.duckdb"
    assert audit.read(db).empty
    first = [Suppression("t:n[la=A]", "threshold", "count of 1-9")]
    second = [Suppression("e:x", "estimate", "fewer than 10 families in a group compared")] * 2
    assert audit.record_suppressions(db, "overview", first, "ann", "viewer") == 1
    assert audit.record_suppressions(db, "estimate", second, "bob", "cli") == 2
    assert audit.record_suppressions(db, "estimate", [], "bob", "cli") == 0
    log = audit.read(db)
    assert log["user"].tolist() == ["ann", "bob", "bob"]
    assert set(log.columns) == {"at", "user", "role", "action", "detail"}  # the audit_log table
    details = [json.loads(d) for d in log["detail"]]
    assert details[0] == {
        "output": "overview",
        "item": "t:n[la=A]",
        "rule": "threshold",
        "reason": "count of 1-9",
    }
    assert audit.audit_path(db) == tmp_path / "tf_eval.audit.duckdb"
    assert not db.exists()  # the trail never creates or touches the store file


def test_an_estimate_logs_to_the_trail_and_leaves_the_store_bytes_alone(demo_db: Path) -> None:
    before = _sha(demo_db)
    # A caliper so tight that few families match: estimates are withheld, and logged.
    assert cli.main(["estimate", "--db", str(demo_db), "--la", "LA03", "--caliper", "0.0005"]) == 0
    assert _sha(demo_db) == before
    with duckdb.connect(str(audit.audit_path(demo_db)), read_only=True) as con:
        actions = {row[0] for row in con.execute("SELECT action FROM audit_log").fetchall()}
    assert "suppressed" in actions
