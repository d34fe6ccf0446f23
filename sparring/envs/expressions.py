"""Reading an arithmetic expression a model proposed: exact labels from a bounded evaluator.

A proposal is read with `ast` (never `eval`) into arithmetic's `Expr` tree and admitted only if it is
integer literals joined by + - * / % and parentheses, within `ExpressionLimits`. Everything else is
rejected with its reason (`Rejected`): a proposal's answer then comes from evaluating it, never from
a vote of the solver's answers. The checks run before any arithmetic that could grow: the text's
length and characters before parsing, the literals' digits and the operation count and depth before
evaluating, and with no exponent an expression of at most `max_operations` operations on literals of
at most `max_literal_digits` digits cannot take long or grow past a few hundred digits, so the result's
size is checked after. `/` is admitted where the division is exact, `%` only of a non-negative number
by a positive one (where every convention agrees).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from sparring.envs.arithmetic import Expr, Op, evaluate, render

_ALLOWED = re.compile(r"[0-9+\-*/%() ]*")  # ASCII only: unicode digits, names, exponents' letters fail here
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "/", ast.Mod: "%"}


class Rejected(ValueError):
    """A proposal the evaluator will not admit; `reason` says why, in a few words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ExpressionLimits:
    max_chars: int = 120
    max_operations: int = 8
    max_depth: int = 5  # nested operations, the outermost counted
    max_literal_digits: int = 4
    max_result_digits: int = 10


@dataclass(frozen=True)
class Difficulty:
    """What a proposal's size says about it, recorded with its measured solve rate."""

    operations: int
    depth: int
    max_digits: int  # of the largest literal
    result_digits: int
    symbols: str  # the operations used, sorted: "*+"


def read_expression(text: str, limits: ExpressionLimits = ExpressionLimits()) -> Expr:
    """The expression `text` denotes, or `Rejected` naming the first limit or rule it breaks."""
    text = text.strip()
    if not text:
        raise Rejected("empty")
    if len(text) > limits.max_chars:
        raise Rejected(f"longer than {limits.max_chars} characters")
    if not _ALLOWED.fullmatch(text):
        bad = next(c for c in text if not _ALLOWED.fullmatch(c))
        raise Rejected(f"character {bad!r} (only digits, + - * / % and parentheses)")
    if "**" in text:
        raise Rejected("exponent")
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, RecursionError, MemoryError):
        raise Rejected("not an expression") from None
    _check_shape(tree, limits)
    expr = _to_expr(tree)
    value = evaluate(expr)
    if len(str(abs(value))) > limits.max_result_digits:
        raise Rejected(f"result longer than {limits.max_result_digits} digits")
    return expr


def _check_shape(node: ast.AST, limits: ExpressionLimits) -> None:
    """Operation count, depth and literal sizes, on the tree before anything is computed."""
    operations, depth = 0, 0
    stack = [(node, 1)]
    while stack:
        n, d = stack.pop()
        if isinstance(n, ast.BinOp):
            operations += 1
            depth = max(depth, d)
            stack += [(n.left, d + 1), (n.right, d + 1)]
        elif isinstance(n, ast.UnaryOp):
            stack.append((n.operand, d))
        elif isinstance(n, ast.Constant) and type(n.value) is int:
            if len(str(n.value)) > limits.max_literal_digits:
                raise Rejected(f"a number longer than {limits.max_literal_digits} digits")
        else:
            raise Rejected(f"{type(n).__name__.lower()} is not arithmetic on integers")
    if operations == 0:
        raise Rejected("no operation")
    if operations > limits.max_operations:
        raise Rejected(f"more than {limits.max_operations} operations")
    if depth > limits.max_depth:
        raise Rejected(f"nested deeper than {limits.max_depth}")


def _to_expr(node: ast.AST) -> Expr:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.operand, ast.Constant) or not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise Rejected("a sign only before a number")
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    symbol = _SYMBOLS.get(type(node.op))
    if symbol is None:
        raise Rejected("exponent" if isinstance(node.op, ast.Pow) else f"operation {type(node.op).__name__}")
    left, right = _to_expr(node.left), _to_expr(node.right)
    if symbol in "/%":
        a, b = evaluate(left), evaluate(right)
        if b == 0:
            raise Rejected("division by zero")
        if symbol == "/" and a % b:
            raise Rejected("division with a remainder")
        if symbol == "%" and (a < 0 or b < 0):
            raise Rejected("remainder of a negative number")
    return Op(symbol, left, right)


def canonical(e: Expr) -> str:
    """One text for expressions that differ only in the order of + or × operands (3 + 4 + 5, 5 + (4 + 3)),
    spacing or redundant parentheses: the key of the novelty archive."""
    return render(_sorted(e))


def shape(e: Expr) -> str:
    """The canonical form with every number replaced by its digit count: '2 + 2 * 1'. Proposals of one
    shape are one template filled with other numbers, the near-duplicates of a batch."""
    return re.sub(r"\d+", lambda m: str(len(m.group())), canonical(e))


def _sorted(e: Expr) -> Expr:
    if isinstance(e, int):
        return e
    if e.symbol in "+*":
        terms = sorted((_sorted(t) for t in _chain(e, e.symbol)), key=render)
        out = terms[0]
        for t in terms[1:]:
            out = Op(e.symbol, out, t)
        return out
    return Op(e.symbol, _sorted(e.left), _sorted(e.right))


def _chain(e: Expr, symbol: str) -> list[Expr]:
    """The operands of a run of one associative operation: (a + b) + (c + d) -> [a, b, c, d]."""
    if isinstance(e, Op) and e.symbol == symbol:
        return _chain(e.left, symbol) + _chain(e.right, symbol)
    return [e]


def difficulty(e: Expr) -> Difficulty:
    literals, symbols = [], set()

    def walk(x: Expr, d: int) -> int:
        if isinstance(x, int):
            literals.append(x)
            return d - 1
        symbols.add(x.symbol)
        return max(walk(x.left, d + 1), walk(x.right, d + 1))

    depth = walk(e, 1)
    return Difficulty(operations=len(literals) - 1, depth=depth, max_digits=max(len(str(abs(x))) for x in literals),
                      result_digits=len(str(abs(evaluate(e)))), symbols="".join(sorted(symbols)))


def literals(e: Expr) -> set[int]:
    return {e} if isinstance(e, int) else literals(e.left) | literals(e.right)
