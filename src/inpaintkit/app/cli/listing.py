"""``inpaintkit methods`` and ``inpaintkit models``: what is there, read without loading a network."""
from __future__ import annotations

import typer

from .common import app, user_errors


SIGNS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _format_option(o: dict) -> str:
    """``steps: int = 50 (>= 1)``."""
    rules = [f"{SIGNS[k]} {v}" for k, v in o["limits"].items() if k in SIGNS]
    if "choices" in o["limits"]:
        rules.append("one of " + "/".join(map(str, o["limits"]["choices"])))
    return f"{o['name']}: {o['type']} = {o['default']!r}" + (f" ({', '.join(rules)})" if rules else "")


@app.command("methods")
def methods_command():
    """List the inpainting methods and their options.

    Set an option with --set KEY=VALUE.
    """
    from ...methods import METHODS, describe_options

    for name in sorted(METHODS):
        spec = METHODS[name]
        typer.echo(f"{name}: {spec.summary}")
        typer.echo(f"    models: {', '.join(spec.spaces) if spec.spaces else 'none needed'}"
                   + (f"    paper: {spec.paper}" if spec.paper else ""))
        options = "; ".join(_format_option(o) for o in describe_options(name))
        typer.echo(f"    options: {options or 'none'}")


def _format_fid(fid, floor=None) -> str:
    if isinstance(fid, dict):
        return ", ".join(f"FID {value} ({key})" for key, value in fid.items())
    return f"FID {fid}" + (f" (floor {floor})" if floor is not None else "")


@app.command("models")
def models_command():
    """List the built-in models.

    Any other model: pass a diffusers folder or hub id with --model.
    """
    from ...api import DEFAULT_MODEL
    from ...models import builtin_models, model_summary

    with user_errors():
        builtins = builtin_models()
        if not builtins:
            typer.echo("no built-in models installed; pass a diffusers folder or hub id with --model")
        for name, folder in builtins.items():
            m = model_summary(folder)
            facts = [f"{m['resolution']}x{m['resolution']} {m['space']}", m["conditioning"],
                     f"{m['parameters']:,} parameters"]
            if m["training_steps"] is not None:
                facts.append(f"{m['training_steps']} training steps")
            if m["fid"] is not None:
                facts.append(_format_fid(m["fid"], m["fid_floor"]))
            typer.echo(f"{name}{' (default)' if name == DEFAULT_MODEL else ''}: {', '.join(facts)}")
