"""Attune's stand-in for the parts of StackStorm's ``st2common`` package that Python actions
use, written from StackStorm's documented behaviour: ``st2common.runners.base_action.Action``
with ``config``, ``logger`` and ``action_service`` (the key-value store), ``st2common.log``,
``st2common.constants.keyvalue``, ``st2common.util.shell`` and ``st2common.util.jsonify``.
Any other module of it is an import error saying that Attune does not provide it."""

import attune  # noqa: F401  (installs the finder that names what is not provided)
