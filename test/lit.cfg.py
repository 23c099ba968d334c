# lit configuration of the linrec regression tests.
import os

import lit.formats

config.name = "linrec"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test", ".py"]
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.linrec_obj_root, "test")

config.environment["PATH"] = os.pathsep.join(
    [config.linrec_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")])
config.substitutions.append(("%examples", os.path.join(config.linrec_src_root, "examples")))

# The shared conformance cases live outside the repository (../shared/conformance).
if os.path.isdir(config.conformance_dir):
    config.available_features.add("conformance")
    config.substitutions.append(("%conformance", config.conformance_dir))

# The Python package in the build tree (python/CMakeLists.txt).
if config.python_enabled.upper() in ("ON", "1", "TRUE", "YES"):
    config.available_features.add("python")
    config.substitutions.append(("%{python}", config.python_executable))
    config.environment["PYTHONPATH"] = os.path.join(config.linrec_obj_root, "python")
