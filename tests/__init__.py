"""frd's tests, in tiers (the conftest marks each by its folder): unit/ (fast, in process: no broker, no
model, no subprocess CLI), integration/ (a real mosquitto, the real model, the frd command in a subprocess),
system/ (booted hosts: the fleet tiers, aarch64; a real Home Assistant). The helper modules beside them are
shared (broker.py, daemon_helpers.py, fakebus.py, ha_instance.py, waiting.py, fleet/)."""
