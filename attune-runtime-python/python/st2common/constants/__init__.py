"""``st2common.constants``: only ``keyvalue`` is provided."""
