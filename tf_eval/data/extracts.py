"""Reading an agency extract - CSV or Parquet, from a path or an upload's bytes - as text.

Every value comes back as text, so one set of checks (tf_eval.data.contracts) words every problem
the same way whatever the format. Each record keeps its row number for messages: the line of a CSV
file (the header is line 1), or the row of a Parquet file (the first is row 1). A CSV value may
not run over a line break, so that a line number always points at one record.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tf_eval import config
from tf_eval.data.contracts import Contract, Problems
from tf_eval.governance import untrusted

PARQUET_MAGIC = b"PAR1"
_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, kept by surrogateescape


@dataclass(frozen=True)
class Extract:
    text: pd.DataFrame  # one column of strings per contract column, in the contract's order
    rows: np.ndarray  # each record's line (CSV) or row (Parquet) number


def too_large(data: bytes | Path, name: str) -> str | None:
    """Why the file is too large to read into memory (config.EXTRACT_MAX_BYTES and
    EXTRACT_MAX_ROWS), in one line, or None. Only its size, a Parquet file's footer or a CSV's
    line breaks are read: a small Parquet file can hold millions of rows (the same value over and
    over compresses to nothing), which reading it whole would unpack into gigabytes."""
    size = len(data) if isinstance(data, bytes) else data.stat().st_size
    megabytes = config.EXTRACT_MAX_BYTES // 2**20
    where = untrusted.plain(name)
    fix = "(EXTRACT_MAX_BYTES and EXTRACT_MAX_ROWS in tf_eval/config.py): split it into files"
    if size > config.EXTRACT_MAX_BYTES:
        mb = size / 2**20
        return f"{where} is {mb:,.0f} MB, more than the {megabytes:,} MB one file may be {fix}"
    if isinstance(data, bytes):
        head = data[:4]
    else:
        with data.open("rb") as file:
            head = file.read(4)
    if head == PARQUET_MAGIC:
        try:
            meta = pq.ParquetFile(io.BytesIO(data) if isinstance(data, bytes) else data).metadata
        except (pa.ArrowException, OSError):
            return None  # read_extract names what is wrong with it
        rows = meta.num_rows
        unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if unpacked > config.EXTRACT_MAX_BYTES:
            return (
                f"{where} holds {unpacked / 2**20:,.0f} MB of data once uncompressed, more than "
                f"the {megabytes:,} MB one file may be {fix}"
            )
    else:
        rows = _line_breaks(data) - 1  # less the header line
    if rows > config.EXTRACT_MAX_ROWS:
        return (
            f"{where} has {rows:,} rows, more than the {config.EXTRACT_MAX_ROWS:,} one file may "
            f"hold {fix}"
        )
    return None


def _line_breaks(data: bytes | Path) -> int:
    """The lines of a text file, counted a megabyte at a time (a last line without a break
    counts)."""
    if isinstance(data, bytes):
        return data.count(b"\n") + (not data.endswith(b"\n"))
    count, last = 0, b"\n"
    with data.open("rb") as handle:
        while chunk := handle.read(2**20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def read_extract(data: bytes, contract: Contract, problems: Problems) -> Extract | None:
    """The file's records as text, or None when its problems (added to `problems`) leave none
    worth checking value by value."""
    if data.startswith(PARQUET_MAGIC):
        problems.row_label = "row"
        return _read_parquet(data, contract, problems)
    return _read_csv(data, contract, problems)


def _read_csv(data: bytes, contract: Contract, problems: Problems) -> Extract | None:
    expected = ",".join(contract.names)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        problems.add("is UTF-16 text (a spreadsheet's 'Unicode text'); save it as CSV UTF-8")
        return None
    if b"\0" in data:
        line = data.count(b"\n", 0, data.index(b"\0")) + 1
        problems.add(
            "holds binary data, not text (a NUL byte); expected a UTF-8 CSV or a Parquet file",
            row=line,
        )
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        _report_encoding(data, problems)
        return None
    text = text.removeprefix("\ufeff")  # the byte-order mark spreadsheets put first
    if not text.strip():
        problems.add(f"the file is empty; expected a header line '{expected}', then records")
        return None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records, rows = [], []
    try:
        header = next(reader)
        if not _header_fits(header, contract, problems):
            return None
        width = len(header)
        last_line = reader.line_num
        for record in reader:
            line, last_line = last_line + 1, reader.line_num
            if line != last_line:
                problems.add(f"a quoted value runs over lines {line}-{last_line}", row=line)
            elif record and len(record) != width:
                problems.add(f"{len(record)} values, expected {width}", row=line)
            elif record:
                records.append(record)
                rows.append(line)
    except csv.Error as exc:
        problems.add(f"cannot be read as CSV ({exc})", row=reader.line_num)
        return None
    if not records and not problems:
        problems.add("the file has a header line but no records")
    if not records:
        return None
    text_frame = pd.DataFrame(records, columns=header, dtype=object)
    return Extract(_with_optional(text_frame, contract), np.asarray(rows, dtype=np.int64))


def _report_encoding(data: bytes, problems: Problems) -> None:
    """One problem per line holding bytes that are not UTF-8."""
    lines = data.decode("utf-8", errors="surrogateescape").split("\n")
    for number, line in enumerate(lines, start=1):
        found = _NOT_UTF8.search(line)
        if found:
            byte = ord(found.group()) - 0xDC00
            problems.add(
                f"byte 0x{byte:02X} at character {found.start() + 1} is not UTF-8 text "
                "(save the file as CSV UTF-8)",
                row=number,
            )


def _header_fits(names: list[str], contract: Contract, problems: Problems) -> bool:
    """Exactly the contract's columns, in any order. Extra columns are refused, not ignored:
    they may carry personal data (names, addresses) that the store must never hold."""
    expected = ", ".join(contract.names)
    where = 1 if problems.row_label == "line" else None
    if len(names) == 1 and len(contract.names) > 1:
        for delimiter, word in _OTHER_DELIMITERS.items():
            if delimiter in names[0]:
                problems.add(f"columns are separated by {word}; expected commas", row=where)
                return False
    seen = set()
    for name in names:
        if name in seen:
            problems.add("column appears twice", row=where, column=name)
        elif name not in contract.names:
            problems.add(
                f"unexpected column (a {contract.source} extract has only: {expected}; other "
                "columns may hold personal data and are refused)",
                row=where,
                column=name,
            )
        seen.add(name)
    for name in contract.required:
        if name not in seen:
            problems.add(f"column is missing (expected: {expected})", row=where, column=name)
    return not problems


def _with_optional(text: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The contract's columns in its order, an optional column the file left out as empty."""
    for name in contract.names:
        if name not in text.columns:
            text[name] = ""
    return text[list(contract.names)]


def _read_parquet(data: bytes, contract: Contract, problems: Problems) -> Extract | None:
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problems.add(f"is not a readable Parquet file ({reason})")
        return None
    if not _header_fits(table.column_names, contract, problems):
        return None
    if table.num_rows == 0:
        problems.add("the file has columns but no rows")
        return None
    columns = {}
    for name in (n for n in contract.names if n in table.column_names):
        try:
            columns[name] = _as_text(table.column(name))
        except pa.ArrowException:
            problems.add(
                f"holds {table.column(name).type} values; expected text, dates or whole numbers",
                column=name,
            )
    if problems:
        return None
    text = _with_optional(pd.DataFrame(columns), contract)
    return Extract(text, np.arange(1, table.num_rows + 1, dtype=np.int64))


def _as_text(column: pa.ChunkedArray) -> np.ndarray:
    """Values as the text a CSV would hold: dates YYYY-MM-DD (a timestamp at midnight is a
    date), whole floats without '.0', missing values empty."""
    kind = column.type
    if pa.types.is_floating(kind):
        filled = pc.fill_null(column, 0.0)
        if pc.all(pc.equal(filled, pc.floor(filled))).as_py():
            column = pc.cast(column, pa.int64())
    text = pc.cast(column, pa.string())
    if pa.types.is_timestamp(kind):
        text = pc.replace_substring_regex(text, r" 00:00:00(\.0+)?$", "")
    return pc.fill_null(text, "").to_numpy(zero_copy_only=False).astype(object)
