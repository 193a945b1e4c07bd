"""The ground floor: the noise schedule, image and mask I/O, crop geometry, errors, locations, devices,
threads, typed options and atomic files. Imports nothing of inpaintkit outside ``core``."""
