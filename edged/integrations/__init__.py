"""Listeners of the people service that speak to others: Home Assistant discovery and fleet gallery sync."""
