"""The key-value store as StackStorm's Python actions reach it (``self.action_service``),
over the engine's key store.

Scopes: ``system`` (also ``st2kv.system``) is Attune's system scope; ``user`` (also
``st2kv.user``) is the scope of the execution's user, an error when the execution has none.
``local=True`` (the default) prefixes the name with ``<pack>.<ActionClassName>:``, as
StackStorm does, so that an action's own keys do not collide with another's.
"""

import attune as _attune
from st2common.constants.keyvalue import (
    DATASTORE_KEY_SEPARATOR,
    FULL_SYSTEM_SCOPE,
    FULL_USER_SCOPE,
    SYSTEM_SCOPE,
    USER_SCOPE,
)

_SCOPES = {
    SYSTEM_SCOPE: SYSTEM_SCOPE,
    FULL_SYSTEM_SCOPE: SYSTEM_SCOPE,
    USER_SCOPE: USER_SCOPE,
    FULL_USER_SCOPE: USER_SCOPE,
}

class KeyValuePair(object):
    """A key as ``list_values`` returns it: ``name`` (the full name, prefix included),
    ``value``, ``scope``, ``secret`` / ``encrypted``, ``expire_timestamp`` (ISO 8601 or
    None)."""

    def __init__(self, name, value, scope, encrypted=False, expire_timestamp=None):
        self.name = name
        self.value = value
        self.scope = scope
        self.secret = encrypted
        self.encrypted = encrypted
        self.expire_timestamp = expire_timestamp

    @property
    def id(self):
        return self.name

    def to_dict(self):
        return {
            "name": self.name,
            "value": self.value,
            "scope": self.scope,
            "secret": self.secret,
            "encrypted": self.encrypted,
            "expire_timestamp": self.expire_timestamp,
        }

    def __repr__(self):
        return "<KeyValuePair name=%r scope=%r>" % (self.name, self.scope)


def _scope(scope):
    try:
        return _SCOPES[scope]
    except (KeyError, TypeError):
        raise ValueError(
            "scope %r is not supported (use %r or %r)" % (scope, SYSTEM_SCOPE, USER_SCOPE)
        )


class DatastoreService(object):
    """The key-value store of one action class of one pack."""

    def __init__(self, pack_name, class_name, logger=None):
        self._pack_name = pack_name
        self._class_name = class_name
        self._logger = logger

    def _prefix(self):
        return "%s.%s%s" % (self._pack_name, self._class_name, DATASTORE_KEY_SEPARATOR)

    def _full_name(self, name, local):
        if not isinstance(name, str):
            raise TypeError("a key name must be a string, got %s" % type(name).__name__)
        return self._prefix() + name if local else name

    def get_value(self, name, local=True, scope=SYSTEM_SCOPE, decrypt=False):
        """The value of key ``name``, or None when there is none (or it expired); an
        encrypted value decrypted with ``decrypt``, else as stored."""
        request = {"op": "get", "scope": _scope(scope), "name": self._full_name(name, local)}
        if decrypt:
            request["decrypt"] = True
        key = _attune._key_request(request)
        if key is None:
            return None
        return key.get("value")

    def set_value(self, name, value, ttl=None, local=True, scope=SYSTEM_SCOPE, encrypt=False):
        """Sets key ``name`` to ``value`` (any JSON value), expiring after ``ttl`` seconds
        when given, encrypted with ``encrypt``. True."""
        request = {
            "op": "set",
            "scope": _scope(scope),
            "name": self._full_name(name, local),
            "value": value,
        }
        if encrypt:
            request["encrypt"] = True
        if ttl is not None:
            request["ttl"] = ttl
        return bool(_attune._key_request(request))

    def delete_value(self, name, local=True, scope=SYSTEM_SCOPE):
        """Deletes key ``name``: True if it was there, False if not."""
        return bool(
            _attune._key_request(
                {"op": "delete", "scope": _scope(scope), "name": self._full_name(name, local)}
            )
        )

    def list_values(self, local=True, prefix=None, limit=None, offset=0, scope=SYSTEM_SCOPE):
        """The keys (``KeyValuePair``) whose full names start with this class's prefix
        (``local``) followed by ``prefix``, ordered by name."""
        if prefix is not None and not isinstance(prefix, str):
            raise TypeError("prefix must be a string, got %s" % type(prefix).__name__)
        full = (self._prefix() if local else "") + (prefix or "")
        keys = _attune._key_request({"op": "list", "scope": _scope(scope), "prefix": full})
        pairs = [
            KeyValuePair(k["name"], k["value"], k["scope"], k["encrypted"], k.get("expires"))
            for k in keys
        ]
        pairs = pairs[offset:]
        if limit is not None and limit >= 0:
            pairs = pairs[:limit]
        return pairs


class ActionService(object):
    """``self.action_service`` of an action: the key-value store."""

    def __init__(self, pack_name, class_name, logger=None):
        self.datastore_service = DatastoreService(pack_name, class_name, logger)

    def get_value(self, name, local=True, scope=SYSTEM_SCOPE, decrypt=False):
        return self.datastore_service.get_value(name, local, scope=scope, decrypt=decrypt)

    def set_value(self, name, value, ttl=None, local=True, scope=SYSTEM_SCOPE, encrypt=False):
        return self.datastore_service.set_value(
            name, value, ttl=ttl, local=local, scope=scope, encrypt=encrypt
        )

    def delete_value(self, name, local=True, scope=SYSTEM_SCOPE):
        return self.datastore_service.delete_value(name, local, scope=scope)

    def list_values(self, local=True, prefix=None, limit=None, offset=0):
        return self.datastore_service.list_values(local, prefix, limit=limit, offset=offset)


__getattr__ = _attune._missing_name(
    __name__, ["ActionService", "DatastoreService", "KeyValuePair"]
)
