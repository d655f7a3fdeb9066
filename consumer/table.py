"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def render(
    columns: Sequence[str],
    rows: Sequence[Mapping[str, object]],
    headers: Sequence[str] | None = None,
) -> str:
    headers = headers or [c.upper().replace("_", " ") for c in columns]
    cells = [[str(row.get(c, "") or "") for c in columns] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
        for r in cells
    ]
    return "\n".join(lines)
