"""Text from outside - file names, values in an extract, account and spec names, e-mail
addresses from an identity provider - echoed back safely. One place, used wherever tf-eval
echoes such text (docs/threat-model.md):

- `plain`: for a terminal, a log line or a page. Control and format characters (ESC, CR, the
  line break, DEL, the C1 controls, bidirectional overrides, zero-width characters) are written
  as visible escapes (`\\x1b`, `\\u202e`), so echoed text cannot recolour or retitle a terminal,
  move its cursor, start a fake line or reorder what follows.
- `markdown`: for Streamlit's markdown (titles, captions, messages). `plain`, then every
  character markdown or HTML gives a meaning inside a line escaped with a backslash (a colon
  only before a non-space, as in 'http:' or ':red[', and the dot of 'www.', which would make a
  link), so the text shows as typed: no link, image (which the browser would fetch), emphasis,
  colour, icon, maths or HTML. Letters, digits, dots, quotes and spaces are left alone, so an
  ordinary file name or message reads as it is.
- `code`: the text as a markdown code span, shown exactly as typed in a monospace font (for
  a command or an address to copy).
- `csv_cell`: for a CSV a person may open in a spreadsheet. A text cell starting with = + - @,
  a tab or a carriage return gets a leading single quote (OWASP's advice on formula injection),
  so a spreadsheet shows it rather than running it; numbers, including negative ones, and text
  that reads as a number stay as they are.
"""

from __future__ import annotations

import re
import unicodedata

# Backslash-escaped in markdown: CommonMark lets any ASCII punctuation be escaped, and these
# are the ones markdown (emphasis, links, images, headings, lists, tables, strike-through),
# GitHub's autolinks (http:, mailto:, e-mail addresses), Streamlit's directives (:red[...],
# :material/icon:) and maths ($) or HTML (<, &) give a meaning.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-!|~$&@^]|:(?=\S))")
_WWW = re.compile(r"(?i)\b(www)\.")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _visible(character: str) -> str:
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(text: object) -> str:
    """The text with every control and format character written as a visible escape."""
    return "".join(
        _visible(c) if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in str(text)
    )


def markdown(text: object) -> str:
    """The text as Streamlit markdown that shows it exactly as typed (after `plain`)."""
    return _WWW.sub(r"\1\\.", _MARKDOWN.sub(r"\\\1", plain(text)))


def code(text: object) -> str:
    """The text as a markdown code span (shown literally), fenced by more backticks than it
    holds in a row."""
    shown = plain(text)
    fence = "`" * (max((len(run) for run in re.findall("`+", shown)), default=0) + 1)
    pad = " " if shown.startswith("`") or shown.endswith("`") else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


def csv_cell(value: object) -> object:
    """A cell for a CSV: text that a spreadsheet would run as a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        if not _NUMBER.fullmatch(value):
            return "'" + value
    return value
