"""Measuring methods and models: metrics, the resumable benchmark, its report, speed, image grids."""
