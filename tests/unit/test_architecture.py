"""The core stays pure: no network, web, bus or database library in ``gateway/``, no work at import.

Imports are read with ``ast`` (nothing is executed). Import-time behaviour is checked in a fresh
interpreter, because modules this test session already imported would not run again.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from gateway.settings import PROJECT_HOME

CORE = PROJECT_HOME / "gateway"
ADAPTERS = PROJECT_HOME / "adapters"
FORBIDDEN_IN_CORE = ("fastapi", "starlette", "uvicorn", "pika", "aio_pika", "aiormq", "zeep",
                     "httpx", "requests", "sqlite3", "psycopg")


def imported_modules(source: str) -> set[str]:
    """Every module a source file imports: statements, and literal dynamic imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str):
                found.add(first.value)
    return found


def forbidden(module: str) -> bool:
    root = module.split(".")[0]
    return root in FORBIDDEN_IN_CORE or root.startswith("psycopg")


def violations(package: Path) -> dict[str, list[str]]:
    """Module path -> forbidden imports, for every .py file below ``package``."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        bad = sorted(m for m in imported_modules(path.read_text(encoding="utf-8"))
                     if forbidden(m))
        if bad:
            out[str(path.relative_to(package.parent))] = bad
    return out


def module_names(*packages: Path) -> list[str]:
    names = []
    for package in packages:
        for path in sorted(package.rglob("*.py")):
            parts = list(path.relative_to(PROJECT_HOME).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names.append(".".join(parts))
    return names


def test_core_imports_no_network_web_bus_or_database_library() -> None:
    """No module under gateway/ imports fastapi, pika, httpx, sqlite3, psycopg and the like."""
    files = list(CORE.rglob("*.py"))
    assert len(files) > 20
    assert violations(CORE) == {}


def test_import_checker_catches_every_import_form(tmp_path: Path) -> None:
    """The checker sees plain, from, submodule, aliased and importlib imports (no blind spot)."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "bad.py").write_text(
        "import httpx\nfrom starlette.responses import Response\nimport sqlite3 as db\n"
        "import importlib\nx = importlib.import_module('aio_pika')\n"
        "def f():\n    import psycopg2\n    return __import__('zeep')\n", encoding="utf-8")
    (package / "good.py").write_text("import json\nfrom lxml import etree\n", encoding="utf-8")
    found = {Path(k).name: v for k, v in violations(package).items()}
    assert found == {"bad.py": ["aio_pika", "httpx", "psycopg2", "sqlite3",
                                "starlette.responses", "zeep"]}


def test_every_module_imports_without_network_or_threads() -> None:
    """Importing every gateway/ and adapters/ module opens no socket, resolves no name, starts
    no thread."""
    names = module_names(CORE, ADAPTERS)
    assert "gateway.message_types" in names and "adapters.cli" in names
    script = r"""
import importlib, json, socket, sys, threading
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[1:] if args else kwargs)[:120])
    raise OSError("network use at import time")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.socket.sendto = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
socket.gethostbyname = refuse
threads_before = {t.ident for t in threading.enumerate()}
failed = {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except BaseException as exc:  # report everything
        failed[name] = f"{type(exc).__name__}: {exc}"[:200]
new_threads = [t.name for t in threading.enumerate() if t.ident not in threads_before]
print(json.dumps({"failed": failed, "attempts": attempts, "threads": new_threads,
                  "imported": sum(1 for n in json.loads(sys.argv[1]) if n in sys.modules)}))
"""
    done = subprocess.run([sys.executable, "-c", script, json.dumps(names)], cwd=PROJECT_HOME,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}
    assert report["attempts"] == []
    assert report["threads"] == []
    assert report["imported"] == len(names)


def duplicate_test_module_names(root: Path) -> dict[str, list[str]]:
    """Test modules that share a file name (pytest imports them by basename: one hides the
    other, and the whole run stops at collection)."""
    seen: dict[str, list[str]] = {}
    for path in sorted(root.rglob("test_*.py")):
        seen.setdefault(path.name, []).append(str(path.relative_to(root)))
    return {name: paths for name, paths in seen.items() if len(paths) > 1}


def test_test_modules_have_unique_file_names() -> None:
    """No two test modules in tests/ share a file name (unit vs integration vs e2e)."""
    assert duplicate_test_module_names(PROJECT_HOME / "tests") == {}


def test_duplicate_name_checker_catches_a_planted_pair(tmp_path: Path) -> None:
    """The checker finds two test_x.py in different tiers."""
    for tier in ("unit", "e2e"):
        (tmp_path / tier).mkdir()
        (tmp_path / tier / "test_x.py").write_text("")
    expected = {"test_x.py": ["e2e/test_x.py", "unit/test_x.py"]}
    assert duplicate_test_module_names(tmp_path) == expected
