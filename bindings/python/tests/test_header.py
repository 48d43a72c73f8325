"""The binding's ctypes structures, constants and prototypes against graft.h,
as the Rust crate checks its ffi module: a small C program compiled against
the header prints what the Python side must match."""

from __future__ import annotations

import ast
import ctypes
import re
import shutil
import subprocess

from conftest import HERE, TOP

import graft
from graft import _lib, _node
from graft._errors import ErrorCode
from graft._events import EventKind
from graft._types import MsgKind, State

HEADER = TOP / "include" / "graft.h"
PACKAGE = HERE.parent / "graft"


def python_constants() -> dict:
    """Every constant of graft.h the binding mirrors, by its C name."""
    out = {f"GRAFT_{c.name}": int(c) for c in ErrorCode}
    out.update({f"GRAFT_{s.name}": int(s) for s in State})
    out.update({f"GRAFT_MSG_{k.name}": int(k) for k in MsgKind})
    out.update({f"GRAFT_EVENT_{k.name}": int(k) for k in EventKind})
    out.update(GRAFT_ID_MAX=_lib.ID_MAX, GRAFT_MSG_KIND_SLOTS=_lib.MSG_KIND_SLOTS,
               GRAFT_POSITION_MAX=_lib.POSITION_MAX,
               GRAFT_LOG_DEBUG=0, GRAFT_LOG_ERROR=len(_node._LOG_LEVELS) - 1)
    return out


def c_name(field: str) -> str:
    """The C name of a ctypes field (``from_`` is ``from``: a Python keyword)."""
    return field.rstrip("_")


def header_fields(h: str, c: str) -> list:
    """The field names of ``typedef struct c {...} c;`` in graft.h, in order."""
    body = re.search(r"typedef struct %s \{(.*?)\} %s;" % (c, c), h, re.S)
    assert body, c
    fields = []
    for decl in re.sub(r"/\*.*?\*/", "", body.group(1), flags=re.S).split(";"):
        words = decl.replace(",", " , ").split()
        if not words:
            continue
        # "type name", "type a, b", "char name[N]": every declarator after the type.
        names = " ".join(words[1:]).split(",")
        fields += [re.sub(r"\[.*\]", "", n).strip() for n in names]
    return fields


def measure(tmp_path) -> dict:
    """Compile and run a C program printing sizes, offsets and constants."""
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "no C compiler (cc) on PATH: the header check needs one"
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "graft.h"',
             '#define P(name, v) printf("%s %lld\\n", name, (long long)(v))', "int main(void) {"]
    for struct in (_lib.graft_stats, _lib.graft_event):
        c = struct.__name__
        lines.append(f'P("sizeof.{c}", sizeof({c})); P("alignof.{c}", _Alignof({c}));')
        lines += [f'P("offset.{c}.{f}", offsetof({c}, {c_name(f)}));' for f, _ in struct._fields_]
    lines += [f'P("{k}", {k});' for k in python_constants()]
    lines += ['P("GRAFT_VERSION_NUMBER", GRAFT_VERSION_NUMBER);', "return 0;", "}"]
    src, exe = tmp_path / "facts.c", tmp_path / "facts"
    src.write_text("\n".join(lines) + "\n")
    r = subprocess.run([cc, "-std=c11", "-I", str(HEADER.parent), "-o", str(exe), str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"the probe does not compile against graft.h:\n{r.stderr}"
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def test_structures_and_constants_match_graft_h(tmp_path):
    facts = measure(tmp_path)
    for struct in (_lib.graft_stats, _lib.graft_event):
        c = struct.__name__
        assert ctypes.sizeof(struct) == facts[f"sizeof.{c}"], c
        assert ctypes.alignment(struct) == facts[f"alignof.{c}"], c
        for f, _ in struct._fields_:
            assert getattr(struct, f).offset == facts[f"offset.{c}.{f}"], f"{c}.{f}"
    for name, value in python_constants().items():
        assert value == facts[name], name
    assert graft.__version__ == _lib.version()
    assert _lib.lib.graft_version_number() == facts["GRAFT_VERSION_NUMBER"]


def test_every_field_enumerator_and_function_of_graft_h_is_mirrored():
    h = HEADER.read_text()
    # Every field of the two structures (a field graft.h adds must be added here).
    for c, struct in (("graft_stats", _lib.graft_stats), ("graft_event", _lib.graft_event)):
        assert header_fields(h, c) == [c_name(f) for f, _ in struct._fields_], c
    # Every enumerator of the code, state, message and event enums.
    enumerators = set(re.findall(r"^\s*(GRAFT_[A-Z_]+) = -?\d+", h, re.M))
    missing = enumerators - set(python_constants()) - {"GRAFT_LOG_INFO", "GRAFT_LOG_WARN"}
    assert not missing, missing
    # Every function has its prototype declared.
    functions = set(re.findall(r"^GRAFT_API[^;(]*?\b(graft_[a-z_]+)\s*\(", h, re.M))
    assert functions == set(_lib._PROTOTYPES), functions ^ set(_lib._PROTOTYPES)


def test_modules_import_without_cycles():
    # Imports between the package's modules, lazy ones inside functions too.
    graph = {}
    for path in PACKAGE.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module} if node.module else {a.name for a in node.names}
        graph[path.stem] = deps - {path.stem}

    def visit(mod, stack):
        assert mod not in stack, "import cycle: " + " -> ".join(stack + [mod])
        for dep in graph.get(mod, ()):
            visit(dep, stack + [mod])

    for mod in graph:
        if mod != "__init__":
            visit(mod, [])
    assert graph["_errors"] == set(), graph["_errors"]
