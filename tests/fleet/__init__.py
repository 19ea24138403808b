"""Helpers for ``tests/test_fleet.py``: a cached Debian root, booted nspawn hosts, ansible runs, release wheels."""
