"""``frd run``: the composition root (``app``: the one place that builds and wires parts), the daemon
that schedules and routes, and systemd notification."""
