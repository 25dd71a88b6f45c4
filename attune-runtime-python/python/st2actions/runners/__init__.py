"""``st2actions.runners``: only ``pythonrunner`` is provided."""
