"""The matching's covariates in people's words, for pages, charts, the board pack and the audit
log: the panel names them for code (`la_code`, `pre_ae_use`) and the propensity design names
each category's column after its level (`la_codeLA01`, `cohort2014`: MatchIt's convention, kept so
that our balance tables line up with R's). One place turns both into words, so every page says
"Local authority LA01" and "Propensity score" the same way."""

from __future__ import annotations

# Each covariate an evaluator may choose or match exactly on (estimate.DEFAULT_COVARIATES and
# EXACT_KEYS: tests/test_balance.py holds the two lists to this one), in words.
WORDS = {
    "la_code": "Local authority",
    "cohort": "Cohort",
    "index_quarter": "Quarter identified",
    "n_adults": "Adults in the family",
    "n_children": "Children in the family",
    "pre_attendance": "Attendance, year before",
    "has_pupil": "Has a child at school",
    "pre_offending": "Offending, year before",
    "pre_worklessness": "Worklessness, year before",
    "pre_ae_use": "A&E use, year before",
    "pre_looked_after": "Children looked after, year before",
    "pre_child_protection": "Child protection plans, year before",
    "pre_custody_adult": "Adults given custody, year before",
    "pre_custody_juvenile": "Juveniles given custody, year before",
    "pre_juvenile_conviction": "Juvenile convictions, year before",
}

# The balance table's first row: the propensity score itself (balance.balance_table's name).
DISTANCE = "distance"
# Covariates that are categories: the design has one column per level, named covariate + level.
CATEGORIES = ("la_code", "cohort", "index_quarter")


def covariate_words(name: str) -> str:
    """A covariate, or a column of the propensity design, in words: `la_codeLA01` is "Local
    authority LA01", `index_quarter2016Q3` "Quarter identified 2016 Q3", `distance` "Propensity
    score". A name it does not know comes back as it is (an analysis file's own columns)."""
    if name == DISTANCE:
        return "Propensity score"
    if name in WORDS:
        return WORDS[name]
    for category in CATEGORIES:
        level = name.removeprefix(category)
        if level != name and level:
            if category == "index_quarter":
                level = level.replace("Q", " Q")
            return f"{WORDS[category]} {level}"
    return name


def listed_words(names: tuple[str, ...] | list[str]) -> str:
    """Several covariates in words, for a sentence: "local authority and quarter identified"
    (semicolons between them when one holds a comma; "nothing" for none)."""
    words = [_lower_first(covariate_words(name)) for name in names]
    if not words:
        return "nothing"
    if len(words) == 1:
        return words[0]
    if any("," in word for word in words):  # "attendance, year before; offending, year before"
        return "; ".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _lower_first(words: str) -> str:
    """Words as they read inside a sentence ("A&E use" keeps its capitals)."""
    return words if words[:2].isupper() else words[:1].lower() + words[1:]
