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


def test_model_card_reproduce_command_keeps_a_cosine_schedule_length():
    card = runpy.run_path(str(ROOT / "scripts" / "model_card.py"), run_name="model_card")
    from inpaintkit.train.config import preset_config
    cfg = {**vars(preset_config("faces-64", "runs/faces-64")), "architecture": "face64-cpu", "batch_size": 32}
    # a constant rate: a snapshot of a longer run is the run of the snapshot's length
    constant = card["train_command"]("faces-64", cfg, 4455)
    assert "--steps 4455" in constant and "--lr-schedule" not in constant
    assert card["schedule_words"](cfg) == "constant"
    # a cosine: the schedule's length is part of the recipe
    cosine = {**cfg, "lr_schedule": "cosine", "steps": 6600}
    command = card["train_command"]("faces-64", cosine, 6600)
    assert "--steps 6600" in command and "--lr-schedule cosine" in command
    assert card["schedule_words"](cosine) == "cosine to 0.1x at step 6,600"
    # a fine-tune into another parameterisation: without --prediction-type the command would train eps again
    assert "--prediction-type" not in command
    v_model = {**cosine, "schedule": {**cfg["schedule"], "prediction_type": "v_prediction"}, "init_from": "faces-64"}
    command = card["train_command"]("faces-64", v_model, 2000)
    assert "--prediction-type v_prediction" in command and "--init-from faces-64" in command
