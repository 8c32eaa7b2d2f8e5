# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""`cmake --install` into a scratch prefix, then use quiver as an installed library would be:
the README's C example built with `pkg-config --cflags --libs quiver` (shared library, SONAME
libquiver.so.1) and with CMake's find_package(quiver), the installed `quiver` command, its man
pages, the Python module from the prefix's site directory, and DESTDIR staging.

Needs the build folder (QUIVER_BUILD_DIR, default build/) configured and built.
"""
import glob
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("QUIVER_BUILD_DIR", os.path.join(ROOT, "build"))


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, "%s failed (%d):\n%s\n%s" % (cmd, r.returncode, r.stdout, r.stderr)
    return r.stdout


def readme_c_program():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    (code,) = re.findall(r"```c\n(.*?)```", text, re.S)
    includes = "\n".join(l for l in code.splitlines() if l.startswith("#include"))
    body = "\n".join(l for l in code.splitlines() if not l.startswith("#include"))
    return ("%s\n#include <stdio.h>\nint main(void) {\n%s\n  return rc == QV_OK ? 0 : 1;\n}\n"
            % (includes, body))


def libdir_of(prefix):
    (pc,) = glob.glob(os.path.join(prefix, "lib*", "**", "pkgconfig", "quiver.pc"), recursive=True) or [None]
    assert pc, "no quiver.pc under %s" % prefix
    return os.path.dirname(os.path.dirname(pc))


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    if not os.path.exists(os.path.join(BUILD, "cmake_install.cmake")):
        pytest.fail("%s is not a configured CMake build folder" % BUILD)
    p = str(tmp_path_factory.mktemp("prefix"))
    run(["cmake", "--install", BUILD, "--prefix", p])
    return p


def test_layout_and_soname(prefix):
    lib = libdir_of(prefix)
    for f in ("libquiver.a", "libquiver.so", "libquiver.so.1", "pkgconfig/quiver.pc",
              "cmake/quiver/quiverConfig.cmake", "cmake/quiver/quiverConfigVersion.cmake",
              "cmake/quiver/quiverTargets.cmake"):
        assert os.path.exists(os.path.join(lib, f)), f
    for f in ("include/quiver.h", "include/quiver_version.h", "bin/quiver",
              "share/man/man1/quiver.1", "share/man/man3/quiver.3"):
        assert os.path.exists(os.path.join(prefix, f)), f
    assert os.path.islink(os.path.join(lib, "libquiver.so"))
    dyn = run(["readelf", "-d", os.path.join(lib, "libquiver.so")])
    assert "Library soname: [libquiver.so.1]" in dyn
    # only the API is exported: every defined dynamic symbol is a qv_ name
    syms = run(["nm", "-D", "--defined-only", os.path.join(lib, "libquiver.so")]).split("\n")
    names = [l.split()[-1] for l in syms if l.strip()]
    assert names and all(n.startswith("qv_") for n in names), [n for n in names if not n.startswith("qv_")]


def test_pkg_config_file_names_the_prefix(prefix):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir_of(prefix), "pkgconfig"))
    assert run(["pkg-config", "--variable=prefix", "quiver"], env=env).strip() == prefix
    out = run(["pkg-config", "--cflags", "--libs", "quiver"], env=env)
    assert "-I%s/include" % prefix in out and "-lquiver" in out
    assert "-lsqlite3" in run(["pkg-config", "--static", "--libs", "quiver"], env=env)


def test_readme_c_example_with_pkg_config(prefix, tmp_path):
    lib = libdir_of(prefix)
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(lib, "pkgconfig"))
    flags = run(["pkg-config", "--cflags", "--libs", "quiver"], env=env).split()
    src = tmp_path / "example.c"
    src.write_text(readme_c_program())
    exe = str(tmp_path / "example")
    run(["cc", "-std=c11", "-Wall", "-Werror", str(src), "-o", exe] + flags)
    assert "libquiver.so.1" in run(["readelf", "-d", exe])      # linked to the shared library
    (tmp_path / "run_shared").mkdir()
    out = run([exe], cwd=tmp_path / "run_shared", env=dict(os.environ, LD_LIBRARY_PATH=lib))
    assert out.split()[0] == "a"
    # static, as `pkg-config --static` says
    sflags = run(["pkg-config", "--cflags", "--libs", "--static", "quiver"], env=env).split()
    sexe = str(tmp_path / "example_static")
    run(["cc", "-std=c11", "-Wall", "-Werror", str(src), "-o", sexe,
         "-L" + lib, "-Wl,-Bstatic", "-lquiver", "-Wl,-Bdynamic"] + [f for f in sflags if f != "-lquiver"])
    assert "libquiver" not in run(["readelf", "-d", sexe])
    (tmp_path / "run_static").mkdir()
    assert run([sexe], cwd=tmp_path / "run_static").split()[0] == "a"


def test_readme_c_example_with_cmake_find_package(prefix, tmp_path):
    cm = open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8").read()
    major_minor = ".".join(re.search(r"project\(quiver VERSION (\d+)\.(\d+)", cm).groups())
    src = tmp_path / "src"
    src.mkdir()
    (src / "example.c").write_text(readme_c_program())
    (src / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\nproject(user C)\n"
        "find_package(quiver %s REQUIRED)\n" % major_minor +
        "add_executable(ex_shared example.c)\ntarget_link_libraries(ex_shared PRIVATE quiver::quiver)\n"
        "add_executable(ex_static example.c)\ntarget_link_libraries(ex_static PRIVATE quiver::quiver_static)\n")
    b = str(tmp_path / "b")
    run(["cmake", "-S", str(src), "-B", b, "-DCMAKE_PREFIX_PATH=" + prefix])
    run(["cmake", "--build", b])
    for exe in ("ex_shared", "ex_static"):
        (tmp_path / exe).mkdir()
        out = run([os.path.join(b, exe)], cwd=tmp_path / exe,
                  env=dict(os.environ, LD_LIBRARY_PATH=libdir_of(prefix)))
        assert out.split()[0] == "a", exe
    # a newer major (or, while 0.x, minor) than installed is refused
    (src / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.18)\nproject(user C)\n"
                                        "find_package(quiver 9.0 REQUIRED)\n")
    r = subprocess.run(["cmake", "-S", str(src), "-B", str(tmp_path / "b9")], capture_output=True, text=True)
    assert r.returncode != 0 and "quiver" in r.stderr


def test_installed_command_and_man_pages(prefix):
    out = run([os.path.join(prefix, "bin", "quiver"), "--version"])
    assert re.fullmatch(r"quiver \d+\.\d+\.\d+ \(libquiver \d+\.\d+\.\d+\)\n", out)
    if not shutil.which("man"):
        pytest.fail("man (man-db) is not installed: scripts/install-deps.sh installs it")
    env = dict(os.environ, MANWIDTH="100")
    def page(section):  # without the overstrike (bold/underline) of a non-terminal
        return re.sub(".\b", "", run(["man", "-M", os.path.join(prefix, "share", "man"), section, "quiver"], env=env))
    page1 = page("1")
    assert "quiver serve" in page1 and "--max-connections" in page1
    page3 = page("3")
    assert "qv_collection_query" in page3


def test_python_module_from_the_prefix(prefix, tmp_path):
    (so,) = glob.glob(os.path.join(prefix, "lib", "python3*", "*-packages", "quiver.*.so"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.path.dirname(so)
    out = run(["/usr/bin/python3", "-c",
               "import quiver; db = quiver.Database(); "
               "c = db.create_collection('d', 2); c.add(['a'], [[1.0, 0.0]]); "
               "print(quiver.__file__, c.query([[1.0, 0.0]], n_results=1)['ids'])"], env=env, cwd=tmp_path)
    assert out.startswith(so) and "[['a']]" in out


def test_destdir_staging(tmp_path):
    dest = str(tmp_path / "stage")
    run(["cmake", "--install", BUILD, "--prefix", "/usr"], env=dict(os.environ, DESTDIR=dest))
    assert os.path.exists(os.path.join(dest, "usr", "bin", "quiver"))
    assert glob.glob(os.path.join(dest, "usr", "lib", "python3", "dist-packages", "quiver.*.so")) or \
        glob.glob(os.path.join(dest, "usr", "lib", "python3*", "*-packages", "quiver.*.so"))
    (pc,) = glob.glob(os.path.join(dest, "usr", "lib*", "**", "quiver.pc"), recursive=True)
    text = open(pc).read()
    assert "prefix=/usr\n" in text and dest not in text
