"""The size check ``make check`` runs (car_rental_system/size_check.py)."""

from pathlib import Path

from car_rental_system import size_check


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def _function(name: str, lines: int) -> str:
    return f"def {name}():\n" + "    x = 1\n" * (lines - 1)


def test_a_long_module_and_a_long_service_function_are_reported(tmp_path):
    root = _tree(
        tmp_path,
        {
            "accounts/services/refunds.py": _function("too_long", 61) + "\n" + _function("fine", 60),
            "rentals/pricing.py": "x = 1\n" * 501,
            "rentals/forms.py": _function("long_but_not_a_service", 80),
            "rentals/tests/test_big.py": "x = 1\n" * 900,
            "rentals/migrations/0001_initial.py": "x = 1\n" * 900,
        },
    )
    found = size_check.problems(root)
    assert found == [
        "accounts/services/refunds.py:1 too_long(): 61 lines (at most 60)",
        "rentals/pricing.py: 501 lines (at most 500)",
    ]


def test_the_data_tables_listed_are_exempt(tmp_path):
    root = _tree(tmp_path, dict.fromkeys(size_check.EXEMPT, "x = 1\n" * 900))
    assert size_check.problems(root) == []


def test_views_ops_and_selectors_are_held_to_the_function_bound(tmp_path):
    files = {f"rentals/{name}.py": _function("big", 61) for name in ("views", "ops", "selectors", "admin_views")}
    found = size_check.problems(_tree(tmp_path, files))
    assert len(found) == 4
