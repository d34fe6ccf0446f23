from pathlib import Path

import pytest

from sparring.config import RunConfig, build_config, config_class, load_config, read_toml, save_config
from sparring.errors import ConfigError, SparringError


def test_precedence_defaults_then_file_then_set(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("rounds = 5\n[rollout]\ntemperature = 0.5\nsamples_per_problem = 2\n")
    cfg = load_config(path, ["rollout.temperature=0.9", "name=mine"])
    assert cfg.rounds == 5  # file over default
    assert cfg.rollout.temperature == 0.9  # --set over file
    assert cfg.rollout.samples_per_problem == 2
    assert cfg.rollout.max_new_tokens == RunConfig().rollout.max_new_tokens  # default kept
    assert cfg.name == "mine"  # a bare word is a string


@pytest.mark.parametrize("overrides,message", [
    (["rollout.temprature=0.5"], "unknown config key 'rollout.temperature'|Did you mean 'rollout.temperature'"),
    (["rolout.temperature=0.5"], "Valid keys: name, seed, rounds"),
    (["rounds=many"], "rounds: Input should be a valid integer"),
    (["curriculum.band=[0.9, 0.1]"], "band must satisfy"),
    (["rounds"], "--set takes key=value"),
    (["rounds.x=1"], "'rounds' is a value, not a section"),
    (["servers.big.modle='x'"], "unknown config key 'servers.big.modle'.*Valid keys in \\[servers.big\\]: model"),
    (["servers.big=3"], "'servers.big' is a value; \\[servers.<name>\\] is a section"),
    (['env={"arithmetic-v0" = 2, "reasoning-gym/chain_sum" = 0}'], "weights must be positive.*chain_sum"),
    (["env={}"], "a mixture names at least one env id"),
    (['env={"arithmetic-v0" = "much"}'], "env.dict.*valid number"),
    (["rollout.max_in_flight=0"], "rollout.max_in_flight: Input should be greater than or equal to 1"),
    (["rollout.max_in_flight=-4"], "rollout.max_in_flight: Input should be greater than or equal to 1"),
])
def test_bad_config_names_the_key_and_the_valid_ones(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_unknown_key_in_a_file_lists_the_section_keys(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[rest_em]\nlr = 0.1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "unknown config key 'rest_em.lr'" in str(err.value) and "learning_rate" in str(err.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("rounds = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(None, ["rollout.temperature=0.6", "curriculum.levels=[2, 3]", "servers.big.model='m'",
                             'env={"arithmetic-v0" = 2, "reasoning-gym/chain_sum" = 1.5}',
                             "servers.big.extra_body={generation_config='{\"do_sample\": true}', top_k=5}"])
    assert cfg.servers["big"].extra_body == {"generation_config": '{"do_sample": true}', "top_k": 5}
    save_config(cfg, tmp_path / "config.toml", "test")
    assert build_config(read_toml(tmp_path / "config.toml")) == cfg
    assert cfg.env_weights == {"arithmetic-v0": 2, "reasoning-gym/chain_sum": 1.5}


@pytest.mark.parametrize("example", sorted((Path(__file__).parents[1] / "examples").glob("*.toml")), ids=lambda p: p.name)
def test_every_example_config_passes_the_runs_own_checks(example):
    from sparring.loop import check_run_config

    check_run_config(load_config(example))


def test_each_registered_recipe_owns_a_section():
    from sparring.recipes import RECIPES

    for recipe_id in RECIPES.ids():
        recipe = RECIPES.load(recipe_id)
        assert config_class().model_fields[recipe.config_key].annotation is recipe.config
        assert recipe.config_key not in RunConfig.model_fields  # the core config names no recipe
    with pytest.raises(ConfigError, match="rest_em.learning_rate: Input should be greater than 0"):
        load_config(None, ["rest_em.learning_rate=0"])


def test_a_recipe_named_by_its_import_path_brings_its_own_section():
    cfg = load_config(None, ["recipe='sparring.recipes.reinforce:RECIPE'", "reinforce.max_steps=3"])
    assert cfg.recipe == "sparring.recipes.reinforce:RECIPE" and cfg.reinforce.max_steps == 3
    with pytest.raises(SparringError, match="cannot import the recipe 'mypkg.recipes:Mine'"):
        load_config(None, ["recipe='mypkg.recipes:Mine'"])
