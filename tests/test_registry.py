import pytest

from sparring.errors import UnknownIdError
from sparring.registry import Registry


def test_lazy_entries_load_on_demand_and_pass_defaults():
    reg = Registry("thing")
    reg.register("counter-v0", "collections:Counter", "a counter", a=1)
    assert reg.ids() == ["counter-v0"]
    assert reg.make("counter-v0", b=2) == {"a": 1, "b": 2}


def test_duplicates_are_refused():
    reg = Registry("thing")
    reg.register("x-v0", "collections:Counter", "x")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x-v0", "collections:OrderedDict", "x again")


def test_unknown_id_suggests_the_closest():
    reg = Registry("environment")
    for name in ("arithmetic-v0", "kuhn-poker-v1", "arithmetic-v1"):
        reg.register(name, "collections:Counter", name)
    with pytest.raises(UnknownIdError) as err:
        reg.make("arithmatic-v0")
    assert "Did you mean 'arithmetic-v0'" in str(err.value)
    assert "kuhn-poker-v1" in str(err.value)  # the known ids are listed too


def test_target_must_name_module_and_attribute():
    with pytest.raises(ValueError, match="module:attribute"):
        Registry("thing").register("x-v0", "collections.Counter", "x")
