"""A real mosquitto, the real model and video, the frd command line in a subprocess (pytest -m integration)."""
