"""Rule conditions evaluated in Python, for the subset of CEL whose meaning can be matched exactly.

Building a CEL context costs more than evaluating every rule: each value handed to the CEL runtime
is converted (about a microsecond per string, float or map key), and a post's context holds its
text, author and every classifier's signals. Most rule conditions are simple: field reads,
comparisons, ``&&``, ``||``, ``!``, ``size(list)``, ``in``, ``matches`` and the ``exists`` / ``all``
macros. :func:`compile_condition` turns such a condition into a Python function over the same values
that never touches the CEL runtime.

The function either returns exactly what the CEL program returns, or raises :class:`Unsupported`,
and the engine then runs the CEL program as before. The rule is strict:

* a condition the parser does not fully understand is not compiled at all (``None``): comments,
  ternaries, ``*`` ``/`` ``%``, indexing, map literals, bytes and unsigned literals, any function
  other than ``size``, ``contains``, ``startsWith``, ``endsWith`` and the registered ``sg_matches``,
  any macro other than ``exists`` and ``all``;
* at run time every value is checked against the exact Python types the CEL runtime converts
  without surprise (``None``, ``bool``, ``int`` within int64, ``float``, ``str``, ``list`` /
  ``tuple``, ``dict``); anything else raises :class:`Unsupported`;
* an operation is evaluated in Python only for operand types where CEL's result is known and
  tested (see ``tests/unit/test_fastpath.py``, which checks every operation over a grid of values
  against the CEL runtime); for every other combination, and for anything CEL reports as an error
  (a missing key, ``null < 1``, NaN in a comparison, int64 overflow, a non-boolean operand of ``&&``),
  it raises :class:`Unsupported`, so errors and their handling stay CEL's.

``&&``, ``||``, ``exists`` and ``all`` short-circuit left to right as the CEL runtime does; when a
part evaluated first cannot be decided in Python, the whole condition goes to CEL, so CEL's own
error absorption (``error || true`` is true) is never second-guessed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

import cel

from safeguard.rules.lexer import tokens
from safeguard.rules.regex import pattern_error, pattern_matcher, regex_match

__all__ = ["Unsupported", "compile_condition", "compile_expression"]

Env = dict[str, Any]
Evaluator = Callable[[Env], Any]


class Unsupported(Exception):
    """Raised at run time when a condition cannot be decided in Python; the engine then runs CEL."""


class _Reject(Exception):
    """Raised at compile time: the condition is outside the supported subset."""


_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1
#: Integers up to this magnitude convert to float exactly, so int/float comparisons agree.
_EXACT_INT = 2**53

# Value kinds as CEL sees a Python value.
_NULL, _BOOL, _INT, _FLOAT, _STR, _LIST, _MAP = range(7)
_SCALARS = frozenset({_NULL, _BOOL, _INT, _FLOAT, _STR})
_NUMBERS = frozenset({_INT, _FLOAT})


def _kind(value: Any) -> int:
    """The CEL kind of ``value``; :class:`Unsupported` for any type outside the exact set."""
    t = type(value)
    if t is str:
        return _STR
    if t is bool:
        return _BOOL
    if t is float:
        return _FLOAT
    if t is int:
        if _I64_MIN <= value <= _I64_MAX:
            return _INT
        raise Unsupported
    if value is None:
        return _NULL
    if t is list or t is tuple:
        return _LIST
    if t is dict:
        return _MAP
    raise Unsupported


def _nan(value: Any) -> bool:
    return type(value) is float and value != value


def _numbers_comparable(a: Any, ka: int, b: Any, kb: int) -> bool:
    """True when two numbers compare the same in Python and CEL: no NaN, mixed only when exact."""
    if _nan(a) or _nan(b):
        return False
    if ka != kb:
        i = a if ka == _INT else b
        return bool(-_EXACT_INT <= i <= _EXACT_INT)
    return True


def _equal(a: Any, b: Any) -> bool:
    """CEL ``a == b`` for scalars; :class:`Unsupported` for lists, maps and NaN."""
    ka, kb = _kind(a), _kind(b)
    if ka not in _SCALARS or kb not in _SCALARS:
        raise Unsupported
    if ka in _NUMBERS and kb in _NUMBERS:
        if not _numbers_comparable(a, ka, b, kb):
            raise Unsupported
        return bool(a == b)
    if ka != kb:
        return False  # CEL: values of different types are not equal (null == 0, "1" == 1, true == 1)
    return bool(a == b)


def _order(a: Any, b: Any) -> int:
    """-1, 0 or 1 as CEL orders two numbers or two strings; :class:`Unsupported` otherwise."""
    ka, kb = _kind(a), _kind(b)
    if ka in _NUMBERS and kb in _NUMBERS:
        if not _numbers_comparable(a, ka, b, kb):
            raise Unsupported
    elif not (ka == _STR and kb == _STR):
        raise Unsupported
    return -1 if a < b else (1 if a > b else 0)


def _int_result(value: int) -> int:
    if _I64_MIN <= value <= _I64_MAX:
        return value
    raise Unsupported  # CEL reports int64 overflow as an error


def _add(a: Any, b: Any) -> Any:
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        raise Unsupported
    if ka == _INT:
        return _int_result(a + b)
    if ka in (_FLOAT, _STR):
        return a + b
    raise Unsupported


def _subtract(a: Any, b: Any) -> Any:
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        raise Unsupported
    if ka == _INT:
        return _int_result(a - b)
    if ka == _FLOAT:
        return a - b
    raise Unsupported


def _negate(a: Any) -> Any:
    ka = _kind(a)
    if ka == _INT:
        return _int_result(-a)
    if ka == _FLOAT:
        return -a
    raise Unsupported


#: String methods with the same meaning in Python on str (code points) as in CEL on UTF-8 text:
#: containment, prefix and suffix of valid UTF-8 agree byte-wise and code-point-wise.
_STRING_METHODS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda text, part: part in text,
    "startsWith": lambda text, part: text.startswith(part),
    "endsWith": lambda text, part: text.endswith(part),
}

# --- tokens ----------------------------------------------------------------------------------------

#: The operators and punctuation the subset reads; any other token rejects the condition.
_OPERATORS = frozenset({"||", "&&", "==", "!=", "<=", ">=", "<", ">", "!", "+", "-", "(", ")", "[", "]", ",", "."})
#: The number literals the subset reads: decimal ints and doubles (no unsigned or hex ints, whose
#: types CEL keeps apart), not followed by a letter, digit or dot.
_NUMBER = re.compile(r"(?:\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)(?![\w.])")
#: Identifiers CEL gives a meaning of its own (types, reserved words): never read as variables.
_RESERVED = frozenset(
    {
        *("as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop"),
        *("package", "namespace", "return", "var", "void", "while"),
        *("int", "uint", "double", "bool", "string", "bytes", "list", "map", "type", "null_type", "dyn"),
    }
)
_KEYWORDS = frozenset({"true", "false", "null", "in"})


def _tokens(source: str) -> list[tuple[str, str]]:
    """The tokens of ``source`` as (kind, text), or :class:`_Reject` for one outside the subset."""
    out: list[tuple[str, str]] = []
    for kind, text, offset in tokens(source):
        if kind == "other" or (kind == "op" and text not in _OPERATORS):
            raise _Reject(f"unsupported character {text!r}")
        number = _NUMBER.match(source, offset) if kind == "number" else None
        if kind == "number" and (number is None or number.end() != offset + len(text)):
            raise _Reject(f"unsupported number {text!r}")
        if kind == "string" and text[0] in "bB":
            raise _Reject(f"bytes literal {text!r}")
        out.append((kind, text))
    return out


def _literal(text: str, expected: type) -> Any:
    """A literal decoded by CEL itself, so escapes and number syntax mean exactly what CEL says."""
    try:
        value = cel.evaluate(text)
    except Exception as exc:
        raise _Reject(f"literal {text!r}: {exc}") from None
    if type(value) is not expected:
        raise _Reject(f"literal {text!r} is not a {expected.__name__}")
    return value


# --- parser and code generation -------------------------------------------------------------------------

_NO_VALUE = object()


class _Node:
    """A compiled subexpression: its evaluator, its value when constant, whether it yields a bool."""

    __slots__ = ("boolean", "const", "fn", "match", "path")

    def __init__(
        self,
        fn: Evaluator,
        *,
        const: Any = _NO_VALUE,
        boolean: bool = False,
        path: tuple[str, ...] | None = None,
        match: tuple[_Node, str] | None = None,
    ) -> None:
        self.fn = fn
        self.const = const
        self.boolean = boolean
        self.path = path  # a variable and the fields selected from it: ("post", "author", "role")
        self.match = match  # `subject.matches("literal")` on a path: the subject and the pattern


def _constant(value: Any) -> _Node:
    return _Node(lambda env: value, const=value, boolean=type(value) is bool)


class _Parser:
    def __init__(self, source: str, functions: Mapping[str, Callable[..., Any]]) -> None:
        self.toks = _tokens(source)
        self.pos = 0
        self.functions = functions

    def peek(self) -> tuple[str, str]:
        return self.toks[self.pos] if self.pos < len(self.toks) else ("end", "")

    def take(self, text: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] == "end" or (text is not None and (tok[0] not in ("op", "ident") or tok[1] != text)):
            raise _Reject(f"expected {text!r}, found {tok[1]!r}")
        self.pos += 1
        return tok

    def at(self, *texts: str) -> bool:
        kind, text = self.peek()
        return kind in ("op", "ident") and text in texts

    def parse(self) -> _Node:
        node = self.expr()
        if self.peek()[0] != "end":
            raise _Reject(f"unexpected {self.peek()[1]!r}")
        return node

    def expr(self) -> _Node:
        operands = [self.conjunction()]
        while self.at("||"):
            self.take()
            operands.append(self.conjunction())
        operands = _merge_matches(operands)
        node = operands[0]
        for right in operands[1:]:
            node = _logical(True, node, right)
        return node

    def conjunction(self) -> _Node:
        node = self.relation()
        while self.at("&&"):
            self.take()
            node = _logical(False, node, self.relation())
        return node

    def relation(self) -> _Node:
        node = self.addition()
        while self.at("==", "!=", "<", "<=", ">", ">=", "in"):
            op = self.take()[1]
            node = _relation(op, node, self.addition())
        return node

    def addition(self) -> _Node:
        node = self.unary()
        while self.at("+", "-"):
            op = self.take()[1]
            node = _arithmetic(op, node, self.unary())
        return node

    def unary(self) -> _Node:
        if self.at("!"):
            self.take()
            return _not(self.unary())
        if self.at("-"):
            self.take()
            inner = self.unary().fn
            return _Node(lambda env: _negate(inner(env)))
        return self.member()

    def member(self) -> _Node:
        node = self.primary()
        while self.at("."):
            if node.const is not _NO_VALUE:
                raise _Reject("member of a literal")
            self.take()
            kind, name = self.take()
            if kind != "ident" or name in _KEYWORDS:
                raise _Reject(f"bad member {name!r}")
            node = self.method(node, name) if self.at("(") else _select(node, name)
        if self.at("["):
            raise _Reject("indexing")
        return node

    def arguments(self) -> list[_Node]:
        self.take("(")
        args: list[_Node] = []
        while not self.at(")"):
            if args:
                self.take(",")
            args.append(self.expr())
        self.take(")")
        return args

    def method(self, target: _Node, name: str) -> _Node:
        if name in ("exists", "all"):
            self.take("(")
            kind, var = self.take()
            if kind != "ident" or var in _KEYWORDS or var in _RESERVED:
                raise _Reject("macro variable")
            self.take(",")
            body = self.expr()
            self.take(")")
            return _macro(name == "exists", target, var, body)
        args = self.arguments()
        if name in _STRING_METHODS and len(args) == 1:
            return _call(_STRING_METHODS[name], [target, *args])
        return self.call(name, [target, *args])

    def call(self, name: str, args: list[_Node]) -> _Node:
        """``size(x)`` / ``x.size()`` and the registered ``sg_matches`` in either form."""
        if name == "size" and len(args) == 1:
            arg = args[0].fn

            def size(env: Env) -> int:
                value = arg(env)
                if type(value) is list or type(value) is tuple:
                    return len(value)
                raise Unsupported  # string sizes count differently in the CEL runtime; maps: not needed

            return _Node(size)
        if name == "sg_matches" and name in self.functions and len(args) == 2:
            return _call(self.functions[name], args)
        raise _Reject(f"function {name!r}")

    def primary(self) -> _Node:
        kind, text = self.take()
        if kind == "string":
            return _constant(_literal(text, str))
        if kind == "number":
            return _constant(_literal(text, float if ("." in text or "e" in text or "E" in text) else int))
        if kind == "ident":
            if text in ("true", "false"):
                return _constant(text == "true")
            if text == "null":
                return _constant(None)
            if text in _KEYWORDS or text in _RESERVED:
                raise _Reject(f"identifier {text!r}")
            if self.at("("):
                return self.call(text, self.arguments())
            return _variable(text)
        if text == "(":
            node = self.expr()
            self.take(")")
            return _Node(node.fn, boolean=node.boolean)  # parenthesised: not a literal, not a path
        if text == "[":
            items: list[_Node] = []
            while not self.at("]"):
                if items:
                    self.take(",")
                items.append(self.expr())
            self.take("]")
            if all(item.const is not _NO_VALUE for item in items):
                fixed = tuple(item.const for item in items)
                return _Node(lambda env: fixed)  # built once (not a literal: no members of it)
            fns = [item.fn for item in items]
            return _Node(lambda env: [fn(env) for fn in fns])
        raise _Reject(f"unexpected {text!r}")


def _variable(name: str) -> _Node:
    def read(env: Env) -> Any:
        try:
            return env[name]
        except KeyError:
            raise Unsupported from None  # CEL: undeclared reference

    return _Node(read, path=(name,))


def _select(target: _Node, name: str) -> _Node:
    """``target.name`` on a map; a missing key is CEL's error. Paths of one or two fields read in one step."""
    path = None if target.path is None else (*target.path, name)
    if path is not None and len(path) == 2:
        root, a = path

        def read1(env: Env) -> Any:
            try:
                value = env[root]
                if type(value) is dict:
                    return value[a]
            except KeyError:
                pass
            raise Unsupported

        return _Node(read1, path=path)
    if path is not None and len(path) == 3:
        root, a, b = path

        def read2(env: Env) -> Any:
            try:
                value = env[root]
                if type(value) is dict:
                    value = value[a]
                    if type(value) is dict:
                        return value[b]
            except KeyError:
                pass
            raise Unsupported

        return _Node(read2, path=path)
    inner = target.fn

    def select(env: Env) -> Any:
        value = inner(env)
        if type(value) is dict:
            found = value.get(name, _NO_VALUE)
            if found is not _NO_VALUE:
                return found
        raise Unsupported

    return _Node(select, path=path)


def _logical(is_or: bool, left: _Node, right: _Node) -> _Node:
    """``left || right`` (``is_or``) or ``left && right``: the left side alone decides when it is the
    deciding value (true for ``||``, false for ``&&``); anything but a bool on either side is CEL's."""
    lf, rf = left.fn, right.fn
    deciding, other = is_or, not is_or

    def logical(env: Env) -> bool:
        value = lf(env)
        if value is deciding:
            return is_or
        if value is not other:
            raise Unsupported
        value = rf(env)
        if type(value) is bool:
            return value
        raise Unsupported

    return _Node(logical, boolean=True)


def _not(inner: _Node) -> _Node:
    fn = inner.fn

    def negate(env: Env) -> bool:
        value = fn(env)
        if type(value) is bool:
            return not value
        raise Unsupported

    return _Node(negate, boolean=True)


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _relation(op: str, left: _Node, right: _Node) -> _Node:
    lf, rf = left.fn, right.fn
    if op in ("==", "!="):
        equal = op == "=="

        def compare_equal(env: Env) -> bool:
            return _equal(lf(env), rf(env)) is equal

        return _Node(compare_equal, boolean=True)
    if op == "in":

        def member(env: Env) -> bool:
            element = lf(env)
            items = rf(env)
            if type(items) is not list and type(items) is not tuple:
                raise Unsupported
            # strings among strings (the common case): plain containment means CEL equality
            if type(element) is str and _STR_TYPE.issuperset(map(type, items)):
                return element in items
            return any(_equal(element, item) for item in items)

        return _Node(member, boolean=True)
    test = _ORDER[op]
    const = right.const
    if type(const) is float and const == const:
        # `x >= 0.7`: a float (no NaN) or an int small enough to convert exactly compares as in CEL
        def compare_float(env: Env) -> bool:
            value = lf(env)
            kind = type(value)
            if (kind is float and value == value) or (kind is int and -_EXACT_INT <= value <= _EXACT_INT):
                return test(value, const)
            raise Unsupported

        return _Node(compare_float, boolean=True)
    if type(const) is int and -_EXACT_INT <= const <= _EXACT_INT:
        # `size(x) > 0`: an int, or a float (no NaN) against an int that converts exactly
        def compare_int(env: Env) -> bool:
            value = lf(env)
            kind = type(value)
            if (kind is int and _I64_MIN <= value <= _I64_MAX) or (kind is float and value == value):
                return test(value, const)
            raise Unsupported

        return _Node(compare_int, boolean=True)

    def compare(env: Env) -> bool:
        return test(_order(lf(env), rf(env)), 0)

    return _Node(compare, boolean=True)


_STR_TYPE = frozenset({str})


def _arithmetic(op: str, left: _Node, right: _Node) -> _Node:
    fn = _add if op == "+" else _subtract
    lf, rf = left.fn, right.fn
    return _Node(lambda env: fn(lf(env), rf(env)))


def _macro(want: bool, target: _Node, var: str, body: _Node) -> _Node:
    """``exists`` (want: True) stops at the first true, ``all`` (want: False) at the first false."""
    tf, bf = target.fn, body.fn

    def evaluate(env: Env) -> bool:
        items = tf(env)
        if type(items) is not list and type(items) is not tuple:
            raise Unsupported
        if not items:
            return not want
        scope = dict(env)
        for item in items:
            scope[var] = item
            value = bf(scope)
            if type(value) is not bool:
                raise Unsupported
            if value is want:
                return want
        return not want

    return _Node(evaluate, boolean=True)


def _call(fn: Callable[..., Any], args: list[_Node]) -> _Node:
    """A string function (a string method, or one registered with the CEL context, which CEL calls
    with the same string arguments) whose result must be a bool."""
    if len(args) != 2:
        raise _Reject("arity")
    af, bf = args[0].fn, args[1].fn
    pattern = args[1].const
    if type(pattern) is str:
        if fn is regex_match:
            match = (args[0], pattern) if args[0].path is not None else None
            return _Node(_match_literal(af, pattern), boolean=True, match=match)

        def call_const(env: Env) -> bool:
            text = af(env)
            if type(text) is not str:
                raise Unsupported
            try:
                result = fn(text, pattern)
            except Exception:
                raise Unsupported from None
            if type(result) is bool:
                return result
            raise Unsupported

        return _Node(call_const, boolean=True)

    def call(env: Env) -> bool:
        a = af(env)
        b = bf(env)
        if type(a) is not str or type(b) is not str:
            raise Unsupported
        try:
            result = fn(a, b)
        except Exception:
            raise Unsupported from None
        if type(result) is bool:
            return result
        raise Unsupported

    return _Node(call, boolean=True)


def _match_literal(subject: Evaluator, pattern: str) -> Evaluator:
    test = pattern_matcher(pattern)  # regex_match(text, pattern), the pattern looked up once

    def match_literal(env: Env) -> bool:
        text = subject(env)
        if type(text) is not str:
            raise Unsupported
        try:
            return test(text)
        except Exception:
            raise Unsupported from None

    return match_literal


def _merge_matches(operands: list[_Node]) -> list[_Node]:
    """Adjacent ``||`` operands matching literal patterns on the same path become one match of the
    patterns' alternation: a text has a match of ``(?:A)|(?:B)`` exactly where it has one of A or of
    B (RE2 scopes inline flags such as ``(?i)`` to their group), and the operands cannot fail
    differently (same subject, valid patterns), so the disjunction's value is unchanged."""
    out: list[_Node] = []
    run: list[tuple[_Node, str]] = []  # (subject, pattern) of the operands being gathered

    def flush() -> None:
        patterns = [pattern for _, pattern in run]
        merged = "|".join(f"(?:{p})" for p in patterns)
        quoting = any("\\Q" in p or "\\E" in p for p in patterns)  # \Q...\E could swallow a ")"
        if len(run) > 1 and not quoting and pattern_error(merged) is None:
            out.append(_Node(_match_literal(run[0][0].fn, merged), boolean=True))
        else:
            out.extend(_Node(_match_literal(subject.fn, pattern), boolean=True) for subject, pattern in run)
        run.clear()

    for node in operands:
        if node.match is None:
            flush()
            out.append(node)
            continue
        if run and run[0][0].path != node.match[0].path:
            flush()
        run.append(node.match)
    flush()
    return out


def _parse(source: str, functions: Mapping[str, Callable[..., Any]]) -> _Node | None:
    try:
        return _Parser(source, functions).parse()
    except (_Reject, RecursionError):
        return None


def compile_expression(source: str, functions: Mapping[str, Callable[..., Any]]) -> Evaluator | None:
    """A Python function giving the value of the CEL expression ``source``, or None outside the subset.

    Only scalar results (null, bool, int, float, string) are returned; a list or map result raises
    :class:`Unsupported`. The function takes the variables (``{"post": ..., "<classifier>": {...}}``)
    and returns what the CEL program returns, or raises :class:`Unsupported` when CEL must decide.
    ``functions`` are those registered with the CEL context (only ``sg_matches`` is called directly).
    """
    node = _parse(source, functions)
    if node is None:
        return None
    fn = node.fn

    def expression(env: Env) -> Any:
        result = fn(env)
        if _kind(result) not in _SCALARS:
            raise Unsupported  # lists and maps come back from CEL as new objects: let CEL build them
        return result

    return expression


def compile_condition(source: str, functions: Mapping[str, Callable[..., Any]]) -> Evaluator | None:
    """Like :func:`compile_expression`, for a rule condition: a value that is not a boolean raises
    :class:`Unsupported` (CEL then returns it, and the engine reports the condition as an error)."""
    node = _parse(source, functions)
    if node is None:
        return None
    if node.boolean:
        return node.fn
    fn = node.fn

    def condition(env: Env) -> bool:
        result = fn(env)
        if type(result) is not bool:
            raise Unsupported
        return result

    return condition
