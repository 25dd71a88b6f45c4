"""``st2common.services``: only ``datastore`` is provided."""
