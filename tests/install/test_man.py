# SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors
"""The man pages cover what they document: quiver(1) every command of `quiver --help` and every
option each command's --help lists (serve's too); quiver(3) every QV_API function of quiver.h."""
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("QUIVER_BUILD_DIR", os.path.join(ROOT, "build"))
BIN = os.environ.get("QUIVER_BIN", os.path.join(BUILD, "quiver"))


def troff_text(path):
    """The page's words: font escapes dropped, \\- as -, request names kept."""
    t = open(path, encoding="utf-8").read()
    t = re.sub(r"\\f[BIRP]", "", t).replace("\\-", "-").replace("\\ ", " ")
    return t


def help_of(*args):
    r = subprocess.run([BIN, *args, "--help"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def commands():
    out = help_of()
    block = out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return [l.split()[0] for l in block.splitlines() if l.strip()]


def test_every_command_has_a_section():
    page = troff_text(os.path.join(ROOT, "man", "quiver.1.in"))
    cmds = commands()
    assert len(cmds) >= 10
    for c in cmds:
        assert re.search(r'^\.SS "%s\b' % re.escape(c), page, re.M), "quiver(1) has no section for %s" % c


@pytest.mark.parametrize("cmd", [None] + commands())
def test_every_option_is_documented(cmd):
    page = troff_text(os.path.join(ROOT, "man", "quiver.1.in"))
    text = help_of(cmd) if cmd else help_of()
    opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b", text))
    assert opts, "no options found in %s --help" % cmd
    missing = sorted(o for o in opts if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(o), page))
    assert not missing, "quiver(1) does not mention %s of `quiver %s`" % (missing, cmd or "")


def test_every_api_function_is_in_quiver_3():
    header = open(os.path.join(ROOT, "include", "quiver.h"), encoding="utf-8").read()
    funcs = re.findall(r"^QV_API\s+[^;(]*?\b(qv_\w+)\s*\(", header, re.M)
    assert len(funcs) > 40
    page = troff_text(os.path.join(ROOT, "man", "quiver.3.in"))
    missing = [f for f in funcs if not re.search(r"\b%s\(" % f, page)]
    assert not missing, "quiver(3) does not list %s" % missing
