"""Atomic writes, stale temporary files, and loading checkpoints without running code."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintkit.core.errors import UnsafeFileError
from inpaintkit.core.files import (atomic_folder, remove_stale_temps, save_image, temp_path, torch_load, torch_save,
                                   write_text)
from inpaintkit.testing.images import noise_pil


def no_temp_files(folder) -> bool:
    return not [p for p in folder.rglob("*") if ".tmp" in p.name]


def test_save_image_never_leaves_a_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    save_image(noise_pil(4, 4), target)
    assert np.asarray(Image.open(target)).shape == (4, 4, 3) and no_temp_files(tmp_path)
    before = target.read_bytes()

    def crash(self, fp, format=None, **kwargs):  # a write that dies half-way
        fp.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", crash)
    with pytest.raises(OSError):
        save_image(noise_pil(4, 4, seed=1), target)
    with pytest.raises(OSError):
        save_image(noise_pil(4, 4, seed=1), tmp_path / "new.png")
    assert target.read_bytes() == before
    assert not (tmp_path / "new.png").exists() and no_temp_files(tmp_path)


def test_atomic_folder_replaces_the_whole_folder(tmp_path):
    target = tmp_path / "model"
    with atomic_folder(target) as tmp:
        write_text(tmp / "a.txt", "1")
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as tmp:
            write_text(tmp / "b.txt", "2")
            raise RuntimeError("killed")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"] and no_temp_files(tmp_path)
    with atomic_folder(target) as tmp:
        write_text(tmp / "c.txt", "3")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"] and no_temp_files(tmp_path)


def test_only_temps_of_dead_writers_are_removed(tmp_path):
    mine = temp_path(tmp_path / "x.png")
    mine.write_text("in progress")
    dead = tmp_path / ".y.png.999999999.0123abcd.tmp"
    dead.write_text("left by a killed run")
    other = tmp_path / ".z.png.tmp"  # not one of ours
    other.write_text("keep")
    assert remove_stale_temps(tmp_path) == 1
    assert mine.exists() and other.exists() and not dead.exists()
    assert str(os.getpid()) in mine.name


class Payload:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_torch_load_refuses_a_pickle_that_runs_code(tmp_path):
    created = tmp_path / "created"
    torch.save({"weights": torch.ones(2), "evil": Payload(created)}, tmp_path / "bad.pt")
    with pytest.raises(UnsafeFileError, match="refused to load"):
        torch_load(tmp_path / "bad.pt")
    assert not created.exists()
    torch_save({"weights": torch.ones(2), "step": 3, "groups": [{"betas": (0.9, 0.99)}]}, tmp_path / "good.pt")
    assert torch_load(tmp_path / "good.pt")["step"] == 3
