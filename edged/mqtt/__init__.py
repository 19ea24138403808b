"""The broker side: the bus (paho), the command table, the pure payload builders and the command
security (signatures, replay protection, rate limits)."""
