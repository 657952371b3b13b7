"""The docs cannot drift from the code: every setting is on the configuration page with its
default and meaning, and the README's links into docs/ lead somewhere."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from prsm_tasks.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def load_hook() -> ModuleType:
    path = ROOT / "docs" / "hooks" / "settings_table.py"
    spec = importlib.util.spec_from_file_location("settings_table_hook", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_configuration_page_lists_every_setting_with_its_default() -> None:
    hook = load_hook()
    page = hook.render((ROOT / "docs" / "configuration.md").read_text())
    assert hook.MARKER not in page
    for name, field in Settings.model_fields.items():
        row = next(
            line for line in page.splitlines() if line.startswith(f"| `PRSM_{name.upper()}`")
        )
        assert field.description and hook._cell(field.description) in row
        assert hook._default(field) in row


def test_a_setting_without_a_description_fails_the_build() -> None:
    class Undocumented(Settings):
        surprise_seconds: float = 1.0

    hook = load_hook()
    with pytest.raises(hook.UndocumentedSettingError, match="surprise_seconds"):
        hook.settings_rows(Undocumented)


def test_the_page_without_its_marker_fails_the_build() -> None:
    hook = load_hook()
    with pytest.raises(hook.UndocumentedSettingError, match="marker"):
        hook.render("# Configuration\n")


def test_the_readme_links_into_docs_lead_to_pages() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", readme)
    assert links, "the README should point into docs/"
    for link in links:
        assert (ROOT / link).is_file(), f"README links to missing {link}"
