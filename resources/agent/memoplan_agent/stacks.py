"""Python stacks for memoplan's scopes: where in the user's code an aten op or a module call ran.

The agent captures the stack once per scope it pushes (each aten op, each module call), never
per allocation: ``capture()`` walks ``sys._getframe()`` through ``f_back`` and keeps the frames
of the user's code, leaving out torch's own files and the agent's. A stack is a tuple of
``(id(code), line)`` pairs, innermost first, cheap to hash; each code object seen is kept
referenced here so that its id cannot be reused by another.

Each distinct stack is interned once per process as a name of its own (``intern``):
``"@stack<TAB>"`` followed by its frames, one ``"file:line function"`` per line, outermost
first. The scope's name then ends in the stack's name id: ``"module<TAB>op<TAB>id"``; the
ingesters (native/ingest/session.cpp, main/ingest/resume.ts; main/record/trace-names.ts
parses the names) store stacks in their own table
(schema version 6). Works on Python 3.7+ (co_qualname where there is one: 3.11+).
"""

import os
import sys

PREFIX = "@stack\t"
MAX_FRAMES = 64  # innermost frames kept when a stack is deeper

_codes = {}  # id(code) -> (code, keep); the reference keeps the id unique
_texts = {}  # (id(code), line) -> "file:line function"
_skip = None  # path prefixes whose frames are not the user's


def _init():
    global _skip
    prefixes = [os.path.dirname(os.path.abspath(__file__)) + os.sep]
    torch = sys.modules.get("torch")
    tfile = getattr(torch, "__file__", None) if torch is not None else None
    if tfile:
        prefixes.append(os.path.dirname(os.path.abspath(tfile)) + os.sep)
        real = os.path.dirname(os.path.realpath(tfile)) + os.sep
        if real not in prefixes:
            prefixes.append(real)
    _skip = tuple(prefixes)


def _classify(code):
    name = code.co_filename
    if name.startswith("<"):  # <frozen importlib._bootstrap>, <string>, fx-generated code
        keep = False
    else:
        path = os.path.abspath(name)
        keep = not path.startswith(_skip)
    entry = (code, keep)
    _codes[id(code)] = entry
    return entry


def capture(depth=1):
    """The user's frames of the calling thread, as (id(code), line, ...) innermost first."""
    if _skip is None:
        _init()
    try:
        f = sys._getframe(depth)
    except ValueError:
        return ()
    out = []
    codes = _codes
    while f is not None:
        co = f.f_code
        entry = codes.get(id(co))
        if entry is None or entry[0] is not co:
            entry = _classify(co)
        if entry[1]:
            out.append(id(co))
            out.append(f.f_lineno)
            if len(out) >= 2 * MAX_FRAMES:
                break
        f = f.f_back
    return tuple(out)


def _text(code_id, line):
    key = (code_id, line)
    t = _texts.get(key)
    if t is None:
        co = _codes[code_id][0]
        fn = getattr(co, "co_qualname", None) or co.co_name
        t = "%s:%d %s" % (os.path.abspath(co.co_filename), line, fn)
        t = t.replace("\n", " ").replace("\t", " ")
        _texts[key] = t
    return t


def text(stack):
    """The stored form of a captured stack: frames outermost first, one per line."""
    return "\n".join(_text(stack[i], stack[i + 1]) for i in range(len(stack) - 2, -1, -2))


def intern(stack, names, intern_name):
    """The name id of `stack` as text ('' for no frames), interned once through intern_name.

    `names` is the agent's name cache; stacks are kept in it under their own keys, so that
    clearing it (a new attach) forgets them along with the scopes. Call with the agent's lock held.
    """
    if not stack:
        return ""
    key = (PREFIX, stack)
    sid = names.get(key)
    if sid is None:
        sid = intern_name((PREFIX + text(stack)).encode("utf-8", "replace"))
        names[key] = sid
    return str(sid)
