# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""Build and install the `quiver` Python module with setuptools (`pip install .`).

The version is read from CMakeLists.txt's `project(quiver VERSION ...)`, its one place.

The extension is python/*.c linked against libquiver:
  - by default libquiver.a is built first from this source tree with CMake (in the build
    folder setuptools gives us), so `pip install .` works offline on a fresh machine that has
    the Debian build dependencies (scripts/install-deps.sh); nothing is downloaded;
  - with QUIVER_SYSTEM_LIB=1 the installed shared library is used instead, found with
    `pkg-config quiver` (e.g. after installing libquiver-dev, or `cmake --install`).

Debian: pip install --no-build-isolation --break-system-packages .
"""
import os
import re
import shlex
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
        m = re.search(r"project\(\s*quiver\s+VERSION\s+(\d+\.\d+\.\d+)", f.read())
    if not m:
        raise RuntimeError("CMakeLists.txt: no `project(quiver VERSION x.y.z)`")
    return m.group(1)


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args], check=True, capture_output=True, text=True).stdout
    except FileNotFoundError as e:
        raise RuntimeError("pkg-config not found (apt-get install pkg-config)") from e
    except subprocess.CalledProcessError as e:
        raise RuntimeError("pkg-config %s failed: %s" % (" ".join(args), e.stderr.strip())) from e
    return shlex.split(out)


def add_flags(ext, flags):
    for f in flags:
        if f.startswith("-I"):
            ext.include_dirs.append(f[2:])
        elif f.startswith("-L"):
            ext.library_dirs.append(f[2:])
        elif f.startswith("-l"):
            ext.libraries.append(f[2:])
        else:
            ext.extra_link_args.append(f)


class BuildWithLibquiver(build_ext):
    """build_ext that first provides libquiver (CMake build, or pkg-config)."""

    def build_extension(self, ext):
        if os.environ.get("QUIVER_SYSTEM_LIB") == "1":
            add_flags(ext, pkg_config("--cflags", "--libs", "quiver"))
        else:
            lib_build = os.path.join(os.path.abspath(self.build_temp), "libquiver")
            jobs = str(os.cpu_count() or 2)
            subprocess.run(["cmake", "-S", ROOT, "-B", lib_build, "-DCMAKE_BUILD_TYPE=Release",
                            "-DQV_BUILD_TESTS=OFF", "-DQV_BUILD_PYTHON=OFF"], check=True)
            subprocess.run(["cmake", "--build", lib_build, "--target", "quiver_static", "-j", jobs],
                           check=True)
            ext.include_dirs += [os.path.join(ROOT, "include"), os.path.join(lib_build, "include")]
            ext.extra_objects.append(os.path.join(lib_build, "libquiver.a"))
            add_flags(ext, pkg_config("--libs", "sqlite3", "jansson", "openblas", "zlib"))
            ext.libraries += ["pthread", "m"]
        super().build_extension(ext)


ext = Extension(
    "quiver",
    sources=sorted(os.path.join("python", f) for f in os.listdir(os.path.join(ROOT, "python"))
                   if f.endswith(".c")),
    include_dirs=[os.path.join(ROOT, "python")],
    define_macros=[("_GNU_SOURCE", None)],
    extra_compile_args=["-std=c11"],
)

setup(
    name="quiver",
    version=project_version(),
    description="Embeddable, durable vector database (Python bindings of libquiver)",
    long_description=open(os.path.join(ROOT, "python", "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    ext_modules=[ext],
    cmdclass={"build_ext": BuildWithLibquiver},
    options={"build": {"build_base": "build-python"}},  # not CMake's build/ folder
    classifiers=[
        "License :: OSI Approved :: MIT License",
        "Programming Language :: C",
        "Programming Language :: Python :: 3",
        "Operating System :: POSIX :: Linux",
        "Topic :: Database",
    ],
)
