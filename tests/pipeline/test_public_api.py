"""visim.pipeline names its public API, and importing the package loads none of it."""

import importlib
import subprocess
import sys

import visim.pipeline


def test_every_exported_name_resolves_to_what_its_module_defines():
    for name, module in visim.pipeline._EXPORTS.items():
        assert getattr(visim.pipeline, name) is getattr(importlib.import_module(module), name)
    assert set(visim.pipeline.__all__) <= set(dir(visim.pipeline))


def test_importing_the_package_loads_no_torch():
    code = "import sys, visim.pipeline; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
