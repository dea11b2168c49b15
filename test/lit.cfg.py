# -*- Python -*-
# lit configuration of the skipattn test suite.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "SKIPATTN"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.skipattn_obj_root, "test")
config.excludes = ["CMakeLists.txt", "README.md", "lit.cfg.py", "lit.site.cfg.py",
                   "Inputs"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%skipattn_src", config.skipattn_src_root))
# The directory of the skipattn tools, for drivers that call several of them
# (test/Numerics/check_cpu.py).
config.substitutions.append(("%skipattn_bin", config.skipattn_tools_dir))

# The Python that CMake found (it has numpy), ahead of lit's default %python.
config.substitutions.append(("%python", '"%s"' % config.python_executable))
# kernels_runtime's public header and library, for tests that build a C host
# against the C API (test/Tools/skipattn-run/capi.test).
config.substitutions.append(("%skipattn_runtime_include",
                             os.path.join(config.skipattn_src_root,
                                          "kernels_runtime", "include")))
config.substitutions.append(("%skipattn_libdir", config.skipattn_lib_dir))
# MLIR's C runner library, for mlir-runner (test/Numerics/tiled-attention.mlir).
config.substitutions.append(("%mlir_c_runner_utils",
                             os.path.join(config.llvm_lib_dir,
                                          "libmlir_c_runner_utils.so")))
# The dialect/pass plugin that a stock mlir-opt loads (test/Plugin).
config.substitutions.append(("%skipattn_plugin",
                             os.path.join(config.skipattn_lib_dir,
                                          "SkipAttnPlugin" + config.shlib_ext)))
# CMake as this build ran it, and this build folder, for the tests that
# install skipattn and build projects against it (test/Package).
config.substitutions.append(("%cmake_generator", '"%s"' % config.cmake_generator))
config.substitutions.append(("%cmake", '"%s"' % config.cmake_command))
config.substitutions.append(("%cxx", '"%s"' % config.cmake_cxx_compiler))
config.substitutions.append(("%skipattn_obj_root", config.skipattn_obj_root))
config.substitutions.append(("%mlir_cmake_dir", config.mlir_cmake_dir))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()
# `not` and `split-file` at the start of a RUN line are found through PATH.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tool_dirs = [config.skipattn_tools_dir, config.llvm_tools_dir]
# mlir-opt, mlir-translate and llc lower MLIR host programs to objects that
# link against the runtime's mgpu* ABI (test/Runtime/mgpu-abi.mlir).
tools = ["skipattn-opt", "skipattn-compile", "skipattn-run", "mlir-opt",
         "mlir-translate", "mlir-runner", "llc"]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# The CUDA toolkit's headers, as kernels_runtime's build found them: the
# tests build a stand-in libcuda.so.1 against cuda.h
# (test/Runtime/Inputs/fake_libcuda.c).
_cuda_include = config.cuda_include_dir
config.substitutions.append(("%cuda_include", _cuda_include))

# ptxas assembles the PTX fixtures; it sits beside the headers in the
# toolkit, or on PATH.
import shutil
_ptxas = os.path.join(os.path.dirname(_cuda_include), "bin", "ptxas")
if not os.access(_ptxas, os.X_OK):
    _ptxas = shutil.which("ptxas") or ""
if _ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", _ptxas))
    # For tools that look ptxas up on PATH (MLIR's cubin-format=bin).
    config.substitutions.append(("%cuda_bin", os.path.dirname(_ptxas)))
else:
    lit_config.note("ptxas not found; PTX assembly tests are UNSUPPORTED")

# Tests of what happens without an NVIDIA driver only mean something where
# there is none; elsewhere they report UNSUPPORTED.
import ctypes
try:
    ctypes.CDLL("libcuda.so.1")
    # Tests that run kernels (test/Examples/host-program.test) need an
    # sm_90 GPU behind the driver.
    config.available_features.add("cuda-driver")
except OSError:
    config.available_features.add("no-cuda-driver")
