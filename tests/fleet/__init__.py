"""Helpers for the fleet tiers (``tests/test_fleet.py``, ``tests/test_arm64.py``): a cached Debian root, booted
nspawn hosts, ansible runs, release wheels, and what both tiers' fixtures share (``harness``)."""
