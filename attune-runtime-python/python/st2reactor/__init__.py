"""Attune's ``st2reactor``: the sensor base classes StackStorm sensors import."""
