"""The gallery service: enroll, delete, rename, capture, reload and restore, for the CLI and MQTT
alike; it announces every change to its listeners."""
