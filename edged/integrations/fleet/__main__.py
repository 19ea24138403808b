"""``python -m edged.integrations.fleet``: see :mod:`.admin`."""

from .admin import main

raise SystemExit(main())
