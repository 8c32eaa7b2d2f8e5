"""The README's examples compile and run (STYLE.md: compile README examples in CI).

The C block is wrapped in main() and linked against build/libquiver.a; the Python block runs
against build/python. Both run in a temporary directory, so ./mydata is created there.
"""
import os
import re
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("QUIVER_BUILD_DIR", os.path.join(ROOT, "build"))


def blocks(lang):
    text = open(os.path.join(ROOT, "README.md")).read()
    return re.findall(r"```%s\n(.*?)```" % lang, text, re.S)


def test_c_example_compiles_and_runs(tmp_path):
    lib = os.path.join(BUILD, "libquiver.a")
    assert os.path.exists(lib), f"{lib} not built (build it, or set QUIVER_BUILD_DIR)"
    (code,) = blocks("c")
    includes = "\n".join(l for l in code.splitlines() if l.startswith("#include"))
    body = "\n".join(l for l in code.splitlines() if not l.startswith("#include"))
    src = tmp_path / "example.c"
    src.write_text("%s\n#include <stdio.h>\nint main(void) {\n%s\n  return rc == QV_OK ? 0 : 1;\n}\n"
                   % (includes, body))
    exe = tmp_path / "example"
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Werror", "-I", os.path.join(ROOT, "include"),
                    "-I", os.path.join(BUILD, "include"),  # the generated quiver_version.h
                    str(src), lib, "-lsqlite3", "-ljansson", "-lopenblas", "-lz", "-lpthread", "-lm",
                    "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "a"


def test_python_example_runs(tmp_path):
    pydir = os.path.abspath(os.environ.get("QUIVER_BUILD", os.path.join(BUILD, "python")))
    (code,) = blocks("python")
    env = dict(os.environ, PYTHONPATH=pydir)
    r = subprocess.run(["/usr/bin/python3", "-c", code], cwd=tmp_path, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert "[['a'" in r.stdout
