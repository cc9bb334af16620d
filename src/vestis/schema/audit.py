"""Audit a label mapping against raw rows: what it covers, what it forgot, what it never uses.

For every mapped field the report gives the coverage (share of rows with a value after
mapping and :meth:`Schema.complete`), the class counts, the schema values no row carries,
and the rows given a value where the schema's ``applies_to`` rules the field out. For
every source it gives the raw labels left *unmapped* (neither in ``map`` nor in
``ignore``, on rows that ended without a value for the field, i.e. labels that cost
coverage), the *ignored* labels (deliberate non-mappings), null raw values, and for
keyword sources the rows whose text matched no keyword. Columns the mapping names but the
rows lack are reported as problems.

>>> from vestis.schema.mapping import Mapping
>>> m = Mapping.from_dict({"source": "demo", "schema": "denali",
...     "fields": {"type": [{"column": "kind", "map": {"Jeans": "jeans"}, "ignore": ["Gift card"]}]}})
>>> report = audit_mapping(m, [{"kind": "Jeans"}, {"kind": "Gift card"}, {"kind": "Kilt"}])
>>> report.fields["type"].coverage
0.3333333333333333
>>> report.fields["type"].sources[0].unmapped
{'Kilt': 1}
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vestis.schema.mapping import Mapping, Source
from vestis.schema.model import is_null_word

TOP_N = 12  # labels shown per list in the rendered report (the JSON keeps all)


@dataclass
class SourceAudit:
    """What one source of a field read from the rows it applies to."""

    column: str
    kind: str  # "map" or "keywords"
    rows: int = 0  # rows the source applies to (its ``when`` holds)
    nulls: int = 0  # of those, rows whose raw value is empty or a null word
    unmapped: dict[str, int] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)
    no_keyword: int = 0  # keyword sources: non-null texts that matched no keyword


@dataclass
class FieldAudit:
    name: str
    kind: str
    coverage: float  # share of all rows with a value
    coverage_applicable: float  # share of the rows the field applies to (schema ``applies_to``)
    counts: dict[str, int]
    unused_values: list[str]
    sources: list[SourceAudit]
    inapplicable: int = 0  # rows given a value where the schema's applies_to rules the field out

    @property
    def unmapped(self) -> dict[str, int]:
        """Unmapped raw labels over all sources, keyed ``column=label``."""
        return {f"{s.column}={label}": n for s in self.sources for label, n in s.unmapped.items()}


@dataclass
class AuditReport:
    mapping: str
    schema: str
    rows: int
    fields: dict[str, FieldAudit]
    missing_columns: list[str]
    fields_without_source: list[str]

    @property
    def problems(self) -> list[str]:
        """Things to fix: missing columns, forgotten labels, values the schema rules out, no rows."""
        out = [f"column {c!r} named by the mapping is not in the rows" for c in self.missing_columns]
        if self.rows == 0:
            out.append("no rows to audit")
        for f in self.fields.values():
            out += [
                f"{f.name}: {label!r} ({n} rows) is neither mapped nor ignored"
                for label, n in f.unmapped.items()
            ]
            if f.inapplicable:
                out.append(f"{f.name}: {f.inapplicable} rows have a value the schema rules out")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = self.problems
        return data

    def render(self, console: Any) -> None:
        """Print the report to a ``rich.console.Console``."""
        for renderable in self.renderables():
            console.print(renderable)

    def renderables(self) -> list[Any]:
        from rich.markup import escape
        from rich.table import Table

        summary = Table(title=f"{self.mapping} → {self.schema}: {self.rows} rows")
        for col in ("field", "coverage", "where it applies", "classes", "unmapped", "unused values"):
            summary.add_column(col, justify="right" if "coverage" in col or "applies" in col else "left")
        for f in self.fields.values():
            unmapped = sum(f.unmapped.values())
            summary.add_row(
                f.name,
                f"{f.coverage:.1%}",
                f"{f.coverage_applicable:.1%}",
                escape(_top(f.counts)),
                f"[red]{unmapped}[/red]" if unmapped else "0",
                ", ".join(f.unused_values[:TOP_N]),
            )
        out: list[Any] = [summary]
        if self.fields_without_source:
            out.append(f"Schema fields without a source: {', '.join(self.fields_without_source)}")
        detail = Table(title="Sources")
        for col in ("field", "column", "rows", "nulls", "no keyword", "ignored", "unmapped"):
            detail.add_column(col)
        for f in self.fields.values():
            for s in f.sources:
                no_kw = str(s.no_keyword) if s.kind == "keywords" else ""
                detail.add_row(
                    escape(f.name),
                    escape(s.column),
                    str(s.rows),
                    str(s.nulls),
                    no_kw,
                    escape(_top(s.ignored)),
                    escape(_top(s.unmapped)),
                )
        out.append(detail)
        out += [f"[red]problem:[/red] {escape(p)}" for p in self.problems]
        return out

    def markdown(self) -> str:
        lines = [
            f"# Mapping audit: {self.mapping} → {self.schema}",
            "",
            f"{self.rows} rows.",
            "",
            "| field | coverage | where it applies | classes | unmapped | unused values |",
            "|---|---:|---:|---|---:|---|",
        ]
        for f in self.fields.values():
            lines.append(
                _md_row(
                    f.name,
                    f"{f.coverage:.1%}",
                    f"{f.coverage_applicable:.1%}",
                    _top(f.counts),
                    sum(f.unmapped.values()),
                    ", ".join(f.unused_values),
                )
            )
        if self.fields_without_source:
            lines += ["", f"Schema fields without a source: {', '.join(self.fields_without_source)}"]
        lines += [
            "",
            "## Sources",
            "",
            "| field | column | rows | nulls | no keyword | ignored | unmapped |",
            "|---|---|---:|---:|---:|---|---|",
        ]
        for f in self.fields.values():
            for s in f.sources:
                no_kw = s.no_keyword if s.kind == "keywords" else ""
                lines.append(
                    _md_row(f.name, s.column, s.rows, s.nulls, no_kw, _top(s.ignored), _top(s.unmapped))
                )
        lines += ["", "## Problems", ""] + ([f"- {p}" for p in self.problems] or ["None."])
        return "\n".join(lines) + "\n"

    def write(self, out_dir: str | Path) -> Path:
        """Write ``audit.json`` and ``audit.md`` into ``out_dir``; returns the directory."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        (out / "audit.json").write_text(text + "\n", encoding="utf-8")
        (out / "audit.md").write_text(self.markdown(), encoding="utf-8")
        return out


def audit_mapping(mapping: Mapping | str | Path, rows: Iterable[dict[str, Any]]) -> AuditReport:
    """Apply ``mapping`` to every row and report coverage and gaps per field (see module doc)."""
    if not isinstance(mapping, Mapping):
        mapping = Mapping.load(mapping)
    stats = {
        name: [SourceAudit(s.column, "keywords" if s.is_text else "map") for s in sources]
        for name, sources in mapping.fields.items()
    }
    counts: dict[str, Counter[str]] = {name: Counter() for name in mapping.fields}
    filled: Counter[str] = Counter()
    inapplicable: Counter[str] = Counter()
    applicable: Counter[str] = Counter()
    seen_columns: set[str] = set()
    n = 0
    for row in rows:
        n += 1
        seen_columns.update(row)
        labels = mapping.apply(row)
        for name, sources in mapping.fields.items():
            value = labels.get(name)
            has_value = value not in (None, [])
            filled[name] += has_value
            applies = mapping.schema.fields[name].applies(labels)
            applicable[name] += applies
            inapplicable[name] += has_value and not applies
            counts[name].update(value if isinstance(value, list) else [value] if has_value else [])
            for src, audit in zip(sources, stats[name], strict=True):
                _observe(src, audit, row, has_value)
    fields = {}
    for name, sources in stats.items():
        f = mapping.schema.fields[name]
        fields[name] = FieldAudit(
            name=name,
            kind=f.kind,
            coverage=_share(filled[name], n),
            coverage_applicable=_share(filled[name] - inapplicable[name], applicable[name]),
            counts=dict(counts[name].most_common()),
            unused_values=[v for v in f.vocabulary if not counts[name][v]] if f.closed else [],
            sources=[_sorted(s) for s in sources],
            inapplicable=inapplicable[name],
        )
    missing = sorted(mapping.columns - seen_columns) if n else []
    return AuditReport(
        mapping=Path(mapping.path).stem if mapping.path else mapping.source,
        schema=mapping.schema.name,
        rows=n,
        fields=fields,
        missing_columns=missing,
        fields_without_source=[name for name in mapping.schema.fields if name not in mapping.fields],
    )


def _observe(src: Source, audit: SourceAudit, row: dict[str, Any], has_value: bool) -> None:
    if not src.applies(row):
        return
    audit.rows += 1
    raw = row.get(src.column)
    if is_null_word(raw):
        audit.nulls += 1
        return
    raw = str(raw).strip()
    if src.is_text:
        audit.no_keyword += not src.read(row)
    elif raw in src.ignore:
        audit.ignored[raw] = audit.ignored.get(raw, 0) + 1
    elif raw not in src.map and not has_value:
        audit.unmapped[raw] = audit.unmapped.get(raw, 0) + 1


def _sorted(audit: SourceAudit) -> SourceAudit:
    audit.unmapped = dict(Counter(audit.unmapped).most_common())
    audit.ignored = dict(Counter(audit.ignored).most_common())
    return audit


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _md_row(*cells: Any) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _top(counts: dict[str, int], n: int = TOP_N) -> str:
    items = list(counts.items())
    text = ", ".join(f"{k} {v}" for k, v in items[:n])
    return text + (f", … (+{len(items) - n})" if len(items) > n else "")
