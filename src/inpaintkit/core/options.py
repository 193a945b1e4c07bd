"""Typed, validated settings: dataclass fields that carry their own limits, checked when the dataclass is
built, so a bad value is refused while the command line is parsed, before any model loads.

    @dataclass
    class DiffusionOptions(Validated):
        steps: int = option(50, ge=1, help="denoising steps")
        eta: float = option(1.0, ge=0, le=1, help="1: DDPM steps, 0: DDIM")

Every float is checked to be finite (``nan`` and ``inf`` are refused); ``choices`` lists the allowed
values of a string. The same metadata describes the options to people (``inpaintkit methods``) and to
programs (the web API's schema).
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field

from .errors import InpaintInputError


def option(default, *, ge=None, gt=None, le=None, lt=None, choices=None, help: str = "", path: bool = False):
    """A dataclass field with limits (``ge``/``gt``/``le``/``lt``, ``choices``) and a one-line help; ``path``
    marks a value that names a file (which a server must not take from its clients)."""
    limits = {k: v for k, v in dict(ge=ge, gt=gt, le=le, lt=lt, choices=choices).items() if v is not None}
    return field(default=default, metadata={"limits": limits, "help": help, "path": path})


def _describe_type(typ) -> str:
    return getattr(typ, "__name__", str(typ))


def convert(value, typ, name: str):
    """A string from the command line or a config file converted to the field's type; other values are
    checked to have it (ints are accepted for floats)."""
    origin = typing.get_origin(typ)
    if origin is typing.Union or type(typ).__name__ == "UnionType":
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            return None
        typ = args[0]
    if isinstance(value, str) and typ is not str:
        text = value.strip()
        try:
            if typ is bool:
                if text.lower() in ("1", "true", "yes", "on"):
                    return True
                if text.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
            if typ is int:
                return int(text)
            if typ is float:
                return float(text)
        except ValueError:
            raise InpaintInputError(f"{name}={value!r} is not a valid {_describe_type(typ)}") from None
        return value
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ in (int, float, bool, str) and not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise InpaintInputError(f"{name}={value!r} is not a valid {_describe_type(typ)}")
    return value


def check_limits(name: str, value, limits: dict) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InpaintInputError(f"{name} must be a finite number, got {value}")
    if value is None:
        return
    bounds = {"ge": (lambda v, b: v >= b, ">="), "gt": (lambda v, b: v > b, ">"),
              "le": (lambda v, b: v <= b, "<="), "lt": (lambda v, b: v < b, "<")}
    for key, (ok, sign) in bounds.items():
        if key in limits and not ok(value, limits[key]):
            raise InpaintInputError(f"{name} must be {sign} {limits[key]}, got {value}")
    if "choices" in limits and value not in limits["choices"]:
        raise InpaintInputError(f"{name} must be one of {', '.join(map(str, limits['choices']))}, got {value!r}")


@dataclass
class Validated:
    """A dataclass whose fields are converted and checked against their :func:`option` limits when it is
    built; subclasses add cross-field rules in :meth:`validate`."""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = convert(getattr(self, f.name), hints[f.name], f.name)
            check_limits(f.name, value, f.metadata.get("limits", {}))
            object.__setattr__(self, f.name, value)
        self.validate()

    def validate(self) -> None:
        """Rules between fields; raise :class:`InpaintInputError`."""


def describe(cls) -> list[dict]:
    """Each field of a :class:`Validated` dataclass: name, type, default, limits and help."""
    hints = typing.get_type_hints(cls)
    return [{"name": f.name, "type": _describe_type(hints[f.name]), "default": f.default,
             "limits": dict(f.metadata.get("limits", {})), "help": f.metadata.get("help", ""),
             "path": bool(f.metadata.get("path", False))} for f in dataclasses.fields(cls)]


def parse_assignments(items: list[str], flag: str = "--set") -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict (keys with ``-`` spelled ``_``); a malformed item is an error."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise InpaintInputError(f"{flag} expects KEY=VALUE, got {item!r}")
        if key in values:
            raise InpaintInputError(f"{flag} {key}=... given twice")
        values[key] = value.strip()
    return values
