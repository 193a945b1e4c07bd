"""Every benchmark and script runs: its ``--quick`` mode (tiny models and data) on each, in-process."""
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted([*ROOT.glob("benchmarks/*.py"), *ROOT.glob("scripts/*.py")])


def test_every_script_is_covered():
    assert {p.name for p in SCRIPTS} >= {"bench_baselines.py", "model_card.py", "train_pilot.py"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_quick_mode_runs(script, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sys, "argv", [str(script), "--quick"])
    monkeypatch.chdir(tmp_path)  # whatever a script writes stays out of the checkout
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out.strip()  # it reported something
