"""The docs site builds with ``mkdocs build --strict``, and its generated pages cover the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sluice.settings import Settings, variables
from tools.sitegen.cli_ref import ops_groups

ROOT = Path(__file__).resolve().parents[2]
# Any download attempt during the build goes to a closed port and fails the build.
NO_NETWORK = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "no_proxy": "",
}


def build(config: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **NO_NETWORK, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = build(ROOT / "mkdocs.yml", out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    return out


def page_text(site: Path, page: str) -> str:
    html = (site / page / "index.html").read_text(encoding="utf-8")
    return re.sub(r"<[^>]+>", "", html).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_site_builds_strict_with_every_section(site: Path) -> None:
    for page in (
        "getting-started",
        "concepts/contracts",
        "concepts/ingestion",
        "concepts/lake",
        "on-call/incidents",
        "on-call/metrics",
        "on-call/correlation",
        "configuration",
        "deployments",
        "chaos",
        "benchmarks",
        "ops",
        "runbooks",
    ):
        assert (site / page / "index.html").is_file(), page


def test_pages_load_nothing_from_other_hosts(site: Path) -> None:
    remote = re.compile(r"""(?:<link[^>]+href|<script[^>]+src|<img[^>]+src)=["']?(?:https?:)?//""")
    imports = re.compile(r"""@import\s+url\(["']?(?:https?:)?//""")
    for path in site.rglob("*"):
        if path.suffix in (".html", ".css"):
            text = path.read_text(encoding="utf-8")
            assert not remote.search(text) and not imports.search(text), path
    assert "fonts.googleapis.com" not in (site / "index.html").read_text(encoding="utf-8")


def test_configuration_page_lists_every_settings_field(site: Path) -> None:
    text = page_text(site, "configuration")
    fields = [var.name for var in variables(Settings)]
    assert len(fields) > 50
    missing = [var for var in fields if not re.search(rf"\b{var}\b", text)]
    assert not missing


def test_every_runbook_has_a_page(site: Path) -> None:
    books = [p for p in (ROOT / "runbooks").glob("*.md") if p.name != "README.md"]
    assert books
    for book in books:
        meta = yaml.safe_load(book.read_text(encoding="utf-8").split("---")[1])
        text = page_text(site, f"runbooks/{book.stem}")
        assert meta["id"] in text and "Diagnose" in text, book.name
    index = page_text(site, "runbooks")
    assert all(book.stem in index for book in books)


def test_every_ops_command_has_a_page(site: Path) -> None:
    groups = ops_groups()
    assert {"incident", "runbook", "chaos", "lake", "doctor"} <= {g.name for g in groups}
    for group in groups:
        text = page_text(site, f"ops/{group.name}")
        for command in group.commands:
            assert command.path in text and command.usage in text, command.path
    index = page_text(site, "ops")
    assert all(f"ops {g.name}" in index for g in groups)


def test_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    subprocess.run(["cp", "-r", str(ROOT / "docs"), str(docs)], check=True)
    (docs / "index.md").write_text("# Sluice\n\nSee [the page that is not there](nowhere.md).\n", encoding="utf-8")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    config.update(docs_dir=str(docs), hooks=[str(ROOT / "tools/sitegen/hooks.py")])
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    done = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "nowhere.md" in done.stdout + done.stderr


def test_every_chaos_experiment_has_a_row_in_the_table_and_a_section(site: Path) -> None:
    source = (ROOT / "docs" / "chaos.md").read_text(encoding="utf-8")
    html = (site / "chaos" / "index.html").read_text(encoding="utf-8")
    experiments = [p.stem for p in (ROOT / "chaos" / "experiments").glob("*.yaml")]
    assert experiments
    assert [n for n in experiments if f"| [`{n}`](#experiment-{n}) |" not in source] == []
    assert [n for n in experiments if f'id="experiment-{n}"' not in html] == []


def test_every_benchmark_script_has_its_command_on_the_benchmarks_page(site: Path) -> None:
    text = page_text(site, "benchmarks")
    scripts = [p.name for p in (ROOT / "bench").glob("*.py") if "__main__" in p.read_text(encoding="utf-8")]
    assert "ingest.py" in scripts
    assert [name for name in scripts if f"python bench/{name}" not in text] == []


def test_every_contract_has_a_catalog_page(site: Path) -> None:
    contracts = [p.stem for p in (ROOT / "sluice" / "contracts").glob("*.yaml") if p.stem != "glossary"]
    assert contracts
    for name in contracts:
        text = page_text(site, f"catalog/{name}")
        assert "Columns" in text and "Lineage" in text and "freshness SLA" in text, name
    customers = page_text(site, "catalog/customers")
    assert "person_name" in customers and "crm-data@sluice.example" in customers
    index = page_text(site, "catalog")
    assert all(name in index for name in contracts)


def test_every_dashboard_is_shipped_in_the_site(site: Path) -> None:
    dashboards = sorted((ROOT / "dashboards").glob("*.json"))
    assert dashboards
    for dashboard in dashboards:
        assert (site / "dashboards" / dashboard.name).read_text() == dashboard.read_text(), dashboard.name
    telemetry = page_text(site, "on-call/telemetry")
    assert all(d.stem in telemetry for d in dashboards)
