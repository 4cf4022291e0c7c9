"""Data-quality rules: a small JSON format, each rule checked as DuckDB SQL.

A rule is a dict with a `check` and, for the per-row checks, a `column`:

    {"column": "id", "check": "not_null"}
    {"column": "id", "check": "unique"}
    {"column": "rating", "check": "between", "min": 1, "max": 5}   (either bound may be left out)
    {"column": "rating", "check": "min", "value": 1}
    {"column": "rating", "check": "max", "value": 5}
    {"column": "sentiment", "check": "allowed", "values": ["positive", "neutral", "negative"]}
    {"column": "email", "check": "regex", "pattern": "[^@]+@[^@]+"}        (the whole value must match)
    {"check": "row_count", "min": 1, "max": 1000000}
    {"column": "received_at", "check": "freshness", "max_age_seconds": 86400}
    {"check": "freshness", "max_age_seconds": 3600}                          (the file's modification time)

NULLs only fail `not_null`; every other per-row check ignores them. An optional `name` labels
the rule in the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lockgate.core.errors import UsageError

ROW_CHECKS = ("not_null", "unique", "between", "min", "max", "allowed", "regex")
CHECKS = (*ROW_CHECKS, "row_count", "freshness")
EXAMPLES = 5
_KEYS = {
    "not_null": set(),
    "unique": set(),
    "between": {"min", "max"},
    "min": {"value"},
    "max": {"value"},
    "allowed": {"values"},
    "regex": {"pattern"},
    "row_count": {"min", "max"},
    "freshness": {"max_age_seconds"},
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One parsed rule; `spec` is the user's dict as given."""

    check: str
    column: str | None
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        if "name" in self.spec:
            return str(self.spec["name"])
        s = self.spec
        detail = {
            "between": f" {s.get('min', '-inf')}..{s.get('max', 'inf')}",
            "min": f" >= {s.get('value')}",
            "max": f" <= {s.get('value')}",
            "allowed": f" in {s.get('values')}",
            "regex": f" ~ {s.get('pattern')}",
            "row_count": f" {s.get('min', 0)}..{s.get('max', 'inf')}",
            "freshness": f" within {s.get('max_age_seconds')} s",
        }.get(self.check, "")
        return f"{self.column + ' ' if self.column else ''}{self.check}{detail}"


def parse(rules: Any) -> list[Rule]:
    """Check the user's rule list; raises UsageError naming the rule at fault."""
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise UsageError(f"rules: expected a list of rule dicts, not {type(rules).__name__}")
    parsed = []
    for index, spec in enumerate(rules):
        where = f"rules[{index}]"
        if not isinstance(spec, dict):
            raise UsageError(f"{where}: a rule is a dict like {{'column': 'x', 'check': 'not_null'}}, not {spec!r}")
        check = spec.get("check")
        if check not in CHECKS:
            raise UsageError(f"{where}: check {check!r} is not one of {', '.join(CHECKS)}")
        column = spec.get("column")
        if check in ROW_CHECKS and not isinstance(column, str):
            raise UsageError(f"{where}: check {check!r} needs a 'column'")
        unknown = set(spec) - _KEYS[check] - {"check", "column", "name"}
        if unknown:
            allowed = ", ".join(sorted(_KEYS[check] | {"check", "column", "name"}))
            raise UsageError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))} for check {check!r} (allowed: {allowed})"
            )
        _check_values(check, spec, where)
        parsed.append(Rule(check, column, dict(spec)))
    return parsed


def _check_values(check: str, spec: dict[str, Any], where: str) -> None:
    def number(key: str) -> None:
        if key in spec and (isinstance(spec[key], bool) or not isinstance(spec[key], (int, float, str))):
            raise UsageError(f"{where}: {key!r} must be a number (or a date/time string), not {spec[key]!r}")

    if check in ("between", "row_count"):
        if "min" not in spec and "max" not in spec:
            raise UsageError(f"{where}: check {check!r} needs 'min', 'max' or both")
        number("min")
        number("max")
    elif check in ("min", "max"):
        if "value" not in spec:
            raise UsageError(f"{where}: check {check!r} needs a 'value'")
        number("value")
    elif check == "allowed":
        if not isinstance(spec.get("values"), list) or not spec["values"]:
            raise UsageError(f"{where}: check 'allowed' needs a non-empty list 'values'")
    elif check == "regex":
        import re

        try:
            re.compile(str(spec.get("pattern", "")))
        except re.error as exc:
            raise UsageError(f"{where}: pattern {spec.get('pattern')!r} is not a valid regex: {exc}") from None
        if not isinstance(spec.get("pattern"), str):
            raise UsageError(f"{where}: check 'regex' needs a string 'pattern'")
    elif check == "freshness":
        age = spec.get("max_age_seconds")
        if isinstance(age, bool) or not isinstance(age, (int, float)) or age <= 0:
            raise UsageError(f"{where}: check 'freshness' needs a positive number 'max_age_seconds'")


def quote(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def bad_row_sql(rule: Rule, params: list[Any]) -> str:
    """A SQL predicate over table `data` that is true for the rows breaking a per-row rule.

    Values go into `params` (bound as ? in order), never into the SQL text.
    """
    col = quote(rule.column or "")
    s = rule.spec
    if rule.check == "not_null":
        return f"{col} IS NULL"
    if rule.check == "unique":
        return f"{col} IS NOT NULL AND {col} IN (SELECT {col} FROM data GROUP BY {col} HAVING count(*) > 1)"
    if rule.check in ("between", "min", "max"):
        low = s.get("min") if rule.check == "between" else s.get("value") if rule.check == "min" else None
        high = s.get("max") if rule.check == "between" else s.get("value") if rule.check == "max" else None
        parts = []
        if low is not None:
            parts.append(f"{col} < ?")
            params.append(low)
        if high is not None:
            parts.append(f"{col} > ?")
            params.append(high)
        return "(" + " OR ".join(parts) + ")"
    if rule.check == "allowed":
        params.append([str(v) for v in s["values"]])
        return f"{col} IS NOT NULL AND NOT list_contains(?, CAST({col} AS VARCHAR))"
    if rule.check == "regex":
        params.append(s["pattern"])
        return f"{col} IS NOT NULL AND NOT regexp_full_match(CAST({col} AS VARCHAR), ?)"
    raise AssertionError(rule.check)


def outcome(rule: Rule, bad_rows: int, examples: list[dict[str, Any]], message: str = "") -> dict[str, Any]:
    """One rule's entry in the report."""
    entry: dict[str, Any] = {
        "check": rule.check,
        "column": rule.column,
        "name": rule.label,
        "rule": rule.spec,
        "passed": bad_rows == 0 and not message,
        "bad_rows": bad_rows,
        "examples": examples[:EXAMPLES],
    }
    if message:
        entry["message"] = message
    return entry


def entry(
    check: str, column: str | None, name: str, *, bad: int, message: str = "", examples: Any = ()
) -> dict[str, Any]:
    """One check's entry in the report; it passed when no row is bad and there is no message."""
    out: dict[str, Any] = {
        "check": check,
        "column": column,
        "name": name,
        "passed": bad == 0 and not message,
        "bad_rows": bad,
        "examples": list(examples)[:EXAMPLES],
    }
    if message:
        out["message"] = message
    return out
