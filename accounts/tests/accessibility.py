"""axe-core's WCAG 2.1 A/AA rules run inside a Playwright page.

axe-core is an npm package, not a Python one: `make browser` installs it into
``.venv/axe`` (``AXE_JS`` overrides the path). Without it, tests that need it
skip with ``AXE_SKIP_REASON``.
"""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = Path(os.environ.get("AXE_JS") or ROOT / ".venv" / "axe" / "node_modules" / "axe-core" / "axe.min.js")
AXE_SKIP_REASON = f"needs axe-core at {AXE_JS} (run `make browser`, or set AXE_JS to axe.min.js)"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = ("serious", "critical")


def require_axe() -> Path:
    if not AXE_JS.is_file():
        pytest.skip(AXE_SKIP_REASON)
    return AXE_JS


def axe_violations(page) -> list[dict]:
    """The serious and critical WCAG 2.1 AA violations on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(require_axe()))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_21_AA,
    )
    return [v for v in result["violations"] if v["impact"] in BLOCKING_IMPACTS]


def assert_no_serious_axe_violations(page, name: str) -> None:
    violations = axe_violations(page)
    report = "\n".join(
        f"  {v['id']} ({v['impact']}): {v['help']} — " + "; ".join(", ".join(node["target"]) for node in v["nodes"][:5])
        for v in violations
    )
    assert not violations, f"{name} ({page.url}) breaks WCAG 2.1 AA rules:\n{report}"
