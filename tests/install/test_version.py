# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""Every face reports the one version, the one in CMakeLists.txt's `project(quiver VERSION ..)`:
the generated header (QV_VERSION_*), the library (qv_libversion, qv_libversion_number),
`quiver --version`, the server's /api/v2/version, the Python module, setup.py's package
metadata, the built man pages, debian/changelog and CHANGELOG.md.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("QUIVER_BUILD_DIR", os.path.join(ROOT, "build"))
BIN = os.environ.get("QUIVER_BIN", os.path.join(BUILD, "quiver"))


@pytest.fixture(scope="module")
def version():
    text = open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8").read()
    m = re.search(r"project\(quiver VERSION (\d+)\.(\d+)\.(\d+)", text)
    assert m, "CMakeLists.txt: no project(quiver VERSION x.y.z)"
    return m.group(1, 2, 3)


def test_generated_header(version):
    text = open(os.path.join(BUILD, "include", "quiver_version.h"), encoding="utf-8").read()
    for name, val in zip(("MAJOR", "MINOR", "PATCH"), version):
        assert re.search(r"#define QV_VERSION_%s %s\n" % (name, val), text)
    assert '#define QV_VERSION_STRING "%s"' % ".".join(version) in text
    # nothing else defines them: quiver.h takes them from the generated header
    assert "#define QV_VERSION_STRING" not in open(os.path.join(ROOT, "include", "quiver.h")).read()


def test_library_functions(version, tmp_path):
    src = tmp_path / "v.c"
    src.write_text('#include <stdio.h>\n#include <quiver.h>\n'
                   'int main(void) { printf("%s %d %s %d\\n", qv_libversion(), qv_libversion_number(),'
                   ' QV_VERSION_STRING, QV_VERSION_NUMBER); return 0; }\n')
    exe = str(tmp_path / "v")
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", "-I", os.path.join(ROOT, "include"),
                    "-I", os.path.join(BUILD, "include"), str(src), os.path.join(BUILD, "libquiver.a"),
                    "-lsqlite3", "-ljansson", "-lopenblas", "-lz", "-lpthread", "-lm", "-o", exe], check=True)
    s, n, hs, hn = subprocess.run([exe], capture_output=True, text=True, check=True).stdout.split()
    number = int(version[0]) * 1000000 + int(version[1]) * 1000 + int(version[2])
    assert (s, int(n), hs, int(hn)) == (".".join(version), number, ".".join(version), number)


def test_cli(version):
    v = ".".join(version)
    out = subprocess.run([BIN, "--version"], capture_output=True, text=True, check=True).stdout
    assert out == "quiver %s (libquiver %s)\n" % (v, v)


def test_server_route(version):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.Popen([BIN, "serve", "--data", os.path.join(d, "data"), "--port", str(port),
                              "--log-level", "warn"])
        try:
            got = None
            for _ in range(200):
                try:
                    got = json.load(urllib.request.urlopen("http://127.0.0.1:%d/api/v2/version" % port,
                                                           timeout=2))
                    break
                except OSError:
                    time.sleep(0.05)
            assert got == ".".join(version)
        finally:
            p.terminate()
            assert p.wait(timeout=30) == 0


def test_python_module(version):
    pydir = os.environ.get("QUIVER_BUILD", os.path.join(BUILD, "python"))
    out = subprocess.run(["/usr/bin/python3", "-c", "import quiver; print(quiver.__version__)"],
                         env=dict(os.environ, PYTHONPATH=pydir), capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == ".".join(version)


def test_setup_py_metadata(version):
    sys.path.insert(0, ROOT)
    try:
        src = open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read()
        ns = {"__file__": os.path.join(ROOT, "setup.py")}
        # run only the part before setup(): the helper that reads the version
        exec(compile(src.split("\nclass ")[0], "setup.py", "exec"), ns)
        assert ns["project_version"]() == ".".join(version)
    finally:
        sys.path.remove(ROOT)


def test_man_pages(version):
    for page in ("quiver.1", "quiver.3"):
        head = open(os.path.join(BUILD, "man", page), encoding="utf-8").read()
        assert re.search(r'^\.TH QUIVER \d "[^"]*" "(lib)?quiver %s"' % re.escape(".".join(version)), head, re.M)


def test_debian_changelog(version):
    first = open(os.path.join(ROOT, "debian", "changelog"), encoding="utf-8").readline()
    m = re.match(r"quiver \(([^)]+)\) ", first)
    assert m, first
    assert m.group(1).split("-")[0] == ".".join(version), "debian/changelog's newest entry is %s" % m.group(1)


def test_changelog_md(version):
    text = open(os.path.join(ROOT, "CHANGELOG.md"), encoding="utf-8").read()
    assert re.search(r"^## \[?%s\]?" % re.escape(".".join(version)), text, re.M), \
        "CHANGELOG.md has no section for %s" % ".".join(version)
