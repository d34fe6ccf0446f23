import pytest

from sparring.errors import SparringError, UnknownIdError
from sparring.registry import Registry


def test_lazy_entries_load_on_demand_and_pass_defaults():
    reg = Registry("thing", "sparring.tests.things")
    reg.register("counter-v0", "collections:Counter", "a counter", a=1)
    assert reg.ids() == ["counter-v0"]
    assert reg.make("counter-v0", b=2) == {"a": 1, "b": 2}


def test_duplicates_are_refused():
    reg = Registry("thing", "sparring.tests.things")
    reg.register("x-v0", "collections:Counter", "x")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x-v0", "collections:OrderedDict", "x again")


def test_unknown_id_suggests_the_closest():
    reg = Registry("environment", "sparring.tests.envs")
    for name in ("arithmetic-v0", "kuhn-poker-v1", "arithmetic-v1"):
        reg.register(name, "collections:Counter", name)
    with pytest.raises(UnknownIdError) as err:
        reg.make("arithmatic-v0")
    assert "Did you mean 'arithmetic-v0'" in str(err.value)
    assert "kuhn-poker-v1" in str(err.value)  # the known ids are listed too


def test_target_must_name_module_and_attribute():
    with pytest.raises(ValueError, match="module:attribute"):
        Registry("thing", "sparring.tests.things").register("x-v0", "collections.Counter", "x")


def test_a_family_serves_every_id_under_its_prefix_and_refuses_overlaps():
    reg = Registry("environment", "sparring.tests.envs")
    reg.register_family("reasoning-gym/", "sparring.envs.reasoning_gym", "reasoning-gym's tasks", example="lcm")
    assert reg.entry("reasoning-gym/chain_sum").member == "chain_sum"
    assert reg.load("reasoning-gym/chain_sum").task == "chain_sum"
    assert reg.ids() == [] and "reasoning-gym/chain_sum" in reg.members(reg.families()[0])
    assert reg.representatives() == ["reasoning-gym/lcm"]
    with pytest.raises(UnknownIdError, match="Known: reasoning-gym/<name>"):
        reg.entry("arithmetic-v0")
    with pytest.raises(ValueError, match="overlaps"):
        reg.register_family("reasoning-gym/x", "sparring.envs.reasoning_gym", "again", example="lcm")


def test_an_import_path_is_an_id_of_its_own():
    reg = Registry("thing", "sparring.tests.things")
    entry = reg.entry("collections:OrderedDict")
    assert (entry.target, entry.origin) == ("collections:OrderedDict", "import path named in the config")
    assert entry.description.startswith("Dictionary that remembers insertion order")
    assert reg.make("collections:Counter", a=2) == {"a": 2}
    assert reg.load("os.path:join")("a", "b") == "a/b"  # a dotted attribute path too
    with pytest.raises(UnknownIdError, match="looks like an import path but is not one"):
        reg.entry("collections.Counter:")
    with pytest.raises(SparringError, match="cannot import the thing 'no_such_module:X': ModuleNotFoundError"):
        reg.entry("no_such_module:X")
    with pytest.raises(SparringError, match="cannot import the thing 'collections:NoSuch': AttributeError"):
        reg.entry("collections:NoSuch")
