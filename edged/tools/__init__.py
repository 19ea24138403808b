"""Measurement and demonstration tools: ``frd eval``, ``frd bench``, ``frd demo``, ``python -m
edged.tools.calibrate`` and the float reference embedders. Built through ``edged.daemon.app``; the runtime
never imports them (tests/unit/test_architecture.py)."""
