"""Runs one Attune Python action: reads the request (one JSON line) from stdin, imports the
entry point, calls its run(**params) (or a class's run(self, **params)) and writes the
outcome as JSON to the result file the request names. Exit code 0 whenever an outcome was
written; the action's own prints go to stdout and stderr as they are."""

import sys

# Nothing heavy is imported up front (no json, importlib, inspect, traceback or logging):
# each costs milliseconds at every start of a one-shot interpreter. JSON goes through the C
# scanner and encoder of `_json` directly (importing `json` pulls in `re` and `enum`).
try:
    import _json

    class _Ctx(object):
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = float
        memo = {}

    _scan = _json.make_scanner(_Ctx())

    def _not_json(o):
        raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)

    _encode = _json.make_encoder(
        {}, _not_json, _json.encode_basestring_ascii, None, ": ", ", ", False, False, False
    )

    def loads(text):
        return _scan(text.strip(), 0)[0]

    def dumps(value):
        return "".join(_encode(value, 0))

except (ImportError, AttributeError, TypeError):  # another interpreter: the json module
    from json import dumps as _dumps, loads

    def dumps(value):
        return _dumps(value, allow_nan=False)


def _find_run(module, entry):
    fn = getattr(module, "run", None)
    if callable(fn) and not isinstance(fn, type):
        return fn
    classes = [
        c
        for c in vars(module).values()
        if isinstance(c, type)
        and c.__module__ == module.__name__
        and callable(getattr(c, "run", None))
    ]
    if not classes:
        raise LookupError(
            "%s defines no run(**params) function and no class with a run method" % entry
        )
    cls = classes[-1]
    try:
        instance = cls(config={})
    except TypeError:
        instance = cls()
    return instance.run


def _traceback():
    import traceback

    return traceback.format_exc()


def _error(exc):
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": _traceback(),
    }


def run_request(request):
    """Runs one request; returns the outcome (a dict)."""
    import attune

    attune._begin(request)
    entry = request["entry"]
    try:
        # The entry point as module `attune_action`, without importlib.
        module = type(sys)("attune_action")
        module.__file__ = entry
        sys.modules["attune_action"] = module
        with open(entry, "rb") as f:
            code = compile(f.read(), entry, "exec")
        exec(code, module.__dict__)
        value = _find_run(module, entry)(**(request.get("params") or {}))
    except SystemExit as exc:
        return {"status": "error", "error": {
            "type": "SystemExit",
            "message": "the action called sys.exit(%r)" % (exc.code,),
            "traceback": _traceback(),
        }}
    except BaseException as exc:  # noqa: B902 - every failure of the action is reported
        return {"status": "error", "error": _error(exc)}
    ok = True
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], bool):
        ok, value = value
    try:
        text = dumps(value)
    except (TypeError, ValueError) as exc:
        return {"status": "error", "error": {
            "type": "ResultNotSerializable",
            "message": "the action's return value is not JSON-serialisable: %s" % exc,
            "traceback": "",
        }}
    return {"status": "succeeded" if ok else "failed", "result": value, "_text": text}


def encode(outcome):
    """The outcome as JSON (the result is encoded once, when it was checked)."""
    text = outcome.pop("_text", None)
    if text is None:
        return dumps(outcome)
    return '{"status": %s, "result": %s}' % (dumps(outcome["status"]), text)


def main():
    request = loads(sys.stdin.readline())
    outcome = run_request(request)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(request["result_file"], "w") as f:
        f.write(encode(outcome))


if __name__ == "__main__":
    main()
