"""mkdocs hooks: the pages generated from the code, added at build time.

``mkdocs.yml`` names this file under ``hooks:``. It adds:

- ``ops/<group>.md``, one page per entry of ``ops --help``, appended to the nav
  section that holds ``ops/index.md``;
- ``runbooks/index.md`` and ``runbooks/<id>.md`` from ``runbooks/``, appended
  to the nav section that holds ``runbooks/index.md``;
- ``catalog/index.md`` and ``catalog/<dataset>.md`` from the contracts, appended
  to the nav section that holds ``catalog/index.md``;
- the configuration reference, in place of the ``<!-- settings-reference -->``
  line of ``configuration.md``; the command table in place of
  ``<!-- ops-commands -->`` in ``ops/index.md``; and a section per chaos
  experiment in place of ``<!-- chaos-experiments -->`` in ``chaos.md``;
- ``dashboards/<name>.json``, the Grafana dashboards of ``dashboards/``, as files to download.

Anything that keeps a page from being generated (an undocumented setting, a
runbook ``ops`` would refuse) stops the build with the reason.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mkdocs.exceptions import PluginError  # noqa: E402
from mkdocs.structure.files import File, Files  # noqa: E402

from sluice.errors import SluiceError  # noqa: E402
from tools.sitegen import SiteError, catalog_pages, chaos_ref, cli_ref, runbook_pages, settings_ref  # noqa: E402

SETTINGS_MARKER = "<!-- settings-reference -->"
OPS_MARKER = "<!-- ops-commands -->"
CHAOS_MARKER = "<!-- chaos-experiments -->"
OPS_INDEX = "ops/index.md"
RUNBOOKS_INDEX = "runbooks/index.md"
DASHBOARDS = "dashboards"


@dataclass(frozen=True)
class Generated:
    """Everything generated for one build."""

    groups: list[cli_ref.GroupDoc]
    runbooks: list[runbook_pages.RunbookPage]
    settings: str
    experiments: str
    catalog: list[catalog_pages.CatalogPage]


_generated: Generated | None = None


def generate(root: Path = ROOT) -> Generated:
    """Generate every page for the project at ``root``.

    Raises:
        SluiceError: a page cannot be generated (an undocumented setting, a broken runbook).
    """
    return Generated(
        groups=cli_ref.ops_groups(),
        runbooks=runbook_pages.runbook_pages(root / "runbooks"),
        settings=settings_ref.reference_markdown(root),
        experiments=chaos_ref.experiments_markdown(root / "chaos" / "experiments"),
        catalog=catalog_pages.catalog_pages(root / "sluice" / "contracts", catalog_pages.recorded_runs()),
    )


def on_config(config: Any) -> Any:
    global _generated
    try:
        _generated = generate()
    except (SluiceError, SiteError) as exc:
        raise PluginError(str(exc)) from None
    nav = config["nav"] or []
    _extend_section(nav, OPS_INDEX, [{f"ops {g.name}": g.page} for g in _generated.groups])
    _extend_section(nav, RUNBOOKS_INDEX, [{Path(p.page).stem: p.page} for p in _generated.runbooks[1:]])
    _extend_section(nav, catalog_pages.INDEX, [{p.title: p.page} for p in _generated.catalog[1:]])
    return config


def _extend_section(nav: list[Any], first_page: str, entries: list[dict[str, str]]) -> None:
    """Append ``entries`` to the nav section that lists ``first_page``.

    Raises:
        PluginError: no section lists it.
    """
    for item in nav:
        children = next(iter(item.values())) if isinstance(item, dict) else None
        if isinstance(children, list):
            if first_page in children or any(isinstance(c, dict) and first_page in c.values() for c in children):
                children.extend(e for e in entries if e not in children)
                return
            try:
                _extend_section(children, first_page, entries)
                return
            except PluginError:
                continue
    raise PluginError(f"no nav section of mkdocs.yml lists {first_page}; the generated pages go there")


def _built() -> Generated:
    if _generated is None:
        raise PluginError("the generated pages are made in on_config, which has not run")
    return _generated


def on_files(files: Files, config: Any) -> Files:
    generated = _built()
    for group in generated.groups:
        files.append(File.generated(config, group.page, content=cli_ref.render_group(group)))
    for page in generated.runbooks:
        files.append(File.generated(config, page.page, content=page.markdown))
    for entry in generated.catalog:
        files.append(File.generated(config, entry.page, content=entry.markdown))
    for dashboard in sorted((ROOT / DASHBOARDS).glob("*.json")):
        files.append(File.generated(config, f"{DASHBOARDS}/{dashboard.name}", content=dashboard.read_text()))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    generated = _built()
    if page.file.src_uri == "configuration.md":
        return _replace_marker(markdown, SETTINGS_MARKER, generated.settings, page.file.src_uri)
    if page.file.src_uri == OPS_INDEX:
        return _replace_marker(markdown, OPS_MARKER, cli_ref.render_index(generated.groups), page.file.src_uri)
    if page.file.src_uri == "chaos.md":
        return _replace_marker(markdown, CHAOS_MARKER, generated.experiments, page.file.src_uri)
    return markdown


def _replace_marker(markdown: str, marker: str, content: str, page: str) -> str:
    if marker not in markdown:
        raise PluginError(f"{page} has no {marker} line for its generated part")
    return markdown.replace(marker, content)
