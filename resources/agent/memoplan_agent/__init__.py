"""memoplan's agent inside the target Python process.

It ties every allocation to the nn.Module path and the aten op that made it, and marks
inference iterations, by calling the C API of the interposer (libmemoplan.so, preloaded):

- a global forward pre-hook / hook keeps a per-thread stack of module paths; the outermost
  forward call on a thread is one iteration (unless the script marks iterations itself with
  ``with memoplan_agent.iteration():``), timed with perf_counter_ns;
- while an iteration runs, a TorchDispatchMode pushes the scope "module<TAB>op" around each
  aten op, so allocations made inside the op carry it.

Attached to a running process (``memoplan attach PID``), the interposer runs
``_attached(...)`` in a thread of its own and ``_detached(...)`` at detach, which calls
``uninstall()``: hooks are removed once no iteration is in flight, so every iteration that
began is also ended.

Works with torch 1.13 (Debian) and torch 2.x. Compiled and scripted models are coarser: a
torch.compile'd module is one scope (the hooks do nothing while dynamo traces it, and the
dispatch mode sees only the aten calls the compiled code makes), a TorchScript module is one
scope with its aten ops (no submodule paths). It never changes results: hooks return None and
the dispatch mode calls the op unchanged. Without the interposer it only measures iteration
latencies (written to MEMOPLAN_LATENCY_FILE when set), for the allocator A/B runs.
"""

import ctypes
import os
import sys
import threading
import time

from . import stacks as _stacks
__all__ = ["install", "uninstall", "iteration", "installed"]

_state = threading.local()
_lock = threading.Lock()
_installed = False
_api = None
# Module scopes (attribution) are pushed only while the process records: a run that only serves a
# plan (or is timed by `memoplan ab`) marks iteration boundaries and nothing else, so its hooks
# inside an iteration cost what they cost in an arm without the interposer (no C API call, no
# stack capture); the C API is called where an iteration begins and ends.
_scopes = False
_latency_file = None
_names = {}
_handles = []  # forward hook handles (attach mode removes them at detach)
_enabled = True  # False once uninstall() asked for the hooks to go
_inflight = 0  # iterations begun by the hooks and not yet ended (all threads)
_attach_gen = 0  # attach generation installed by _attached()
_detached_gen = 0  # highest generation detached
_finder = None


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
        # The agent's own code runs between enter() and leave(): what it allocates there is
        # marked as the profiler's (left out of signatures and plans, never served by a plan).
        enter = getattr(lib, "memoplan_agent_enter", None)
        leave = getattr(lib, "memoplan_agent_leave", None)
        if enter is not None and leave is not None:
            enter.argtypes = []
            enter.restype = None
            leave.argtypes = []
            leave.restype = None
            self.enter, self.leave = enter, leave
        else:  # an older interposer (attach into a process that loaded one)
            self.enter = self.leave = _nothing


def _nothing():
    return None


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
    # The scope carries the Python stack it was pushed from (stacks.py): one capture per scope.
    stack = _stacks.capture(2)
    key = (module_path, op, stack)
    sid = _names.get(key)
    if sid is None:
        with _lock:
            sid = _names.get(key)
            if sid is None:
                ref = _stacks.intern(stack, _names, _api.intern)
                name = module_path + "\t" + op + ("\t" + ref if ref else "")
                sid = _api.intern(name.encode("utf-8", "replace"))
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
    global _inflight
    with _lock:
        _inflight += 1
    number = _api.begin() if _api else 0
    mode = None
    if _api is not None and _OpMode is not None:
        mode = _OpMode()
        mode.__enter__()
    s.iteration = (number, time.perf_counter_ns(), mode)


def _end_iteration(s):
    global _inflight
    it = s.iteration
    if it is None:
        return
    s.iteration = None
    with _lock:
        _inflight -= 1
        if not _enabled and _inflight == 0:
            _remove_hooks()
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


def _never():
    return False


# torch.compile (dynamo) traces the global module hooks of the modules it compiles. They must
# do nothing there: a graph break in every module would change what the compiled program
# computes. Dynamo folds is_compiling() to True while tracing, so the hooks trace to nothing
# and the compiled module is one scope, attributed as a whole (set by _install_torch).
_is_compiling = _never


def _pre_hook(module, inputs):
    if _is_compiling():
        return None
    api = _api
    # Not recording: the agent's own work is marked (enter/leave) only where an iteration
    # begins, as it was in the recording the plan came from; inside one the hooks allocate
    # nothing a plan could match.
    if api is None or (not _scopes and _tls().stack):
        return _pre_hook_body(module)
    api.enter()
    try:
        return _pre_hook_body(module)
    finally:
        api.leave()


def _pre_hook_body(module):
    s = _tls()
    if not _enabled and not s.stack:
        return None  # uninstalling: start nothing new
    if not s.stack and s.explicit == 0:
        _begin_iteration(s)
    path = _module_path(s, module)
    s.stack.append(path)
    if _scopes:
        _api.push(_scope_id(path, ""))


def _post_hook(module, inputs, output):
    if _is_compiling():
        return None
    api = _api
    if api is None or (not _scopes and len(_tls().stack) > 1):
        return _post_hook_body()
    api.enter()
    try:
        return _post_hook_body()
    finally:
        api.leave()


def _post_hook_body():
    s = _tls()
    if not s.stack:
        return None
    s.stack.pop()
    if _scopes:
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
        @classmethod
        def ignore_compile_internals(cls):
            # torch 2.x that asks: leave torch.compile's tracing alone (else dynamo runs the
            # module eagerly under this mode and the outputs differ); the compiled code's own
            # aten calls still come here at run time
            return True

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            api = _api
            api.enter()  # our bookkeeping: the profiler's allocations, not the program's
            s = _tls()
            module_path = s.stack[-1] if s.stack else ""
            op = _op_names.get(func)
            if op is None:
                schema = getattr(func, "_schema", None)
                op = schema.name if schema is not None else str(func)  # "aten::convolution"
                _op_names[func] = op
            api.push(_scope_id(module_path, op))
            if kwargs is None:
                kwargs = {}
            api.leave()
            try:
                return func(*args, **kwargs)
            finally:
                api.pop()

    return OpMode


_ops = None  # attach mode: aten-op attribution on/off (else MEMOPLAN_AGENT_OPS)


def _compiling_check(torch):
    """torch's "is dynamo tracing now" where this torch has one (2.x), else _never (1.x)."""
    for owner in (getattr(torch, "compiler", None), getattr(torch, "_utils", None)):
        fn = getattr(owner, "is_compiling", None) if owner is not None else None
        if callable(fn):
            return fn
    return _never


def _install_torch(torch):
    global _OpMode, _is_compiling
    _is_compiling = _compiling_check(torch)
    ops = _ops if _ops is not None else os.environ.get("MEMOPLAN_AGENT_OPS", "1") != "0"
    _OpMode = _make_op_mode(torch) if _scopes and ops else None
    if _handles:
        return  # still registered (an uninstall waiting for an iteration to end)
    from torch.nn.modules import module as mod

    _handles.append(mod.register_module_forward_pre_hook(_pre_hook))
    _handles.append(mod.register_module_forward_hook(_post_hook))
    # torch.compile(module) warns about global hooks on modules: these are ours, and they do
    # nothing inside the compiled module (_is_compiling)
    import warnings

    warnings.filterwarnings("ignore", message=r"Using `torch\.compile\(module\)` when there are global hooks")
    _patch_module_compile(mod.Module)


def _patch_module_compile(Module):
    """module.compile() (torch 2.2+) compiles the module's _call_impl, the global hooks with it,
    so they trace to nothing and its calls would start no iteration: the hooks run around the
    compiled call instead (the compiled code itself is unchanged)."""
    orig = getattr(Module, "compile", None)
    if orig is None or getattr(orig, "_memoplan", False):
        return

    def compile(self, *args, **kwargs):
        result = orig(self, *args, **kwargs)
        inner = getattr(self, "_compiled_call_impl", None)
        if inner is not None:

            def call(*a, **k):
                if not _handles or _is_compiling():
                    return inner(*a, **k)
                _pre_hook(self, a)
                try:
                    return inner(*a, **k)
                finally:
                    _post_hook(self, a, None)

            self._compiled_call_impl = call
        return result

    compile._memoplan = True
    compile.__doc__ = orig.__doc__
    compile.__wrapped__ = orig
    Module.compile = compile


def _remove_hooks():
    while _handles:
        h = _handles.pop()
        try:
            h.remove()
        except Exception:
            pass


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


def install(lib_path=None):
    """Called by sitecustomize in the target (and at attach, with the interposer's path,
    which was dlopen'ed and is not in the global namespace). Idempotent."""
    global _installed, _api, _latency_file, _enabled, _finder, _scopes
    if _installed:
        return
    _installed = True
    _enabled = True
    if lib_path is None:
        _api = _load_api()
    else:
        try:
            _api = _Api(ctypes.CDLL(lib_path))
        except (AttributeError, OSError):
            _api = None
    _scopes = _api is not None and bool(_api.active())
    path = os.environ.get("MEMOPLAN_LATENCY_FILE")
    if path and _latency_file is None:
        _latency_file = open(path, "a", buffering=1)
    if "torch" in sys.modules:
        _install_torch(sys.modules["torch"])
    else:
        _finder = _TorchFinder()
        sys.meta_path.insert(0, _finder)


def uninstall():
    """Stops marking: no new iteration starts; the hooks are removed as soon as no iteration
    is in flight (one still running on some thread is ended first). install() may follow."""
    global _installed, _enabled, _finder
    with _lock:
        _installed = False
        _enabled = False
        if _finder is not None:
            try:
                sys.meta_path.remove(_finder)
            except ValueError:
                pass
            _finder = None
        if _inflight == 0:
            _remove_hooks()


def _write_status(path, text):
    if not path:
        return
    with open(path + ".tmp", "w") as f:
        f.write(text + "\n")
    os.replace(path + ".tmp", path)


def _attached(lib_path, gen, ops, status_path=None):
    """Run by the interposer in a thread of its own right after memoplan_attach()."""
    global _attach_gen, _ops
    if gen <= _detached_gen or gen <= _attach_gen:
        return  # a detach of this attach already ran (threads may take the GIL out of order)
    _attach_gen = gen
    _ops = bool(ops)
    _names.clear()  # ids interned by an earlier attach are in that attach's names file
    if _installed:
        uninstall()
    install(lib_path)
    torch = sys.modules.get("torch")
    _write_status(
        status_path,
        "ok python=%s torch=%s ops=%d hooks=%d"
        % (sys.version.split()[0], getattr(torch, "__version__", "none") if torch else "none", 1 if _OpMode else 0, len(_handles)),
    )


def _detached(gen):
    """Run by the interposer in a thread of its own at memoplan_detach()."""
    global _detached_gen
    if gen > _detached_gen:
        _detached_gen = gen
    if gen == _attach_gen:
        uninstall()
