"""The training helpers every recipe shares: a round's steps are bounded, for TRL's trainers and our own loop."""

from sparring.recipes.rest_em import RestEMConfig
from sparring.recipes.training import planned_steps, train_sft


def test_planned_steps_are_bounded_by_max_steps():
    cfg = RestEMConfig(batch_size=4, epochs=2.0)
    assert planned_steps(10, cfg) == 5  # ceil(10 x 2 / 4)
    assert planned_steps(10, cfg.model_copy(update={"max_steps": 2})) == 2
    assert planned_steps(1, cfg) == 1


def test_trls_trainers_stop_at_max_steps(tiny_model, tmp_path):
    rows = [{"prompt": [{"role": "user", "content": f"problem {i}"}],
             "completion": [{"role": "assistant", "content": f"Answer: {i}"}]} for i in range(8)]
    bounded = train_sft(tiny_model, rows, RestEMConfig(batch_size=2, max_steps=2), "rest_em", tmp_path / "a")
    assert len(bounded.losses) == 2
    full = train_sft(tiny_model, rows, RestEMConfig(batch_size=2, max_steps=9), "rest_em", tmp_path / "b")
    assert len(full.losses) == 4  # one epoch of 8 rows in batches of 2: max_steps only ever cuts
