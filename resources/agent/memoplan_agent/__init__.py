"""memoplan's agent inside the target Python process.

It ties every allocation to the nn.Module path and the aten op that made it, and marks
inference iterations, by calling the C API of the interposer (libmemoplan.so, preloaded):

- a global forward pre-hook / hook keeps a per-thread stack of module paths; the outermost
  forward call on a thread is one iteration (unless the script marks iterations itself with
  ``with memoplan_agent.iteration():``), timed with perf_counter_ns;
- while an iteration runs, a TorchDispatchMode pushes the scope "module<TAB>op" around each
  aten op, so allocations made inside the op carry it.

Works with torch 1.13 (Debian) and torch 2.x. It never changes results: hooks return None and
the dispatch mode calls the op unchanged. Without the interposer it only measures iteration
latencies (written to MEMOPLAN_LATENCY_FILE when set), for the allocator A/B runs.
"""

import ctypes
import os
import sys
import threading
import time

__all__ = ["install", "iteration", "installed"]

_state = threading.local()
_lock = threading.Lock()
_installed = False
_api = None
_latency_file = None
_names = {}


class _Api:
    def __init__(self, lib):
        self.active = lib.memoplan_active
        self.active.restype = ctypes.c_int
        self.intern = lib.memoplan_intern
        self.intern.argtypes = [ctypes.c_char_p]
        self.intern.restype = ctypes.c_uint32
        self.push = lib.memoplan_scope_push
        self.push.argtypes = [ctypes.c_uint32]
        self.push.restype = None
        self.pop = lib.memoplan_scope_pop
        self.pop.argtypes = []
        self.pop.restype = None
        self.begin = lib.memoplan_iteration_begin
        self.begin.argtypes = []
        self.begin.restype = ctypes.c_uint64
        self.end = lib.memoplan_iteration_end
        self.end.argtypes = [ctypes.c_uint64, ctypes.c_uint64]
        self.end.restype = None


def _load_api():
    """The interposer's C API when it records or runs a plan (iterations drive plan mode)."""
    try:
        lib = ctypes.CDLL(None)
        api = _Api(lib)
    except (AttributeError, OSError):
        return None
    plan_on = False
    status = getattr(lib, "memoplan_plan_status", None)
    if status is not None:
        status.restype = ctypes.c_int
        plan_on = status() != 0
    return api if (api.active() or plan_on) else None


def _scope_id(module_path, op):
    key = (module_path, op)
    sid = _names.get(key)
    if sid is None:
        with _lock:
            sid = _names.get(key)
            if sid is None:
                sid = _api.intern((module_path + "\t" + op).encode("utf-8", "replace"))
                _names[key] = sid
    return sid


def _tls():
    s = _state
    if not hasattr(s, "stack"):
        s.stack = []  # module paths, outermost first
        s.explicit = 0  # depth of `with iteration()` blocks
        s.iteration = None  # (number, t0, mode) of the running iteration
    return s


def _begin_iteration(s):
    number = _api.begin() if _api else 0
    mode = None
    if _api is not None and _OpMode is not None:
        mode = _OpMode()
        mode.__enter__()
    s.iteration = (number, time.perf_counter_ns(), mode)


def _end_iteration(s):
    it = s.iteration
    if it is None:
        return
    s.iteration = None
    number, t0, mode = it
    latency = time.perf_counter_ns() - t0
    if mode is not None:
        mode.__exit__(None, None, None)
    if _api is not None:
        _api.end(number, latency)
    if _latency_file is not None:
        with _lock:
            _latency_file.write("%d %d\n" % (threading.get_ident(), latency))
            _latency_file.flush()


class iteration:
    """Marks one iteration explicitly: ``with memoplan_agent.iteration(): model(x)``."""

    def __enter__(self):
        s = _tls()
        s.explicit += 1
        if s.explicit == 1 and s.iteration is None:
            _begin_iteration(s)
        return self

    def __exit__(self, *exc):
        s = _tls()
        s.explicit -= 1
        if s.explicit == 0:
            _end_iteration(s)
        return False


_OpMode = None
_op_names = {}
_paths = {}  # id(root module) -> {id(submodule): path}


def _module_path(s, module):
    if not s.stack:
        root = module
        names = {}
        prefix = type(root).__name__
        for name, sub in root.named_modules():
            names[id(sub)] = prefix + ("." + name if name else "")
        _paths[id(root)] = names
        s.root_names = names
        return prefix
    names = getattr(s, "root_names", None) or {}
    return names.get(id(module)) or (s.stack[-1] + "." + type(module).__name__)


def _pre_hook(module, inputs):
    s = _tls()
    if not s.stack and s.explicit == 0:
        _begin_iteration(s)
    path = _module_path(s, module)
    s.stack.append(path)
    if _api is not None:
        _api.push(_scope_id(path, ""))


def _post_hook(module, inputs, output):
    s = _tls()
    if not s.stack:
        return None
    s.stack.pop()
    if _api is not None:
        _api.pop()
    if not s.stack and s.explicit == 0:
        _end_iteration(s)
    return None


def _make_op_mode(torch):
    try:
        from torch.utils._python_dispatch import TorchDispatchMode
    except ImportError:
        return None

    class OpMode(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            s = _tls()
            module_path = s.stack[-1] if s.stack else ""
            op = _op_names.get(func)
            if op is None:
                schema = getattr(func, "_schema", None)
                op = schema.name if schema is not None else str(func)  # "aten::convolution"
                _op_names[func] = op
            _api.push(_scope_id(module_path, op))
            try:
                return func(*args, **(kwargs or {}))
            finally:
                _api.pop()

    return OpMode


def _install_torch(torch):
    global _OpMode
    if _api is not None and os.environ.get("MEMOPLAN_AGENT_OPS", "1") != "0":
        _OpMode = _make_op_mode(torch)
    from torch.nn.modules import module as mod

    mod.register_module_forward_pre_hook(_pre_hook)
    mod.register_module_forward_hook(_post_hook)


class _TorchFinder:
    """Runs _install_torch right after `import torch` finishes, without importing it early."""

    def find_spec(self, name, path=None, target=None):
        if name != "torch":
            return None
        sys.meta_path.remove(self)
        try:
            import importlib.util

            spec = importlib.util.find_spec("torch")
        finally:
            pass
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_install(module):
            exec_module(module)
            try:
                _install_torch(module)
            except Exception as err:
                sys.stderr.write("memoplan: agent could not hook torch: %s\n" % (err,))

        loader.exec_module = exec_and_install
        return spec


def installed():
    return _installed


def install():
    """Called by sitecustomize in the target. Idempotent."""
    global _installed, _api, _latency_file
    if _installed:
        return
    _installed = True
    _api = _load_api()
    path = os.environ.get("MEMOPLAN_LATENCY_FILE")
    if path:
        _latency_file = open(path, "a", buffering=1)
    if "torch" in sys.modules:
        _install_torch(sys.modules["torch"])
    else:
        sys.meta_path.insert(0, _TorchFinder())
