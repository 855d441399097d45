"""Each rule has one home: one definition in the source, which every caller
uses (read with ``ast``, so comments and docstrings don't count)."""

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "rentals", "customers", "vehicles", "car_rental_system")


def _sources() -> dict[str, ast.Module]:
    trees = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or "migrations" in parts:
                continue
            trees[str(path.relative_to(ROOT))] = ast.parse(path.read_text(encoding="utf-8"))
    return trees


TREES = _sources()


def _definitions() -> Counter:
    """How often each function, class and module-level name is defined."""
    seen: Counter = Counter()
    for tree in TREES.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                seen[node.name] += 1
        for node in tree.body:
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            else:
                targets = []
            for target in targets:
                if isinstance(target, ast.Name):
                    seen[target.id] += 1
    return seen


DEFINED = _definitions()


def _where(name: str) -> list[str]:
    return sorted(
        path
        for path, tree in TREES.items()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name
    )


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("can_pay", "accounts/selectors/orders.py"),
        ("can_cancel", "rentals/selectors.py"),
        ("is_on_road", "rentals/selectors.py"),
        ("action_allowed", "rentals/selectors.py"),
        ("check_cancellation", "rentals/services/cancellation.py"),
        ("prepare_return", "rentals/services/handover.py"),
        ("cancel_preview", "rentals/services/previews.py"),
        ("return_preview", "rentals/services/previews.py"),
        ("receiver_id", "accounts/refund_rules.py"),
        ("route_refund", "accounts/refund_rules.py"),
        ("plan_refund", "accounts/refund_rules.py"),
        ("refund_description", "accounts/services/refunds.py"),
        ("refund_due_rows", "accounts/services/refunds.py"),
        ("transition_rental", "rentals/services/transitions.py"),
        ("ReadOnlyPermissionsMixin", "car_rental_system/admin_mixins.py"),
        ("ledger_action_view", "rentals/admin_views.py"),
        ("DateTimeLocalInput", "car_rental_system/widgets.py"),
    ],
)
def test_one_definition(name, home):
    assert _where(name) == [home]


def test_payable_statuses_defined_once():
    assert DEFINED["PAYABLE_STATUSES"] == 1


def test_read_only_permission_overrides_written_once():
    # NotificationAdmin and ReviewAdmin only refuse adding (staff may mark
    # notifications read, reviews are the customers'); everything read-only
    # uses the mixin.
    assert DEFINED["has_change_permission"] == 1
    assert DEFINED["has_delete_permission"] == 1


def test_datetime_local_widget_defined_once():
    inputs = [
        path
        for path, tree in TREES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "input_type" for t in node.targets)
        and isinstance(node.value, ast.Constant)
        and node.value.value == "datetime-local"
    ]
    assert inputs == ["car_rental_system/widgets.py"]


def _saves_status(node: ast.AST) -> bool:
    """A ``.save(update_fields=[... "status" ...])`` or ``.update(status=...)`` call."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    if node.func.attr == "update":
        return any(k.arg == "status" for k in node.keywords)
    if node.func.attr == "save":
        for keyword in node.keywords:
            if keyword.arg == "update_fields" and isinstance(keyword.value, ast.List):
                return any(isinstance(e, ast.Constant) and e.value == "status" for e in keyword.value.elts)
    return False


def test_a_rental_status_is_written_by_the_transition_module_only():
    writers = []
    flows = ("rentals/services", "accounts/services", "rentals/ops", "rentals/admin_views")
    for path in sorted(p for p in TREES if p.startswith(flows)):
        for func in ast.walk(TREES[path]):
            if isinstance(func, ast.FunctionDef):
                for node in ast.walk(func):
                    if _saves_status(node) and "vehicle" not in ast.unparse(node.func).lower():
                        writers.append((path, func.name, ast.unparse(node.func)))
    rental_writers = {(path, name) for path, name, call in writers if "payment" not in call and "charge" not in call}
    assert rental_writers == {
        ("rentals/services/transitions.py", "transition_rental"),
        ("rentals/services/transitions.py", "move_many_by_time"),
    }, writers
