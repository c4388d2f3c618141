"""Back-port of lm-eval's plugin entry points, run at interpreter start-up by `amuro_lm_eval.pth`.

lm-eval 0.4.11-0.4.13 find tasks only under their own folder or `--include_path`, and models only in their own
registry. Upstream is adding two entry-point groups (PR #4015 `lm_eval.tasks`, PR #4013 `lm_eval.models`); this
package declares both. Until an installed lm-eval reads them itself, this shim does it: right after
`lm_eval.tasks` is imported it makes `TaskManager` add the folder of every `lm_eval.tasks` entry point to
`include_path` (precedence: built-ins < plugins < the user's include_path; with `include_defaults=False`, neither
built-ins nor plugins), and right after `lm_eval.models` is
imported it registers every `lm_eval.models` entry point as a lazy placeholder (built-ins stay registered).

It never imports lm-eval itself, does nothing when lm-eval supports the groups natively, never raises into the
host program, and is switched off by `AMURO_LM_EVAL_PLUGIN=0`. Without it, use `amuro.task_manager()`.
"""

import os
import sys

ENV = "AMURO_LM_EVAL_PLUGIN"
_HOOKED = ("lm_eval.tasks", "lm_eval.models")


def _entry_points(group):
    from importlib.metadata import entry_points

    return list(entry_points(group=group))


def plugin_task_paths():
    """The folders named by `lm_eval.tasks` entry points (resolved without importing them)."""
    from importlib.util import find_spec

    paths = []
    for ep in _entry_points("lm_eval.tasks"):
        try:
            spec = find_spec(ep.value)
            locations = list(spec.submodule_search_locations or []) if spec else []
            folder = locations[0] if locations else os.path.dirname(spec.origin) if spec and spec.origin else None
            if folder and folder not in paths:
                paths.append(folder)
        except Exception as e:  # a broken plugin must not break lm-eval
            print(f"amuro: skipping lm_eval.tasks entry point {ep.name!r}: {e}", file=sys.stderr)
    return paths


def _patch_task_manager(module):
    import functools
    import inspect

    manager = sys.modules.get("lm_eval.tasks.manager")
    cls = getattr(module, "TaskManager", None)
    if cls is None or getattr(manager, "discover_plugin_task_paths", None) or getattr(cls.__init__, "_plugin_paths", 0):
        return
    original = cls.__init__
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        # Plugin tasks come with the built-in ones: `include_defaults=False` means only the user's include_path.
        if bound.arguments.get("include_defaults", True):
            user = bound.arguments.get("include_path")
            user = [] if user is None else list(user) if isinstance(user, (list, tuple)) else [user]
            given = {os.path.realpath(str(p)) for p in user}
            merged = [p for p in plugin_task_paths() if os.path.realpath(p) not in given] + user
            bound.arguments["include_path"] = merged or None
        original(*bound.args, **bound.kwargs)

    __init__._plugin_paths = True
    cls.__init__ = __init__
    if os.path.basename(sys.argv[0] if sys.argv else "") in ("lm_eval", "lm-eval"):
        from amuro.errors import install_excepthook

        install_excepthook()  # unknown tasks and amuro input errors: one line, not a traceback


def _register_models(_module):
    from lm_eval.api import registry

    if hasattr(registry, "load_plugins"):
        return
    for ep in _entry_points("lm_eval.models"):
        try:
            model_registry = getattr(registry, "model_registry", None)
            if model_registry is not None and hasattr(model_registry, "register"):
                if ep.name not in model_registry:
                    # A "module:Class" string is imported on first use and upgraded by @register_model.
                    model_registry.register(ep.name, target=ep.value)
            elif ep.name not in registry.MODEL_REGISTRY:
                registry.register_model(ep.name)(ep.load())
        except Exception as e:
            print(f"amuro: skipping lm_eval.models entry point {ep.name!r}: {e}", file=sys.stderr)


_PATCHES = {"lm_eval.tasks": _patch_task_manager, "lm_eval.models": _register_models}


class _PatchingLoader:
    """Wraps the real loader of a hooked module and patches the module right after it executes."""

    def __init__(self, loader, name):
        self._loader, self._name = loader, name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        try:
            _PATCHES[self._name](module)
        except Exception as e:
            print(f"amuro: lm-eval plugin shim failed on {self._name}: {e}", file=sys.stderr)

    def __getattr__(self, attr):
        return getattr(self._loader, attr)


class _Finder:
    """A `sys.meta_path` finder that only wraps the loaders of `lm_eval.tasks` and `lm_eval.models`."""

    _amuro_shim = True

    def find_spec(self, name, path=None, target=None):
        if name not in _HOOKED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, name)
                return spec
        return None


def install():
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if any(getattr(f, "_amuro_shim", False) for f in sys.meta_path):
        return
    for name in _HOOKED:  # already imported (e.g. install() called late): patch in place
        if name in sys.modules:
            _PATCHES[name](sys.modules[name])
    sys.meta_path.insert(0, _Finder())


try:
    install()
except Exception as e:  # never break interpreter start-up
    print(f"amuro: lm-eval plugin shim not installed: {e}", file=sys.stderr)
