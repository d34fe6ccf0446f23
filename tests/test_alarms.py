"""Alarms from two rounds' metrics."""

from sparring.alarms import AlarmsConfig, alarms


def _round(r, distinct_2=0.5, vendi=10.0, pass_rate=0.5, score=0.4):
    return {"round": r, "eval": {"score": score, "score_name": "held-out accuracy"},
            "qdc": {"arithmetic-v0": {"diversity": {"distinct_2": distinct_2, "vendi": vendi},
                                      "quality": {"pass_rate": pass_rate}}}}


def test_no_alarm_while_all_is_well():
    assert alarms(_round(1), _round(2, distinct_2=0.45, score=0.41), AlarmsConfig()) == []
    assert alarms(None, {"round": 0, "eval": {"score": 0.3, "score_name": "x"}}, AlarmsConfig()) == []


def test_diversity_drop_saturation_and_a_worse_score_each_raise_one():
    found = alarms(_round(1), _round(2, vendi=7.0, pass_rate=0.97, score=0.35), AlarmsConfig())
    assert len(found) == 3
    assert "vendi 10 -> 7 (-30%, alarm at -25%)" in found[0]
    assert "97% of the samples on arithmetic-v0 passed" in found[1]
    assert "held-out accuracy fell: 40.0 -> 35.0" in found[2]
    assert alarms(_round(1), _round(2, score=0.35), AlarmsConfig(heldout_drop=0.1)) == []  # within the allowance
