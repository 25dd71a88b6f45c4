"""Attune's ``st2reactor.sensor``: see ``st2reactor.sensor.base``."""
