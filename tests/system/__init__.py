"""Booted hosts (the fleet tier, an emulated aarch64 host) and a real Home Assistant (pytest -m system)."""
