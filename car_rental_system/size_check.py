"""Keep modules and functions a reader can hold in mind (``make check``).

Fails when a product module passes 500 lines, or a function of a services,
selectors, ops or views module passes 60 lines. Tests, migrations and the
benchmarks are left out, and so are the data tables listed in ``EXEMPT``.

    python -m car_rental_system.size_check
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("accounts", "rentals", "customers", "vehicles", "car_rental_system")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
# Modules whose functions are held to MAX_FUNCTION_LINES: the service layers,
# the reads, the batch jobs and the pages (a package counts by its name).
FUNCTION_LAYERS = ("services", "selectors", "ops", "views", "admin_views")
# The demo's data tables: long by their rows, not by their logic.
EXEMPT = {
    "accounts/management/commands/seed_demo.py": "the demo's stores, cars, customers and orders",
}


def product_files(root: Path = ROOT) -> list[Path]:
    files = []
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            parts = path.relative_to(root).parts
            if "tests" in parts or "migrations" in parts:
                continue
            files.append(path)
    return files


def in_function_layer(relative: Path) -> bool:
    names = [part.removesuffix(".py") for part in relative.parts]
    return any(name in FUNCTION_LAYERS for name in names)


def problems(root: Path = ROOT) -> list[str]:
    found = []
    for path in product_files(root):
        relative = path.relative_to(root)
        if str(relative) in EXEMPT:
            continue
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            found.append(f"{relative}: {lines} lines (at most {MAX_MODULE_LINES})")
        if not in_function_layer(relative):
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(
                        f"{relative}:{node.lineno} {node.name}(): {length} lines (at most {MAX_FUNCTION_LINES})"
                    )
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} size problem(s): split the module by concern or the function into steps")
        return 1
    print("size check: every product module and function within bounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
