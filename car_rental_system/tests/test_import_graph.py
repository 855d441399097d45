"""The layers import one way: money primitives in ``accounts`` (models,
services, selectors, locks, providers) never reach the order flows of
``rentals`` (services, ops, pages); the order flows call the money
primitives. Imports are read with ``ast`` from the source files, function-level
ones included, so a lazy import can't hide a cycle."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "rentals", "customers", "vehicles", "car_rental_system")
# Modules that sit on top and may call either app.
FORBIDDEN_FOR_ACCOUNTS_CORE = (
    "rentals.services",
    "rentals.ops",
    "rentals.tasks",
    "rentals.views",
    "rentals.admin_views",
)
SERVICE_MODULES = ("accounts.services", "rentals.services")


def within(name: str, prefix: str) -> bool:
    """``name`` is the module ``prefix`` or one of its submodules (a package's)."""
    return name == prefix or name.startswith(prefix + ".")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _source_files() -> dict[str, Path]:
    files = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            rel = path.relative_to(ROOT).parts
            if "tests" in rel or "migrations" in rel:
                continue
            files[_module_name(path)] = path
    return files


MODULES = _source_files()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")[: -node.level] if MODULES[module].name != "__init__.py" else module.split(".")
    if MODULES[module].name == "__init__.py" and node.level > 1:
        base = module.split(".")[: -(node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str, *, model_delegations: bool = True) -> set[str]:
    """The project modules ``module`` imports, at any depth of its code. With
    ``model_delegations`` False, the imports inside functions of a models
    module (the thin delegations its methods may make) are left out."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    return imports_in(module, tree, model_delegations=model_delegations)


def is_models(module: str) -> bool:
    return module.endswith(".models") or ".models." in module


def imports_in(module: str, tree: ast.Module, *, model_delegations: bool = True) -> set[str]:
    skip: set[int] = set()
    if not model_delegations and is_models(module):
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                skip.update(id(inner) for inner in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            names = [target] + [f"{target}.{alias.name}" for alias in node.names]
        for name in names:
            # "from rentals import services" names the module rentals.services
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def _graph(*, model_delegations: bool) -> dict[str, set[str]]:
    return {module: imports_of(module, model_delegations=model_delegations) for module in MODULES}


def reachable(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for name in graph.get(todo.pop(), ()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def _accounts_core() -> list[str]:
    core = []
    for module in MODULES:
        parts = module.split(".")
        if parts[0] != "accounts" or len(parts) < 2:
            continue
        if parts[1] in ("models", "services", "selectors", "locks", "providers"):
            core.append(module)
    return sorted(core)


def test_the_graph_sees_function_level_imports():
    # rentals.models delegates refund_deposit to accounts.services inside a method.
    assert "accounts.services" in imports_of("rentals.models")
    assert "accounts.services" not in imports_of("rentals.models", model_delegations=False)
    flows = [module for module in MODULES if within(module, "rentals.services")]
    assert any(within(name, "accounts.services") for module in flows for name in imports_of(module))
    assert len(_accounts_core()) >= 6


def forbidden_imports(module: str, imports: set[str]) -> set[str]:
    """What of the order flows a money module of accounts imports."""
    return {name for name in imports if any(within(name, flow) for flow in FORBIDDEN_FOR_ACCOUNTS_CORE)}


@pytest.mark.parametrize("module", _accounts_core())
def test_money_modules_of_accounts_never_import_the_order_flows(module):
    bad = forbidden_imports(module, imports_of(module))
    assert not bad, f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize(
    "planted",
    [
        "def later():\n    from rentals import services\n    services.cancel_rental\n",
        "def later():\n    from rentals.services import cancel_rental\n",
        "def later():\n    import rentals.ops\n",
        "class Later:\n    def run(self):\n        from rentals.tasks import refresh_rental_statuses\n",
    ],
)
def test_a_planted_function_level_import_is_caught(planted):
    # The check reads imports inside functions and methods: a lazy import of an
    # order flow in a money module is reported like a top-level one.
    module = "accounts.services.refunds"
    found = forbidden_imports(module, imports_in(module, ast.parse(planted)))
    assert found, planted


def test_accounts_reaches_rentals_only_through_models_locks_selectors_and_pricing():
    allowed = {
        "rentals",
        "rentals.models",
        "rentals.locks",
        "rentals.selectors",
        "rentals.pricing",
        "rentals.exceptions",
    }
    for module in _accounts_core():
        rentals_imports = {name for name in imports_of(module) if name.split(".")[0] == "rentals"}
        assert all(
            any(within(name, ok) for ok in allowed - {"rentals"}) or name == "rentals" for name in rentals_imports
        ), (
            module,
            rentals_imports,
        )


def test_no_cycle_between_the_service_layers():
    graph = _graph(model_delegations=False)
    # order flows call money primitives ...
    assert "accounts.services" in reachable("rentals.services", graph)
    # ... never the other way round, at any depth (a model's own delegations aside)
    assert "rentals.services" not in reachable("accounts.services", graph)
    assert "rentals.ops" not in reachable("accounts.services", graph)
    # and what accounts' services rely on of rentals imports nothing of accounts' services
    for module in ("rentals.selectors", "rentals.pricing", "rentals.locks"):
        assert "accounts.services" not in reachable(module, graph), module


def test_the_order_flows_never_import_the_jobs_that_call_them():
    graph = _graph(model_delegations=False)
    for module in [m for m in MODULES if within(m, "rentals.services")]:
        reached = reachable(module, graph)
        assert not {name for name in reached if within(name, "rentals.tasks") or within(name, "rentals.ops")}, module


def test_no_import_cycle_between_the_apps_service_and_selector_modules():
    graph = _graph(model_delegations=False)
    kinds = ("services", "selectors", "locks", "ops")
    layer = [m for m in MODULES if set(m.split(".")[1:]) & set(kinds)]
    for module in layer:
        back = {other for other in reachable(module, graph) & set(layer) if module in reachable(other, graph)}
        cross = {other for other in back if other.split(".")[0] != module.split(".")[0]}
        assert not cross, f"{module} and {sorted(cross)} import each other"
