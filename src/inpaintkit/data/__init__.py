"""Files to tensors for training and evaluation: image folders and archives, mask generators, caches."""
