# lit configuration of the linrec regression tests.
import os

import lit.formats

config.name = "linrec"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test", ".py"]
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.linrec_obj_root, "test")

# Every test compiles what it runs (no kernel from the user's disk cache): the tests of the
# cache itself give it a directory of their own.
config.environment["LINREC_KERNEL_CACHE"] = "0"
config.environment["LINREC_TUNING_DB"] = "off"
config.environment["PATH"] = os.pathsep.join(
    [config.linrec_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")])
config.substitutions.append(("%examples", os.path.join(config.linrec_src_root, "examples")))
config.substitutions.append(("%linrec_obj_root", config.linrec_obj_root))
config.substitutions.append(("%linrec_src_root", config.linrec_src_root))

# The shared conformance cases live outside the repository (../shared/conformance).
if os.path.isdir(config.conformance_dir):
    config.available_features.add("conformance")
    config.substitutions.append(("%conformance", config.conformance_dir))

# CMake and the build's compilers, for the test that installs linrec and builds a project
# against the installed package (test/Install).
import shutil
if shutil.which("cmake") and shutil.which("ninja"):
    config.available_features.add("cmake")
# A sanitized build's libraries need the sanitizer runtimes linked into whatever uses them.
if config.sanitizers:
    config.available_features.add("sanitizers")
config.substitutions.append(("%{cc}", config.c_compiler))
config.substitutions.append(("%{cxx}", config.cxx_compiler))

# The Python package in the build tree (python/CMakeLists.txt).
if config.python_enabled.upper() in ("ON", "1", "TRUE", "YES"):
    config.available_features.add("python")
    config.substitutions.append(("%{python}", config.python_executable))
    config.environment["PYTHONPATH"] = os.path.join(config.linrec_obj_root, "python")

# PyTorch for the training test: the virtual environment scripts/install-torch.sh makes (or
# LINREC_TORCH_PYTHON), with the build tree's package on its path.
torch_python = os.environ.get("LINREC_TORCH_PYTHON") or os.path.join(
    os.path.expanduser("~"), ".cache", "linrec", "torch-venv", "bin", "python")
if "python" in config.available_features and os.path.exists(torch_python):
    import subprocess
    if subprocess.run([torch_python, "-c", "import torch, numpy"],
                      capture_output=True).returncode == 0:
        config.available_features.add("torch")
        config.substitutions.append(("%{torch-python}", torch_python))

# Open MPI's mpirun for the sequence-parallel tests: oversubscribed (more ranks than the
# machine's cores), and allowed as root (CI containers run as root).
import shutil
if shutil.which("mpirun"):
    config.available_features.add("mpi")
    config.environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    config.environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    config.substitutions.append(("%mpirun", "mpirun --oversubscribe"))

# ptxas from the CUDA toolkit checks the generated PTX (registers, spills, shared memory).
cuda_home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
config.environment["CUDA_HOME"] = cuda_home
if os.path.exists(os.path.join(cuda_home, "bin", "ptxas")):
    config.available_features.add("ptxas")
config.substitutions.append(
    ("%ptx-report", "python3 " + os.path.join(config.linrec_src_root, "tools", "ptx-report",
                                             "ptx-report.py")))

# A CUDA driver that sees a GPU: the GPU execution tests run, the no-driver ones do not.
def _cuda_device_present():
    import ctypes
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    count = ctypes.c_int(0)
    return cuda.cuInit(0) == 0 and cuda.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0

if _cuda_device_present():
    config.available_features.add("cuda-device")
