"""Network definitions: the architectures inpaintkit trains and the trainable add-ons of its methods."""
