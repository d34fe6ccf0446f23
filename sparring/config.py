"""Run configuration: pydantic models read from TOML; defaults < file < --set overrides."""

from __future__ import annotations

import difflib
import functools
import typing
from pathlib import Path
from typing import Any, Literal

import tomli_w
import tomllib
from pydantic import BaseModel, Field, ValidationError, create_model, model_validator

from sparring.alarms import AlarmsConfig
from sparring.balance import BalanceConfig
from sparring.curate import CurateConfig
from sparring.errors import ConfigError
from sparring.files import write_atomically
from sparring.models.openai_backend import ServerConfig
from sparring.models.paths import DEFAULT_MODEL
from sparring.models.vllm_backend import VLLMConfig
from sparring.sections import Section, Shapes
from sparring.tasks.propose import ProposeConfig
from sparring.launch import LaunchConfig
from sparring.workers import RayConfig


class BackendConfig(Section):
    shapes_by_key = {"batch_size": None}

    name: str = Field("transformers", description=(
        "transformers (in this process, CPU or GPU) or vllm (`vllm serve` on a GPU, settings in [vllm])"))
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="auto: bfloat16 where the hardware computes it natively, else float32")
    batch_size: int = Field(64, ge=1, description="rows per forward pass")


class RolloutConfig(Section):
    shapes = "rollout"
    shapes_by_key = {"max_in_flight": None, "max_failed_fraction": None, "workers": None}

    problems_per_round: int = Field(96, ge=1)
    samples_per_problem: int = Field(4, ge=1, description="k: samples per problem")
    temperature: float = Field(0.8, ge=0)
    top_k: int = Field(50, ge=0, description="sample from the k likeliest tokens only (0: no cut)")
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(48, ge=1)
    max_in_flight: int = Field(256, ge=1, description="episodes open at once")
    max_turns: int = Field(64, ge=1, description="an episode still running after this many turns is cut (no outcome)")
    max_tokens_per_round: int | None = Field(None, ge=1, description="no new episode starts once this many are generated")
    max_failed_fraction: float = Field(0.2, ge=0, le=1, description="more failed episodes than this stop the run")
    workers: int = Field(1, ge=1, description="Ray actors that play the rollout, each with its own copy of the "
                                               "players ([ray]); 1: this process")


class CurriculumConfig(Section):
    shapes = "rollout"

    levels: list[int] | None = Field(None, min_length=1, description="levels to train on [default: all the env's]")
    band: list[float] = Field(default_factory=lambda: [0.2, 0.8], min_length=2, max_length=2)
    probes: int = Field(2, ge=0, description="levels above the in-band ones sampled each round to measure them")

    @model_validator(mode="after")
    def _band_ordered(self):
        lo, hi = self.band
        if not 0 <= lo < hi <= 1:
            raise ValueError(f"band must satisfy 0 <= low < high <= 1, got {list(self.band)}")
        return self


class EvalConfig(Section):
    shapes = "eval"

    levels: list[int] | None = Field(None, min_length=1, description="held-out levels [default: all the env's]")
    problems_per_level: int = Field(50, ge=1, le=999_999, description="held-out problems per level (or in all, "
                                                                      "for an env without levels)")
    max_new_tokens: int = Field(48, ge=1)


class MatchesConfig(Section):
    """Who the trained policy plays in a game (task 'games'): its league matchmaking and evaluation."""

    shapes = "rollout"
    shapes_by_key = {"eval_opponents": "eval", "eval_games": "eval"}

    self_play_share: float = Field(1.0, ge=0, le=1, description="share of a round's games where it plays every seat")
    past_share: float = Field(0.0, ge=0, le=1, description="share of a round's games against its own past "
                                                           "checkpoints (self-play while it has none)")
    past_k: int = Field(3, ge=1, description="the past checkpoints met: the last k, the base model included")
    opponents: list[str] = Field(default_factory=lambda: ["random-legal"], min_length=1,
                                 description="the fixed anchors it meets in the other games, in turn: scripted "
                                             "players, 'base' for the base model, or 'served:<name>' for the "
                                             "model of [servers.<name>]")
    eval_opponents: list[str] | None = Field(None, min_length=1, description=(
        "judged by its results against these scripted players, 'base' (the base model, greedy) or "
        "'served:<name>' models (the first gives the score) [default: "
        "random-legal and the game's strong player where one is registered]"))
    eval_games: int = Field(200, ge=2, description="evaluation games per opponent, half in each seat")

    @model_validator(mode="after")
    def _shares_fit(self):
        if self.self_play_share + self.past_share > 1:
            raise ValueError(f"self_play_share + past_share must be at most 1, got {self.self_play_share} + "
                             f"{self.past_share}")
        return self


class RunConfig(Section):
    """The core of a run's config. Each registered recipe adds its own section (`[rest_em]`, ...),
    validated by the config class it registered: see `config_class`."""

    shapes_by_key = {"name": None, "rounds": None, "promote": "rollout", "servers": "rollout", "report_to": None}

    name: str = Field("run", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100,
                      description="the run directory's name before its time stamp: letters, digits, . _ -")
    seed: int = 0
    rounds: int = Field(3, ge=0, description="training rounds after round 0 (the base model)")
    env: str | dict[str, float] = Field("arithmetic-v0", description=(
        "the env id, or a mixture of one-seat envs with weights ({\"reasoning-gym/chain_sum\" = 2, ...}): "
        "each round's problems are shared out by weight, and the held-out score is the weighted mean"))
    model: str = Field(DEFAULT_MODEL, description="checkpoint directory, hub id, or the embedded default")
    recipe: str = "rest-em"
    task: str = Field("auto", description="what rounds play and how checkpoints are judged; auto: solo for a "
                                          "one-seat env, games for more seats; 'propose': the model also writes "
                                          "the problems ([propose])")
    promote: Literal["always", "if-better"] = Field("always", description=(
        "if-better: a round whose checkpoint scores below its parent's is kept on record, and the next "
        "round starts from the parent"))
    backend: BackendConfig = Field(default_factory=BackendConfig)
    servers: dict[str, ServerConfig] = Field(default_factory=dict, description=(
        "OpenAI-compatible endpoints by name: [servers.<name>] is seated as the player 'served:<name>'"))
    vllm: VLLMConfig = Field(default_factory=VLLMConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    launch: LaunchConfig = Field(default_factory=LaunchConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    matches: MatchesConfig = Field(default_factory=MatchesConfig)
    propose: ProposeConfig = Field(default_factory=ProposeConfig)
    curate: CurateConfig = Field(default_factory=CurateConfig)
    balance: BalanceConfig = Field(default_factory=BalanceConfig)
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    report_to: list[str] = Field(default_factory=list, description=(
        "experiment trackers that also get every round's metrics, training curves and headline figures: "
        "tensorboard, wandb, trackio (their packages installed); the run directory stays the record"))

    @model_validator(mode="after")
    def _mixture_weights(self):
        if isinstance(self.env, dict):
            if not self.env:
                raise ValueError("env: a mixture names at least one env id")
            bad = {k: w for k, w in self.env.items() if not w > 0}
            if bad:
                raise ValueError(f"env: a mixture's weights must be positive, got {bad}")
        return self

    @property
    def env_weights(self) -> dict[str, float]:
        """The run's envs and their weights (one env: weight 1)."""
        return dict(self.env) if isinstance(self.env, dict) else {self.env: 1.0}

    @property
    def env_ids(self) -> list[str]:
        return list(self.env_weights)


def config_class(recipe: Any = None) -> type[RunConfig]:
    """RunConfig with one section per registered recipe (so one config can configure several recipes,
    and core config imports none of them), and the section of `recipe` where it is an import path."""
    from sparring.recipes import RECIPES

    ids = RECIPES.ids()
    if isinstance(recipe, str) and ":" in recipe and recipe not in ids:
        ids = [*ids, recipe]
    return _with_sections(tuple(dict.fromkeys((RECIPES.load(r).config_key, RECIPES.load(r).config) for r in ids)))


@functools.cache
def _with_sections(sections: tuple[tuple[str, type[BaseModel]], ...]) -> type[RunConfig]:
    fields = {key: (section, Field(default_factory=section)) for key, section in sections}
    return create_model("RunConfig", __base__=RunConfig, **fields)


def _check_keys(data: dict[str, Any], model: type[BaseModel], prefix: str = "") -> None:
    """Fail on the first unknown key, naming it and the valid keys at its level."""
    fields = model.model_fields
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" Did you mean '{prefix}{close[0]}'?" if close else ""
            where = f" in [{prefix.rstrip('.')}]" if prefix else ""
            raise ConfigError(f"unknown config key '{prefix}{key}'.{hint} Valid keys{where}: {', '.join(fields)}")
        sub = fields[key].annotation
        named = _named_sections(sub)
        is_section = isinstance(sub, type) and issubclass(sub, BaseModel)
        if isinstance(value, dict):
            if named is not None:  # [servers.<name>]: one section per name
                for name, section in value.items():
                    if not isinstance(section, dict):
                        raise ConfigError(f"'{prefix}{key}.{name}' is a value; [{prefix}{key}.<name>] is a section")
                    _check_keys(section, named, f"{prefix}{key}.{name}.")
            elif dict in (typing.get_origin(sub), *map(typing.get_origin, typing.get_args(sub))):
                continue  # a table-valued key (servers.<name>.extra_body, env's mixture): the model checks its values
            elif not is_section:
                raise ConfigError(f"'{prefix}{key}' is a value, not a section")
            else:
                _check_keys(value, sub, f"{prefix}{key}.")


def _named_sections(annotation) -> type[BaseModel] | None:
    """The section class of a `dict[str, Section]` field (sections by name), else None."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict and len(args) == 2 and isinstance(args[1], type) \
            and issubclass(args[1], BaseModel):
        return args[1]
    return None


def parse_override(item: str) -> tuple[list[str], Any]:
    """'rollout.temperature=0.7' -> (['rollout', 'temperature'], 0.7); values are TOML, else strings."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set takes key=value (like rollout.temperature=0.7), got {item!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: '{part}' is a value, not a section")
        node[path[-1]] = value
    return data


def build_config(data: dict[str, Any]) -> RunConfig:
    model = config_class(data.get("recipe"))
    _check_keys(data, model)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(_problem(err) for err in e.errors())
        raise ConfigError(f"invalid config: {problems}") from None


def _problem(err: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
    given = f" (got {err['input']!r:.60})" if err["type"] not in ("value_error", "missing") else ""
    return f"{key or 'config'}: {err['msg'].removeprefix('Value error, ')}{given}"


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {str(path)!r} is a directory; give a TOML file") from None
    except OSError as e:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text (byte {e.start}); TOML files are UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {e}") from None


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    data = read_toml(path) if path is not None else {}
    return build_config(apply_overrides(data, overrides or []))


def save_config(cfg: RunConfig, path: Path, code_version: str, notes: tuple[str, ...] = ()) -> None:
    text = tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True))  # TOML has no null: absent means None
    header = "".join(f"# {line}\n" for line in (f"resolved config (defaults < file < --set), sparring {code_version}",
                                                 *notes))
    write_atomically(path, header + text)


def changed_keys(old: BaseModel, new: BaseModel, prefix: str = "") -> list[tuple[str, Shapes]]:
    """The dotted keys whose values differ, each with the stored work it shapes."""
    changed = []
    for name in type(new).model_fields:
        a, b = getattr(old, name), getattr(new, name)
        if isinstance(b, BaseModel):
            changed += changed_keys(a, b, f"{prefix}{name}.")
        elif a != b:
            changed.append((prefix + name, new.shapes_by_key.get(name, new.shapes)))
    return changed
