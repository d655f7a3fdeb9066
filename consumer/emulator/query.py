"""The subset of QuickBooks' query language the service uses, parsed and run.

    SELECT * | *, Field... | COUNT(*) FROM Entity
        [WHERE Field = 'value' [AND ...] | Field IN ('a', 'b')]
        [ORDER BY | ORDERBY Field [ASC | DESC]]
        [STARTPOSITION n] [MAXRESULTS m]

Keywords are case-insensitive. Strings are single-quoted, with ``\\'`` and ``\\\\``
as escapes. As in QuickBooks, accounts and items that are not active are left out
unless the query says something about ``Active``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NoReturn

from consumer.emulator import faults

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_LIMIT = 1000

_FIELDS = {
    "Account": ("Id", "Name", "Active"),
    "Item": ("Id", "Name", "Active", "Sku", "Type"),
    "JournalEntry": ("Id", "DocNumber", "TxnDate"),
    "InventoryAdjustment": ("Id", "DocNumber", "TxnDate"),
}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
      | (?P<symbol>[*,()=])
    )""",
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Condition:
    field: str
    values: tuple[str, ...]  # one value for "=", several for "IN"


@dataclass(frozen=True)
class Query:
    entity: str
    count: bool = False
    conditions: tuple[Condition, ...] = ()
    order_by: str | None = None
    descending: bool = False
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


@dataclass(frozen=True)
class _Token:
    kind: str  # string, number, word or symbol
    text: str  # a string's text is unquoted and unescaped
    position: int


def parse(statement: str) -> Query:
    """The query a statement asks for, or a Fault 4000 (syntax) / 4001 (unsupported)."""
    return _Parser(_tokens(statement)).statement()


def run(query: Query, objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``QueryResponse`` member of the reply."""
    conditions = list(query.conditions)
    if "Active" in _FIELDS[query.entity] and not any(
        c.field == "Active" for c in conditions
    ):
        conditions.append(Condition("Active", ("true",)))
    matches = [obj for obj in objects if all(_holds(c, obj) for c in conditions)]

    if query.count:
        return {"totalCount": len(matches)}
    matches.sort(key=lambda obj: _sort_key(obj.get(query.order_by or "Id")))
    if query.descending:
        matches.reverse()
    page = matches[query.start_position - 1 :][: query.max_results]
    if not page:
        return {}
    return {
        query.entity: page,
        "startPosition": query.start_position,
        "maxResults": len(page),
    }


def _holds(condition: Condition, obj: dict[str, Any]) -> bool:
    value = obj.get(condition.field)
    if isinstance(value, bool):
        return str(value).lower() in (v.lower() for v in condition.values)
    return value is not None and str(value) in condition.values


def _sort_key(value: object) -> tuple[int, int, str]:
    text = "" if value is None else str(value)
    return (0, int(text), "") if text.isdigit() else (1, 0, text.lower())


def _tokens(statement: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while statement[position:].strip():
        match = _TOKEN.match(statement, position)
        if match is None:
            rest = statement[position:].lstrip()
            where = len(statement) - len(rest)
            what = "an unterminated string" if rest.startswith("'") else repr(rest[0])
            raise faults.query_syntax(f"Encountered {what} at position {where + 1}")
        kind = match.lastgroup or "symbol"
        text = match.group(kind)
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", text[1:-1], flags=re.DOTALL)
        tokens.append(_Token(kind, text, match.start(kind) + 1))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._next = 0

    def statement(self) -> Query:
        self._keyword("select")
        count = self._select_list()
        self._keyword("from")
        entity = self._entity()
        conditions = self._where(entity)
        order_by, descending = self._order_by(entity)
        paging = self._paging()
        if self._peek() is not None:
            self._unexpected()
        return Query(entity, count, conditions, order_by, descending, **paging)

    def _select_list(self) -> bool:
        if self._accept_keyword("count"):
            for symbol in "(*)":
                self._symbol(symbol)
            return True
        self._symbol("*")
        while self._accept_symbol(","):
            self._take(
                "word"
            )  # extra fields are returned anyway: every reply is complete
        return False

    def _entity(self) -> str:
        name = self._take("word").text
        for entity in _FIELDS:
            if entity.lower() == name.lower():
                return entity
        raise faults.query_invalid(f"Entity {name} is not supported by this emulator")

    def _where(self, entity: str) -> tuple[Condition, ...]:
        if not self._accept_keyword("where"):
            return ()
        conditions = [self._condition(entity)]
        while self._accept_keyword("and"):
            conditions.append(self._condition(entity))
        return tuple(conditions)

    def _condition(self, entity: str) -> Condition:
        field = self._field(entity)
        if self._accept_symbol("="):
            return Condition(field, (self._value(),))
        self._keyword("in")
        self._symbol("(")
        values = [self._value()]
        while self._accept_symbol(","):
            values.append(self._value())
        self._symbol(")")
        return Condition(field, tuple(values))

    def _order_by(self, entity: str) -> tuple[str | None, bool]:
        if self._accept_keyword("order"):
            self._keyword("by")
        elif not self._accept_keyword("orderby"):
            return None, False
        field = self._field(entity)
        if self._accept_keyword("desc"):
            return field, True
        self._accept_keyword("asc")
        return field, False

    def _paging(self) -> dict[str, int]:
        paging: dict[str, int] = {}
        for keyword, key in (
            ("startposition", "start_position"),
            ("maxresults", "max_results"),
        ):
            if self._accept_keyword(keyword):
                number = self._take("number")
                if not number.text.isdigit() or int(number.text) < 1:
                    raise faults.query_syntax(
                        f"{keyword.upper()} must be a positive integer"
                    )
                paging[key] = int(number.text)
        if "max_results" in paging:
            paging["max_results"] = min(paging["max_results"], MAX_RESULTS_LIMIT)
        return paging

    def _field(self, entity: str) -> str:
        token = self._take("word")
        for field in _FIELDS[entity]:
            if field.lower() == token.text.lower():
                return field
        raise faults.query_invalid(
            f"property '{token.text}' is not queryable on {entity}"
        )

    def _value(self) -> str:
        token = self._peek()
        if token is not None and token.kind in ("string", "number"):
            self._next += 1
            return token.text
        if (
            token is not None
            and token.kind == "word"
            and token.text.lower() in ("true", "false")
        ):
            self._next += 1
            return token.text.lower()
        return self._unexpected()

    def _keyword(self, word: str) -> None:
        if not self._accept_keyword(word):
            self._unexpected(f"expected {word.upper()}")

    def _accept_keyword(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token.kind == "word" and token.text.lower() == word:
            self._next += 1
            return True
        return False

    def _symbol(self, symbol: str) -> None:
        if not self._accept_symbol(symbol):
            self._unexpected(f"expected '{symbol}'")

    def _accept_symbol(self, symbol: str) -> bool:
        token = self._peek()
        if token is not None and token.kind == "symbol" and token.text == symbol:
            self._next += 1
            return True
        return False

    def _take(self, kind: str) -> _Token:
        token = self._peek()
        if token is None or token.kind != kind:
            self._unexpected(f"expected a {kind}")
        self._next += 1
        return token

    def _peek(self) -> _Token | None:
        return self._tokens[self._next] if self._next < len(self._tokens) else None

    def _unexpected(self, expectation: str = "") -> NoReturn:
        token = self._peek()
        found = "the end of the query" if token is None else f"'{token.text}'"
        where = "" if token is None else f" at position {token.position}"
        suffix = f"; {expectation}" if expectation else ""
        raise faults.query_syntax(f"Encountered {found}{where}{suffix}")
