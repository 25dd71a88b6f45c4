"""``st2common.util``: only ``shell`` and ``jsonify`` are provided."""
