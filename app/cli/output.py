"""What the admin commands print: a table, or ``key: value`` lines."""

from __future__ import annotations

from typing import Any

TEAM_COLUMNS = (
    "id",
    "name",
    "budget_credits",
    "budget_period",
    "rate_limit_per_minute",
    "max_in_flight",
    "allowed_models",
    "cors_origins",
)
KEY_COLUMNS = (
    "key_id",
    "team",
    "name",
    "created_at",
    "expires_at",
    "last_used_at",
    "revoked_at",
    "budget_credits",
    "budget_period",
    "spent_credits",
)


def render(result: Any, columns: tuple[str, ...]) -> str:
    if isinstance(result, list):
        return table(result, columns)
    if isinstance(result, dict):
        width = max((len(k) for k in result), default=0)
        return "\n".join(f"{k:<{width}}  {cell(v)}" for k, v in result.items())
    return str(result)


def table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    if not rows:
        return "(none)"
    cols = columns or tuple(rows[0])
    cells = [[cell(row.get(c)) for c in cols] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def blank(value: int | None) -> str:
    return "-" if value is None else str(value)
