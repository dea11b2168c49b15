"""Checks that the Python binding's skipattn_run_options (ctypes) has the
C struct's fields at the C struct's offsets: compiles a C program against
runtime.h that prints sizeof and every offsetof, and compares. A field
added to the header but not to the binding would make the runtime read
past the Python object."""
import ctypes, os, subprocess, sys, tempfile

include, binding = sys.argv[1], sys.argv[2]
sys.path.insert(0, binding)
import skipattn_runtime  # noqa: E402

fields = [name for name, _ in skipattn_runtime._Options._fields_]
with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "layout.c")
    with open(src, "w") as f:
        f.write("#include <stddef.h>\n#include <stdio.h>\n"
                "#include \"skipattn/runtime.h\"\nint main(void) {\n"
                "  printf(\"size %zu\\n\", sizeof(skipattn_run_options));\n")
        for name in fields:
            f.write(f"  printf(\"{name} %zu\\n\", "
                    f"offsetof(skipattn_run_options, {name}));\n")
        f.write("  return 0;\n}\n")
    exe = os.path.join(tmp, "layout")
    subprocess.run(["cc", "-I", include, src, "-o", exe], check=True)
    c_layout = subprocess.run([exe], check=True, capture_output=True,
                              text=True).stdout.split("\n")
py_layout = [f"size {ctypes.sizeof(skipattn_runtime._Options)}"] + [
    f"{name} {getattr(skipattn_runtime._Options, name).offset}"
    for name in fields]
c_layout = [line for line in c_layout if line]
if c_layout != py_layout:
    print(f"MISMATCH C {c_layout} Python {py_layout}")
    sys.exit(1)
print(f"options layout: {len(fields)} fields, {py_layout[0]}, same in C and "
      "Python")
