import time

import pytest
from hypothesis import given, settings, strategies as st

from sparring.envs.arithmetic import Op, evaluate, render
from sparring.envs.expressions import (ExpressionLimits, Rejected, canonical, difficulty, literals,
                                       read_expression, shape)


@pytest.mark.parametrize("text, value", [("3+4*2", 11), ("(3 + 4) * 2", 14), ("12 - (3 - 1)", 10), ("2*3/2", 3),
                                         ("2 * (6 / 3)", 4), ("84 // 12", 7), ("17 % 5", 2), ("-3 * 4", -12)])
def test_admitted_expressions_evaluate_as_python_does(text, value):
    e = read_expression(text)
    assert evaluate(e) == value
    assert eval(render(e).replace("/", "//")) == value  # the text shown to the solver means the same


@pytest.mark.parametrize("text, reason", [
    ("2**3", "exponent"), ("9**9**9", "exponent"), ("1/0", "division by zero"), ("7/2", "division with a remainder"),
    ("-7 % 3", "remainder of a negative number"), ("7 % 0", "division by zero"), ("1+", "not an expression"),
    ("", "empty"), ("3", "no operation"), ("-(3+4)", "a sign only before a number"), ("12345+1", "longer than 4"),
    ("1" + "+1" * 9, "more than 8 operations"), ("((((((1+1)+1)+1)+1)+1)+1)", "nested deeper than 5"),
    ("١٢+1", "character '١'"), ("__import__('os')", "character '_'"), ("1e5+1", "character 'e'"),
    ("2.5*2", "character '.'"), ("(" * 60 + "1" + ")" * 60, "longer than 120"),
])
def test_rejections_name_the_rule(text, reason):
    with pytest.raises(Rejected) as err:
        read_expression(text)
    assert reason in err.value.reason


def test_result_size_is_bounded():
    with pytest.raises(Rejected, match="result longer than 10 digits"):
        read_expression("9999 * 9999 * 9999")
    assert evaluate(read_expression("9999 * 9999 * 99")) == 9999 * 9999 * 99
    assert evaluate(read_expression("9999 * 9999 * 9999", ExpressionLimits(max_result_digits=12))) == 9999 ** 3


def test_render_parenthesises_where_grouping_changes_the_value():
    assert render(Op("*", 2, Op("/", 6, 3))) == "2 * (6 / 3)"
    assert render(Op("/", Op("*", 2, 6), 3)) == "2 * 6 / 3"
    assert render(Op("/", 12, Op("*", 2, 3))) == "12 / (2 * 3)"
    assert render(Op("%", 17, Op("%", 9, 5))) == "17 % (9 % 5)"
    assert render(Op("+", -3, 4)) == "(-3) + 4"


def test_canonical_forgets_operand_order_spacing_and_parentheses_only():
    assert canonical(read_expression("3+4+5")) == canonical(read_expression("5 + (4 + 3)")) == "3 + 4 + 5"
    assert canonical(read_expression("(4+3)*2")) == canonical(read_expression("((2))*(3+4)")) == "2 * (3 + 4)"
    assert canonical(read_expression("5 - 3")) != canonical(read_expression("3 - 5"))
    assert canonical(read_expression("6 / 3 * 2")) != canonical(read_expression("6 / (3 * 2)"))
    assert shape(read_expression("23 + 4 * 567")) == shape(read_expression("4 * 999 + 10")) == "2 + 1 * 3"


def test_difficulty_and_literals():
    e = read_expression("(12 + 3) * 456 - 7")
    assert difficulty(e) == difficulty(read_expression("7 - 456 * (12 + 3)")).__class__(
        operations=3, depth=3, max_digits=3, result_digits=4, symbols="*+-")
    assert literals(e) == {12, 3, 456, 7}


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(list("0123456789+-*/%() ") + ["**", "١", "٣", "ـ", "e", "_"]), max_size=150).map("".join))
def test_any_text_is_read_or_rejected_quickly(text):
    start = time.perf_counter()
    try:
        e = read_expression(text)
    except Rejected:
        pass
    else:
        assert len(str(abs(evaluate(e)))) <= 10 and difficulty(e).operations <= 8
    assert time.perf_counter() - start < 0.05


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.integers(0, 9999), lambda kids: st.tuples(st.sampled_from("+-*"), kids, kids), max_leaves=9))
def test_a_rendered_expression_reads_back_to_itself(tree):
    def build(t):
        return t if isinstance(t, int) else Op(t[0], build(t[1]), build(t[2]))

    e = build(tree)
    try:
        back = read_expression(render(e))
    except Rejected as r:  # too deep or too long a result: the limits, not the reader, said no
        assert any(w in r.reason for w in ("nested", "result", "operations", "longer", "no operation")), r.reason
    else:
        assert evaluate(back) == evaluate(e) and canonical(back) == canonical(e)
