"""The key-value scopes of StackStorm's datastore, by their names."""

import attune as _attune

SYSTEM_SCOPE = "system"
USER_SCOPE = "user"
FULL_SYSTEM_SCOPE = "st2kv.system"
FULL_USER_SCOPE = "st2kv.user"
DATASTORE_PARENT_SCOPE = "st2kv"
ALLOWED_SCOPES = [SYSTEM_SCOPE, USER_SCOPE, FULL_SYSTEM_SCOPE, FULL_USER_SCOPE]
# The separator between a local key's prefix (``<pack>.<ClassName>``) and its name.
DATASTORE_KEY_SEPARATOR = ":"

__getattr__ = _attune._missing_name(
    __name__,
    [
        "SYSTEM_SCOPE",
        "USER_SCOPE",
        "FULL_SYSTEM_SCOPE",
        "FULL_USER_SCOPE",
        "DATASTORE_PARENT_SCOPE",
        "ALLOWED_SCOPES",
        "DATASTORE_KEY_SEPARATOR",
    ],
)
