"""MkDocs hook: the configuration page's table of PRSM_ settings, built from the settings model.

`docs/configuration.md` holds the marker below; this hook replaces it with one row per field of
`prsm_tasks.config.Settings` (variable, default and bounds, meaning), so the page cannot drift from
the code. A field without a description fails the build: every setting must say what it does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MARKER = "<!-- settings-table -->"
PAGE = "configuration.md"


class UndocumentedSettingError(Exception):
    """A field of Settings has no description, or the page lost its marker."""


def _default(field: Any) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, list):
        return ", ".join(f"`{item}`" for item in value) if value else "empty"
    if isinstance(value, Path):
        value = str(value)
    return f"`{value}`"


def _bounds(field: Any) -> str:
    """The numeric bounds pydantic enforces (ge, gt, le, lt), e.g. `≥ 1, ≤ 5`."""
    signs = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    found = []
    for constraint in field.metadata:
        for name, sign in signs.items():
            limit = getattr(constraint, name, None)
            if limit is not None:
                found.append(f"{sign} {limit:_}".replace("_", ","))
    return ", ".join(found)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_rows(model: Any = None) -> list[tuple[str, str, str, str]]:
    """(variable, default, bounds, meaning) for every field of ``model`` (default: Settings)."""
    if model is None:
        from prsm_tasks.config import Settings

        model = Settings
    prefix = model.model_config.get("env_prefix", "")
    rows = []
    for name, field in model.model_fields.items():
        if not field.description:
            raise UndocumentedSettingError(
                f"Settings.{name} has no description: add Field(description=...) in "
                "prsm_tasks/config.py"
            )
        rows.append((f"{prefix}{name}".upper(), _default(field), _bounds(field), field.description))
    return rows


def settings_table() -> str:
    """Two columns, so the page reads on a laptop: the variable with its default and bounds
    under it, then its meaning."""
    lines = ["| variable, default | meaning |", "| --- | --- |"]
    for variable, default, bounds, meaning in settings_rows():
        limits = f", {bounds}" if bounds else ""
        lines.append(f"| `{variable}`<br>{_cell(default)}{limits} | {_cell(meaning)} |")
    return "\n".join(lines)


def render(markdown: str) -> str:
    if MARKER not in markdown:
        raise UndocumentedSettingError(f"{PAGE} lost its marker {MARKER}")
    return markdown.replace(MARKER, settings_table())


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    from mkdocs.exceptions import PluginError

    try:
        return render(markdown)
    except UndocumentedSettingError as exc:
        raise PluginError(str(exc)) from exc
