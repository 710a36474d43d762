"""Stand-in for a package that this environment deliberately excludes (internpipe envspecs).

Any submodule can be imported and any attribute read, so modules that import the package
at top level (xtuner.dataset imports torchvision for its image datasets) load; using one of
its objects raises, naming the excluded package.
"""

import importlib.abc
import importlib.machinery
import sys
import types

_NAME = __name__


class _Missing:
    def __init__(self, qualname):
        self._qualname = qualname

    def __call__(self, *args, **kwargs):
        raise ImportError(f"{self._qualname}: {_NAME} is excluded from this environment "
                          "(a CPU build of it is not available); this feature needs it")

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Missing(f"{self._qualname}.{attr}")

    def __mro_entries__(self, bases):
        return (object,)


def _module_getattr(module_name):
    def __getattr__(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Missing(f"{module_name}.{attr}")
    return __getattr__


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(_NAME + "."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = _module_getattr(spec.name)
        return module

    def exec_module(self, module):
        pass


__getattr__ = _module_getattr(_NAME)
__path__ = []
__version__ = "0.0.0+excluded"  # read by environment reports (mmengine's collect_env)
sys.meta_path.append(_Finder())
