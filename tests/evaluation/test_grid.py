"""Labelled grids: column titles wider than a cell wrap instead of running into the next column."""
import numpy as np
import torch

from inpaintkit.evaluation.grid import image_grid


def test_a_long_column_title_wraps_within_its_cell():
    image = torch.zeros(1, 3, 8, 8)
    short = image_grid([[image, image]], col_labels=["a", ""], cell=64)
    long = image_grid([[image, image]], col_labels=["PILOT gamma=0.5 every step", ""], cell=64)
    assert long.width == short.width and long.height > short.height + 20  # three lines of title, not one
    header = np.asarray(long)[: long.height - 64 - 4]
    assert (header[:, :64 + 2] < 128).any()  # the title is drawn ...
    assert (header[:, 64 + 4:] == 255).all()  # ... and nothing of it reaches the second column
