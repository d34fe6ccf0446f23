"""Every registered env survives random model outputs; random configs and --set values never crash."""

import string

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from sparring.config import apply_overrides, build_config, config_class, load_config
from sparring.envs import ENVS
from sparring.errors import ConfigError, SparringError
from sparring.harness.fuzz import fuzz_env
from sparring.loop import check_run_config


@pytest.mark.parametrize("env_id", ENVS.representatives())
def test_random_outputs_never_break_an_env(env_id):
    report = fuzz_env(env_id, actions=300)
    assert report.actions >= 300 and report.episodes > 0


def test_a_wrapped_game_raising_in_its_own_code_is_counted_as_a_failed_episode(monkeypatch):
    from sparring.errors import ForeignGameError
    from sparring.harness import fuzz

    class RaisesOnLongReplies:  # tic-tac-toe, but "its own code" raises on replies over 5 characters
        def __init__(self, env):
            self.env = env

        def __getattr__(self, name):
            return getattr(self.env, name)

        def step(self, text):
            if len(text) > 5:
                raise ForeignGameError(f"raised on {text[:8]!r}")
            return self.env.step(text)

    made = fuzz.make_env
    monkeypatch.setattr(fuzz, "make_env", lambda env_id, **kwargs: RaisesOnLongReplies(made(env_id, **kwargs)))
    report = fuzz_env("tictactoe-v1", actions=200)
    assert report.actions >= 200 and 0 < report.foreign_failures < report.actions
    assert report.foreign_example.startswith("raised on ")


@pytest.mark.slow
def test_ten_thousand_random_outputs_on_the_default_env():
    """Full size on the default job's env; `benchmarks/safety.py` runs 10,000 on every env (at ~20 s an
    env, all of them here would cost `make test` five minutes)."""
    report = fuzz_env("arithmetic-v0", actions=10_000)
    assert report.actions >= 10_000


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys += _keys(sub, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


KEYS = _keys(config_class())
key_paths = st.one_of(st.sampled_from(KEYS), st.sampled_from(KEYS).map(lambda k: k + "x"),
                      st.text(alphabet=string.ascii_lowercase + "._", min_size=1, max_size=20))
toml_values = st.recursive(
    st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False), st.text(max_size=20),
              st.datetimes()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(string.ascii_lowercase, min_size=1, max_size=8),
                                                                 inner, max_size=3),
    max_leaves=8)


def _nest(key: str, value):
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def _accepted_or_named(key: str, make) -> None:
    """Either the config is valid and passes the pre-run checks, or the error names the key."""
    try:
        cfg = make()
    except ConfigError as e:
        first = key.split(".")[0]
        assert first in str(e) or "--set" in str(e), str(e)
        return
    try:
        check_run_config(cfg)
    except SparringError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(key=key_paths, value=toml_values)
def test_random_config_files_are_accepted_or_named(tmp_path_factory, key, value):
    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    try:
        path.write_text(tomli_w.dumps(_nest(key, value)))
    except (ValueError, TypeError):  # not representable in TOML (e.g. an empty key part)
        return
    _accepted_or_named(key, lambda: load_config(path))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(key=key_paths, raw=st.one_of(st.text(max_size=30), toml_values.map(lambda v: str(v))))
def test_random_set_values_are_accepted_or_named(key, raw):
    _accepted_or_named(key, lambda: build_config(apply_overrides({}, [f"{key}={raw}"])))
