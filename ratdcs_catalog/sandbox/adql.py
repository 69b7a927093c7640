"""A small ADQL/SQL subset: what ratdcs, astroquery and IBE WHERE clauses send.

``SELECT [TOP n] [DISTINCT] cols|* FROM table [WHERE cond] [ORDER BY col [ASC|DESC], ...]``
where ``cond`` combines ``= != <> < > <= >=``, ``[NOT] IN (...)``, ``[NOT] LIKE``,
``[NOT] BETWEEN a AND b``, ``IS [NOT] NULL``, ``AND``, ``OR``, ``NOT`` and parentheses.
Anything else (functions, joins, geometry) is a ``QueryError`` naming what was not
understood, which the endpoints turn into the archive's error document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<op><=|>=|<>|!=|=|<|>|\(|\)|,|\*|-)
    )""", re.VERBOSE)
KEYWORDS = {"select", "top", "distinct", "from", "where", "order", "by", "asc", "desc", "and",
            "or", "not", "in", "like", "between", "is", "null", "as"}


class QueryError(ValueError):
    """A query outside the supported subset, or naming an unknown table or column."""


@dataclass
class Query:
    table: str
    columns: list[str] | None              # None means *
    where: tuple | None = None
    order: list[tuple[str, bool]] = field(default_factory=list)   # (column, descending)
    top: int | None = None
    distinct: bool = False


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip().rstrip(";")
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"cannot parse query near {text[pos:pos + 20]!r}")
        pos = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "ident" and value.lower() in KEYWORDS:
            kind, value = "kw", value.lower()
        tokens.append((kind, value))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.at = 0

    def peek(self, offset: int = 0):
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self):
        token = self.peek()
        self.at += 1
        return token

    def accept(self, kind: str, value: str | None = None) -> bool:
        token = self.peek()
        if token[0] == kind and (value is None or token[1] == value):
            self.at += 1
            return True
        return False

    def expect(self, kind: str, value: str | None = None):
        token = self.take()
        if token[0] != kind or (value is not None and token[1] != value):
            raise QueryError(f"expected {value or kind}, found {token[1] or 'end of query'!r}")
        return token[1]

    # --------------------------------------------------------------- statements
    def query(self) -> Query:
        self.expect("kw", "select")
        top = int(self.expect("number")) if self.accept("kw", "top") else None
        distinct = self.accept("kw", "distinct")
        columns = None if self.accept("op", "*") else self.column_list()
        self.expect("kw", "from")
        query = Query(table=self.expect("ident"), columns=columns, top=top, distinct=distinct)
        if self.accept("kw", "where"):
            query.where = self.expr()
        if self.accept("kw", "order"):
            self.expect("kw", "by")
            query.order = self.order_list()
        if self.peek()[0] != "end":
            raise QueryError(f"unexpected {self.peek()[1]!r} in query")
        return query

    def column_list(self) -> list[str]:
        columns = [self.expect("ident")]
        while self.accept("op", ","):
            columns.append(self.expect("ident"))
        return columns

    def order_list(self) -> list[tuple[str, bool]]:
        order = []
        while True:
            name = self.expect("ident")
            descending = self.accept("kw", "desc")
            if not descending:
                self.accept("kw", "asc")
            order.append((name, descending))
            if not self.accept("op", ","):
                return order

    # --------------------------------------------------------------- expressions
    def expr(self):
        node = self.and_expr()
        while self.accept("kw", "or"):
            node = ("or", node, self.and_expr())
        return node

    def and_expr(self):
        node = self.not_expr()
        while self.accept("kw", "and"):
            node = ("and", node, self.not_expr())
        return node

    def not_expr(self):
        if self.accept("kw", "not"):
            return ("not", self.not_expr())
        if self.peek() == ("op", "("):
            self.take()
            node = self.expr()
            self.expect("op", ")")
            return node
        return self.predicate()

    def predicate(self):
        left = self.operand()
        negate = self.accept("kw", "not")
        if self.accept("kw", "in"):
            self.expect("op", "(")
            values = [self.operand()]
            while self.accept("op", ","):
                values.append(self.operand())
            self.expect("op", ")")
            return _negate(("in", left, values), negate)
        if self.accept("kw", "like"):
            return _negate(("like", left, self.operand()), negate)
        if self.accept("kw", "between"):
            low = self.operand()
            self.expect("kw", "and")
            return _negate(("between", left, low, self.operand()), negate)
        if self.accept("kw", "is"):
            is_not = self.accept("kw", "not")
            self.expect("kw", "null")
            return ("notnull" if is_not else "isnull", left)
        if negate:
            raise QueryError("NOT must be followed by IN, LIKE or BETWEEN here")
        kind, op = self.take()
        if kind != "op" or op not in ("=", "!=", "<>", "<", ">", "<=", ">="):
            raise QueryError(f"expected a comparison after {left[1]!r}, found {op or 'end'!r}")
        return ("cmp", op, left, self.operand())

    def operand(self):
        kind, value = self.take()
        if kind == "op" and value == "-":
            return ("lit", -float(self.expect("number")))
        if kind == "number":
            number = float(value)
            return ("lit", int(number) if number.is_integer() and "." not in value
                    and "e" not in value.lower() else number)
        if kind == "string":
            return ("lit", value[1:-1].replace("''", "'"))
        if kind == "ident":
            if self.peek() == ("op", "("):
                raise QueryError(f"function {value}() is not supported by the sandbox")
            return ("col", value)
        raise QueryError(f"expected a value, found {value or 'end of query'!r}")


def _negate(node, negate: bool):
    return ("not", node) if negate else node


def parse_query(text: str) -> Query:
    return _Parser(text).query()


def parse_condition(text: str):
    """Parse a bare WHERE condition (IBE's ``WHERE=`` parameter)."""
    parser = _Parser(text)
    node = parser.expr()
    if parser.peek()[0] != "end":
        raise QueryError(f"unexpected {parser.peek()[1]!r} in condition")
    return node


# ----------------------------------------------------------------- evaluation
def columns_in(node) -> set[str]:
    if node is None:
        return set()
    if node[0] == "col":
        return {node[1]}
    found = set()
    for part in node[1:]:
        if isinstance(part, tuple):
            found |= columns_in(part)
        elif isinstance(part, list):
            for item in part:
                found |= columns_in(item)
    return found


def conjuncts(node) -> list:
    """The AND-ed parts of a condition (for cheap pre-filtering)."""
    if node is not None and node[0] == "and":
        return conjuncts(node[1]) + conjuncts(node[2])
    return [node] if node is not None else []


def resolve(node, names: dict):
    """Replace column names by their canonical spelling; unknown columns raise QueryError."""
    if node[0] == "col":
        canonical = names.get(node[1].lower())
        if canonical is None:
            raise QueryError(f"column {node[1]!r} does not exist")
        return ("col", canonical)
    out = [node[0]]
    for part in node[1:]:
        if isinstance(part, tuple):
            out.append(resolve(part, names))
        elif isinstance(part, list):
            out.append([resolve(item, names) for item in part])
        else:
            out.append(part)
    return tuple(out)


def evaluate(node, row: dict):
    """Truth of a condition on one row; comparisons with NULL are false, as in SQL."""
    kind = node[0]
    if kind == "and":
        return evaluate(node[1], row) and evaluate(node[2], row)
    if kind == "or":
        return evaluate(node[1], row) or evaluate(node[2], row)
    if kind == "not":
        return not evaluate(node[1], row)
    if kind == "isnull":
        return _value(node[1], row) is None
    if kind == "notnull":
        return _value(node[1], row) is not None
    left = _value(node[1] if kind != "cmp" else node[2], row)
    if left is None:
        return False
    if kind == "in":
        return any(_equal(left, _value(v, row)) for v in node[2])
    if kind == "like":
        return _like(str(left), str(_value(node[2], row)))
    if kind == "between":
        return _compare(">=", left, _value(node[2], row)) and _compare("<=", left, _value(node[3], row))
    return _compare(node[1], left, _value(node[3], row))


def _value(node, row):
    return row.get(node[1]) if node[0] == "col" else node[1]


def _coerce(left, right):
    if isinstance(right, (int, float)) and isinstance(left, str):
        try:
            return float(left), right
        except ValueError:
            return left, str(right)
    if isinstance(left, (int, float)) and isinstance(right, str):
        try:
            return left, float(right)
        except ValueError:
            return str(left), right
    return left, right


def _equal(left, right) -> bool:
    if right is None:
        return False
    left, right = _coerce(left, right)
    return left == right


def _compare(op: str, left, right) -> bool:
    if right is None:
        return False
    left, right = _coerce(left, right)
    try:
        return {"=": left == right, "!=": left != right, "<>": left != right,
                "<": left < right, ">": left > right, "<=": left <= right,
                ">=": left >= right}[op]
    except TypeError:
        return False


def _like(text: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None
