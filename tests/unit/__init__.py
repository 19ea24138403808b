"""The fast tier: pure logic and file formats in process, no broker, no model, no subprocess CLI (pytest -m unit)."""
