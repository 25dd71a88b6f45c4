"""JSON helpers."""

import attune as _attune


def json_encode(obj, indent=None, sort_keys=False):
    """``obj`` as JSON text; objects with a ``__json__()`` method are encoded as what it
    returns, sets and tuples as lists."""
    import json

    def default(o):
        if hasattr(o, "__json__"):
            return o.__json__()
        if isinstance(o, (set, frozenset)):
            return list(o)
        raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)

    return json.dumps(obj, default=default, indent=indent, sort_keys=sort_keys)


def json_decode(text):
    """The value of the JSON ``text``."""
    import json

    return json.loads(text)


def load_file(path):
    """The value of the JSON file at ``path``."""
    import json

    with open(path, "r") as f:
        return json.load(f)


def try_loads(s):
    """The value of ``s`` when it is a JSON text, else ``s`` itself."""
    import json

    try:
        return json.loads(s)
    except (ValueError, TypeError):
        return s


__getattr__ = _attune._missing_name(
    __name__, ["json_encode", "json_decode", "load_file", "try_loads"]
)
