"""Validated options: types from strings, limits, finite numbers, KEY=VALUE parsing."""
from dataclasses import dataclass

import pytest

from inpaintkit.core.errors import InpaintInputError
from inpaintkit.core.options import Validated, describe, option, parse_assignments


@dataclass
class Knobs(Validated):
    steps: int = option(10, ge=1, help="how many")
    scale: float = option(1.0, ge=0, le=50)
    mode: str = option("a", choices=("a", "b"))
    on: bool = option(False)
    limit: int | None = option(None, ge=1)

    def validate(self):
        if self.mode == "b" and self.steps < 5:
            raise InpaintInputError("mode b needs steps >= 5")


def test_strings_are_converted_and_checked():
    k = Knobs(steps="3", scale="2.5", mode="a", on="yes", limit="none")
    assert (k.steps, k.scale, k.on, k.limit) == (3, 2.5, True, None)
    assert Knobs(scale=2).scale == 2.0 and isinstance(Knobs(scale=2).scale, float)


@pytest.mark.parametrize("values, message", [
    ({"steps": 0}, "steps must be >= 1"), ({"scale": "nan"}, "finite"), ({"scale": float("inf")}, "finite"),
    ({"scale": 1e9}, "scale must be <= 50"), ({"scale": -1}, ">= 0"), ({"mode": "c"}, "one of a, b"),
    ({"steps": "x"}, "not a valid int"), ({"on": "maybe"}, "not a valid bool"), ({"steps": True}, "not a valid int"),
    ({"mode": "b", "steps": 2}, "mode b needs"), ({"limit": 0}, "limit must be >= 1")])
def test_bad_values_are_refused(values, message):
    with pytest.raises(InpaintInputError, match=message):
        Knobs(**values)


def test_describe_and_parse():
    fields = {f["name"]: f for f in describe(Knobs)}
    assert fields["steps"] == {"name": "steps", "type": "int", "default": 10, "limits": {"ge": 1}, "help": "how many",
                               "path": False}
    assert parse_assignments(["a=1", "b-c = x y"]) == {"a": "1", "b_c": "x y"}
    for bad in (["novalue"], ["=3"], ["a=1", "a=2"]):
        with pytest.raises(InpaintInputError):
            parse_assignments(bad)
