# memoplan: loaded because the launcher put this folder first on PYTHONPATH. It installs the
# agent (which waits for torch to be imported), then hands over to any sitecustomize that this
# one shadows, so the user's own site customisation still runs.
import os as _os
import sys as _sys

if _os.environ.get("MEMOPLAN_AGENT") == "1":
    try:
        import memoplan_agent as _agent

        _agent.install()
    except Exception as _err:  # the target must run even if the agent cannot
        _sys.stderr.write("memoplan: agent not installed: %s\n" % (_err,))


def _chain():
    import importlib.util

    here = _os.path.dirname(_os.path.abspath(__file__))
    for entry in _sys.path:
        if not entry or _os.path.abspath(entry) == here:
            continue
        candidate = _os.path.join(entry, "sitecustomize.py")
        if _os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_memoplan_chained_sitecustomize", candidate)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return


_chain()
