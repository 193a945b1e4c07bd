"""Test support: tiny random-weight models of every kind and test images. Imported by tests, benchmarks'
``--quick`` runs and scripts only; nothing in the library imports it."""
