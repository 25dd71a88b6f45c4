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


def _find_run(module, entry, config):
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
        instance = cls(config=config)
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


_code_cache = {}


def _load(entry, shared):
    """The entry point as a module `attune_action`: executed afresh for each run (its
    module-level state is its own), unless the module opted into sharing it between runs
    (`ATTUNE_SHARE = True`; `shared` is the cache of a persistent worker, None in one-shot
    mode). A persistent worker keeps the compiled code per file version."""
    if shared is None:
        # One-shot: compiled once anyway (and `os` is not even imported: ~1 ms at start).
        with open(entry, "rb") as f:
            code = compile(f.read(), entry, "exec")
    elif entry in shared:
        return shared[entry]
    else:
        import os

        stamp = os.stat(entry).st_mtime_ns
        cached = _code_cache.get(entry)
        if cached is not None and cached[0] == stamp:
            code = cached[1]
        else:
            with open(entry, "rb") as f:
                code = compile(f.read(), entry, "exec")
            _code_cache[entry] = (stamp, code)
    module = type(sys)("attune_action")
    module.__file__ = entry
    sys.modules["attune_action"] = module
    exec(code, module.__dict__)
    if shared is not None and getattr(module, "ATTUNE_SHARE", False):
        shared[entry] = module
    return module


def _pack_libs(request):
    """The pack's library directories, importable by its actions."""
    pack_dir = request.get("pack_dir")
    if not pack_dir:
        return []
    return [pack_dir + "/actions/lib", pack_dir + "/lib"]


def run_request(request, shared=None):
    """Runs one request; returns the outcome (a dict)."""
    import attune

    attune._begin(request)
    entry = request["entry"]
    # The action's directory is importable (sibling modules, a pack's lib), first.
    here = entry.rsplit("/", 1)[0]
    if here not in sys.path:
        sys.path.insert(0, here)
    # The pack's shared code, where StackStorm looks for it: `actions/lib`, then `lib`.
    for lib in _pack_libs(request):
        if lib not in sys.path:
            sys.path.append(lib)
    try:
        module = _load(entry, shared)
        value = _find_run(module, entry, attune.config)(**(request.get("params") or {}))
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


# Characters of output per protocol message (kept in step with `CHUNK_CHARS` in
# protocol.rs, whose lines are capped for this size).
_CHUNK = 1 << 16


class _Stream(object):
    """The action's sys.stdout or sys.stderr in a warm worker: what it writes goes to the
    engine in `o <JSON string>` / `e <JSON string>` messages of at most _CHUNK characters,
    sent at each write that holds a newline, when _CHUNK characters are pending, and at
    flush. The engine splits lines itself; nothing here grows with the output or rescans it."""

    encoding = "utf-8"
    errors = "surrogateescape"

    def __init__(self, proto, key):
        self._proto = proto
        self._prefix = key + " "
        self._parts = []
        self._size = 0

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        n = len(text)
        if self._size + n < _CHUNK and "\n" not in text:
            if n:
                self._parts.append(text)
                self._size += n
            return n
        if self._size + n <= _CHUNK:
            self._parts.append(text)
            self.flush()
            return n
        self.flush()
        self._send(text)
        self._proto.flush()
        return n

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def _send(self, text):
        write, prefix = self._proto.write, self._prefix
        for i in range(0, len(text), _CHUNK):
            write(prefix + dumps(text[i:i + _CHUNK]) + "\n")

    def flush(self):
        if self._parts:
            text = "".join(self._parts)
            self._parts = []
            self._size = 0
            self._send(text)
        self._proto.flush()

    def isatty(self):
        return False

    def writable(self):
        return True


def _end_mark(token):
    """Marks the end of the run on file descriptor 2 (see end_mark.rs): the engine takes
    the worker's stderr up to this mark before it ends the run."""
    import os

    try:
        sys.__stderr__.flush()
    except (AttributeError, OSError, ValueError):
        pass  # closed or replaced by the action: what it held is lost with it
    data = ("\0attune-end %s\0" % token).encode()
    try:
        while data:
            data = data[os.write(2, data):]
    except OSError:
        pass  # file descriptor 2 closed by the action: the engine waits, then recycles


def serve():
    """A warm worker: runs the requests that arrive on stdin one after the other (the
    protocol is described in protocol.rs). Its stdout carries the protocol only: what the
    action writes to file descriptor 1 directly (a subprocess, os.write) goes to stderr. Its
    stdin carries the requests only: the action and its subprocesses read /dev/null there."""
    import os

    proto = os.fdopen(os.dup(1), "w")  # not inherited by subprocesses (os.dup)
    requests = os.fdopen(os.dup(0), "r")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    base_env = dict(os.environ)
    base_path = list(sys.path)
    base_cwd = os.getcwd()
    shared = {}

    def key_channel(line):
        # A key-value request of the action and its answer (see keys.rs): the engine
        # answers every `k` line with one line on stdin.
        proto.write("\nk %s\n" % line)
        proto.flush()
        return requests.readline()

    import attune

    attune._channel = key_channel
    while True:
        line = requests.readline()
        if not line:
            return
        try:
            request = loads(line)
        except ValueError:
            continue  # not a request (see below)
        if not isinstance(request, dict) or "entry" not in request:
            continue  # not a request: an answer to a key request nobody waited for
        # The run begins: what the engine reads before this line is not this run's.
        proto.write("\nb %s\n" % request.get("token"))
        os.environ["ATTUNE_EXECUTION_ID"] = str(request.get("execution_id"))
        os.environ["ATTUNE_ACTION"] = str(request.get("action"))
        os.environ["ATTUNE_PACK"] = str(request.get("pack"))
        if request.get("pack_dir"):
            os.environ["ATTUNE_PACK_DIR"] = request["pack_dir"]
            os.chdir(request["pack_dir"])
        out, err = _Stream(proto, "o"), _Stream(proto, "e")
        sys.stdout, sys.stderr = out, err
        try:
            outcome = run_request(request, shared)
        finally:
            # Modules the action imported from its own directory or the pack's library
            # directories are imported afresh by the next run.
            own = tuple(
                [request["entry"].rsplit("/", 1)[0] + "/"]
                + [lib + "/" for lib in _pack_libs(request)]
            )
            for name, mod in list(sys.modules.items()):
                if (getattr(mod, "__file__", None) or "").startswith(own):
                    del sys.modules[name]
            out.flush()
            err.flush()
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
            # What one run changed of the process is not seen by the next.
            os.environ.clear()
            os.environ.update(base_env)
            sys.path[:] = base_path
            os.chdir(base_cwd)
        _end_mark(request.get("token"))
        proto.write("\nd %s\n" % encode(outcome))
        proto.flush()


def start():
    """The entry of `python -c "...; attune_runner.start()" DIR [--serve]`: the runner is
    imported (its bytecode compiled once, at install) rather than run as a script (which
    Python compiles at every start)."""
    if "--serve" in sys.argv[1:]:
        serve()
    else:
        main()


if __name__ == "__main__":
    start()
