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
config.substitutions.append(("%skipattn_libdir",
                             os.path.join(config.skipattn_obj_root, "lib")))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()
# `not` and `split-file` at the start of a RUN line are found through PATH.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tool_dirs = [config.skipattn_tools_dir, config.llvm_tools_dir]
tools = ["skipattn-opt", "skipattn-run"]
llvm_config.add_tool_substitutions(tools, tool_dirs)
