"""The ``frd`` command line."""
