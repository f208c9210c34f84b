"""The board pack's files: one analysis for a board as a PDF (tf_eval.release.pack_pdf), every
chart as PNG (twice the size) and SVG, the table behind each chart as CSV, and `manifest.json`
(every file with its sha256, and the provenance); written whole into a folder (`publish`) or a
zip (`archive`), and logged as an export.

It is built from the same safe objects the dashboard shows (tf_eval.release.pack_contents'
`gather` calls the same functions; the dashboard hands over its own cached ones), so a pack can
never show more than the screen: `write_pack` takes only a `PackContents`, whose every field
passed the disclosure gate.

Provenance on every file: the data snapshot (load ids; seed and size of a demo store), the
analysis spec, the disclosure rules, when it was generated and the tf-eval version. The PDF has
it in its metadata (Subject in words, Keywords as JSON) and on its last page; a PNG in `tEXt`
chunks, an SVG in `<metadata>`. A CSV holds its table alone, header on line 1, as the government
statistical service's guidance on machine-readable tables asks (`pandas.read_csv(path)` or a
spreadsheet opens it as it is): its title, notes and provenance are in `manifest.json`.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import shutil
import struct
import tempfile
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import kaleido
import plotly.graph_objects as go
from kaleido.errors import (
    BrowserClosedError,
    BrowserFailedError,
    ChromeNotFoundError,
    JavascriptError,
    KaleidoError,
)

from tf_eval import config
from tf_eval.governance import audit, private, untrusted
from tf_eval.release.pack_contents import (
    GENERATOR,
    MANIFEST_NAME,
    PackContents,
    Progress,
    Table,
    pack_charts,
    pack_provenance,
    pack_tables,
    provenance_summary,
)
from tf_eval.release.pack_pdf import pack_title, render_pdf

PDF_NAME = "board-pack.pdf"


class ReportError(RuntimeError):
    """The pack cannot be made or written; the message says why and what to do, in one line."""


# --- files ----------------------------------------------------------------------------------------


def _csv_bytes(table: Table) -> bytes:
    """One table as a machine-readable CSV (the GSS guidance): the header on line 1, then the
    rows, nothing else; its title, notes and provenance are in the manifest (`_table_notes`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([untrusted.csv_cell(cell) for cell in table.header])
    writer.writerows([untrusted.csv_cell(cell) for cell in row] for row in table.rows)
    return out.getvalue().encode("utf-8")


def _table_notes(table: Table, prov: dict[str, Any]) -> list[str]:
    """What a reader of one CSV needs to know, for its entry in the manifest."""
    base = prov["disclosure_rules"]["count_rounding"]
    mark = prov["disclosure_rules"]["suppressed_mark"]
    notes = [f"{table.title}.", *table.notes]
    if table.counts:
        notes.append(
            f"Counts ({', '.join(table.counts)}) are rounded to the nearest {base} after small "
            f"consistent noise; {mark} marks a suppressed count."
        )
    notes.append(
        "An empty value was withheld by the disclosure rules; other numbers are given to "
        f"{prov['disclosure_rules']['significant_figures']} significant figures at most."
    )
    notes.append(f"Provenance: {provenance_summary(prov)} (in full under 'provenance').")
    return notes


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_with_text(png: bytes, text: dict[str, str]) -> bytes:
    """The PNG with `tEXt` chunks (latin-1 keyword and text) right after its header chunk."""
    header_end = 8 + 4 + 4 + 13 + 4  # signature, then IHDR's length, type, data and CRC
    chunks = b"".join(
        _png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace"))
        for key, value in text.items()
    )
    return png[:header_end] + chunks + png[header_end:]


def _svg_with_metadata(svg: bytes, title: str, prov: dict[str, Any]) -> bytes:
    """The SVG with a <title> and the provenance (JSON) in <metadata>, first inside <svg>."""
    text = svg.decode("utf-8")
    start = text.index("<svg")
    opened = text.index(">", start) + 1
    extra = (
        f"<title>{escape(title)}</title>"
        f'<metadata id="tf-eval-provenance">{escape(json.dumps(prov))}</metadata>'
    )
    return (text[:opened] + extra + text[opened:]).encode("utf-8")


def find_browser() -> str:
    """The Chromium that draws the charts, or a one-line ReportError naming the fix."""
    named = os.environ.get(config.BROWSER_ENV_VAR)
    if named:
        if not (Path(named).is_file() and os.access(named, os.X_OK)):
            raise ReportError(
                f"{config.BROWSER_ENV_VAR}={named} is not a program: point it at a Chrome or "
                f"Chromium executable, or unset it and `{config.BROWSER_INSTALL_HINT}`"
            )
        return named
    found = next(filter(None, map(shutil.which, config.BROWSER_NAMES)), None)
    if not found:
        raise ReportError(
            "chart images need a Chromium browser and none was found on PATH: install it with "
            f"`{config.BROWSER_INSTALL_HINT}` (or set {config.BROWSER_ENV_VAR} to a Chrome or "
            "Chromium executable)"
        )
    return found


def _draw_all(figures: list[go.Figure], browser: str, report: Progress) -> list[tuple[bytes, ...]]:
    """Every chart as PNG and SVG, with one headless browser for the whole pack, closed at the
    end (also after an error). Not kaleido's sync server (`start_sync_server`): when its browser
    fails to start, every later call waits forever; here the failure comes back as an error.
    MathJax is off: the charts use none, and it would be fetched from the network.

    A JavaScript error gets one more try with a fresh browser: kaleido (1.5) can ask its page to
    draw before the page's own script is there ("kaleido_scopes is not defined"), which two
    packs drawn at once on a busy machine met (the test suite's two processes)."""
    size = {"width": config.PACK_CHART_WIDTH}

    async def draw() -> list[tuple[bytes, ...]]:
        async with kaleido.Kaleido(path=browser, mathjax=False) as renderer:
            drawn = []
            for i, figure in enumerate(figures, start=1):
                report(0.45 + 0.45 * i / len(figures), f"Drawing chart {i} of {len(figures)}")
                opts = size | {"height": figure.layout.height}
                png = await renderer.calc_fig(
                    figure, opts=opts | {"format": "png", "scale": config.PACK_PNG_SCALE}
                )
                drawn.append((png, await renderer.calc_fig(figure, opts=opts | {"format": "svg"})))
            return drawn

    def once() -> list[tuple[bytes, ...]]:
        with ThreadPoolExecutor(1) as worker:  # its own event loop, wherever the caller runs
            return worker.submit(asyncio.run, draw()).result()

    try:
        try:
            return once()
        except JavascriptError:
            return once()
    except JavascriptError:
        raise ReportError(
            f"the browser {browser} could not draw the charts: a script failed in its page"
        ) from None
    except (BrowserFailedError, BrowserClosedError, ChromeNotFoundError, KaleidoError) as exc:
        said = str(exc.args[0]) if exc.args else type(exc).__name__  # choreographer: a tuple
        first = (said.splitlines() or [type(exc).__name__])[0]
        raise ReportError(f"the browser {browser} could not draw the charts: {first}") from None
    except TimeoutError:
        raise ReportError(f"the browser {browser} took too long to draw a chart") from None


def write_pack(
    contents: PackContents,
    folder: Path,
    browser: str,
    spec_name: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write every file of the pack into the existing, empty `folder`; return the manifest."""
    report = progress or (lambda fraction, message: None)
    generated_at = datetime.now(UTC)
    prov = pack_provenance(contents, spec_name, generated_at)
    figures = pack_charts(contents)
    tables = pack_tables(contents, figures)
    files: dict[str, bytes] = {}
    entries: list[dict[str, Any]] = []
    drawn = _draw_all([chart.figure for chart in figures], browser, report)
    for i, (chart, (png, svg)) in enumerate(zip(figures, drawn, strict=True), start=1):
        stem = f"charts/{i:02d}-{chart.name}"
        png_text = {"Title": chart.title, "Software": f"tf-eval {config.VERSION}"}
        files[f"{stem}.png"] = _png_with_text(
            png, png_text | {"tf-eval provenance": json.dumps(prov)}
        )
        files[f"{stem}.svg"] = _svg_with_metadata(svg, chart.title, prov)
        for fmt in ("png", "svg"):
            entries.append(
                {
                    "path": f"{stem}.{fmt}",
                    "kind": "chart",
                    "title": chart.title,
                    "table": f"tables/{chart.table.name}.csv",
                }
            )
    for table in tables:
        path = f"tables/{table.name}.csv"
        files[path] = _csv_bytes(table)
        entries.append(
            {
                "path": path,
                "kind": "table",
                "title": table.title,
                "columns": [str(column) for column in table.header],
                "count_columns": list(table.counts),
                "notes": _table_notes(table, prov),
            }
        )
    report(0.92, "Writing the PDF")
    pngs = [files[f"charts/{i:02d}-{c.name}.png"] for i, c in enumerate(figures, start=1)]
    files[PDF_NAME] = render_pdf(contents, figures, pngs, prov)
    entries.insert(0, {"path": PDF_NAME, "kind": "pdf", "title": pack_title(contents)})
    for entry in entries:
        data = files[entry["path"]]
        entry |= {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    for path, data in files.items():  # owner-only, like the store the figures come from
        private.make_dirs((folder / path).parent)
        private.write_bytes(folder / path, data)
    manifest = {
        "generator": GENERATOR,
        "provenance": prov,
        "suppressed": len(contents.suppressed),
        "files": entries,
    }
    private.write_bytes(folder / MANIFEST_NAME, (json.dumps(manifest, indent=2) + "\n").encode())
    report(1.0, "Board pack written")
    return manifest


# --- releasing the pack ---------------------------------------------------------------------------


def _log(contents: PackContents, store_path: Path, user: str, role: str, detail: dict) -> None:
    """Nothing leaves without its record: the suppressions, then the export itself."""
    audit.record_suppressions(store_path, "board pack", contents.suppressed, user, role)
    audit.append(store_path, user, role, "export", [{"output": "board pack", **detail}])


def _is_pack(folder: Path) -> bool:
    """A folder holding an earlier board pack, and nothing else: safe to replace."""
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        listed = {entry["path"] for entry in manifest["files"]} | {MANIFEST_NAME}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if manifest.get("generator") != GENERATOR:
        return False
    held = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    return held <= listed


def check_out(out: Path) -> None:
    """Refuse an --out that is a symbolic link, a file, a non-empty folder that is not an
    earlier pack, or one whose parent folder is missing, before any work is done. A link is
    refused rather than followed: the pack replaces `out` whole by renaming, which would replace
    the link and not what it points to, and a link someone else made could send the pack where
    they can read it."""
    if out.is_symlink():
        raise ReportError(
            f"{out} is a symbolic link (to {os.readlink(out)}); give the folder itself or a new "
            "folder for the board pack"
        )
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out} is a file; give a folder for the board pack")
    if out.is_dir() and any(out.iterdir()) and not _is_pack(out):
        raise ReportError(
            f"{out} is not empty and holds no earlier board pack; give a new or empty folder"
        )
    if not out.parent.is_dir():
        raise ReportError(f"the folder {out.parent} for the board pack does not exist")


def publish(
    contents: PackContents,
    out: Path,
    store_path: Path,
    user: str,
    role: str,
    spec_name: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the pack into a private folder beside `out` and move it into place whole (an
    earlier pack there is replaced): a failure at any point leaves `out` as it was."""
    check_out(out)
    browser = find_browser()
    building = Path(tempfile.mkdtemp(prefix=f".{out.name}.writing-", dir=out.parent))
    try:
        manifest = write_pack(contents, building, browser, spec_name, progress)
        _log(contents, store_path, user, role, {"to": str(out), "files": len(manifest["files"])})
        if out.exists():
            replaced = building.with_name(f".{out.name}.replaced-{os.getpid()}")
            out.rename(replaced)
            building.rename(out)
            shutil.rmtree(replaced)
        else:
            building.rename(out)
    finally:
        shutil.rmtree(building, ignore_errors=True)  # gone already once moved into place
    return manifest


@dataclass(frozen=True)
class BoardPack:
    """A pack in memory, for the dashboard's download buttons."""

    zip_name: str
    zip_bytes: bytes
    pdf_bytes: bytes
    manifest: dict[str, Any]
    seconds: float


def archive(
    contents: PackContents,
    store_path: Path,
    user: str,
    role: str,
    spec_name: str | None = None,
    progress: Progress | None = None,
) -> BoardPack:
    """The pack as a zip (one folder inside) and its PDF alone, logged as an export."""
    started = time.perf_counter()
    browser = find_browser()
    with tempfile.TemporaryDirectory(prefix="tf-eval-pack-") as building:
        folder = Path(building)
        manifest = write_pack(contents, folder, browser, spec_name, progress)
        stamp = datetime.fromisoformat(manifest["provenance"]["generated_at"])
        name = f"tf-eval-board-pack-{stamp:%Y%m%d-%H%M%S}"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as packed:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                packed.write(path, f"{name}/{path.relative_to(folder).as_posix()}")
        pdf = (folder / PDF_NAME).read_bytes()
    _log(contents, store_path, user, role, {"to": "download", "files": len(manifest["files"])})
    return BoardPack(f"{name}.zip", buffer.getvalue(), pdf, manifest, time.perf_counter() - started)
