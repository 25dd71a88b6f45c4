"""The older name of the action base class."""

import attune as _attune
from st2common.runners.base_action import Action

__all__ = ["Action"]

__getattr__ = _attune._missing_name(__name__, ["Action"])
