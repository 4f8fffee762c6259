"""The documented-commands check: what it takes from a page, and how it runs and stops."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tools.doccheck import DocCheckError, commands, run_pages, strip_comment

pytestmark = pytest.mark.serial

PAGE = """# A page

```bash
make fail    # prints its INC id
echo "seen INC-3"   # the id make fail printed
echo 'a # in quotes' # a comment
make test    # the suite itself
```

```text
not a command
```
"""


def test_a_comment_is_cut_but_a_hash_in_quotes_or_a_word_stays() -> None:
    assert strip_comment("ops runs list   # runs with counts") == "ops runs list"
    assert strip_comment("echo 'a # b' # c") == "echo 'a # b'"
    assert strip_comment('grep -c "#" x#y') == 'grep -c "#" x#y'
    assert strip_comment("   # only a comment") == ""


def test_only_bash_blocks_give_commands_with_their_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    found = commands(page)
    assert [(c.line, c.text) for c in found] == [
        (4, "make fail"),
        (5, 'echo "seen INC-3"'),
        (6, "echo 'a # in quotes'"),
        (7, "make test"),
    ]


def _checkout(tmp_path: Path, page: str, fail_target: str) -> Path:
    (tmp_path / "page.md").write_text(page)
    (tmp_path / "Makefile").write_text(f"fail:\n\t{fail_target}\ntest:\n\texit 1\n")
    return tmp_path


def test_the_incident_make_fail_printed_replaces_the_placeholder_and_make_test_is_left_out(tmp_path: Path) -> None:
    clone = _checkout(tmp_path, PAGE, "@echo incident INC-7 opened")
    transcript = run_pages(clone, ["page.md"])
    assert "seen INC-7" in transcript
    assert "a # in quotes" in transcript
    assert ">>> skipped: make test" in transcript


def test_the_first_failing_command_stops_the_run_and_is_named(tmp_path: Path) -> None:
    page = "```bash\ntrue\nls /no/such/folder\necho never\n```\n"
    clone = _checkout(tmp_path, page, "@true")
    with pytest.raises(DocCheckError) as failed:
        run_pages(clone, ["page.md"])
    assert "FAILED page.md:3: ls /no/such/folder" in failed.value.args[0]
    assert "page.md:4: echo never" not in failed.value.args[0]


def test_make_fail_without_an_incident_id_fails_the_check(tmp_path: Path) -> None:
    clone = _checkout(tmp_path, PAGE, "@echo nothing opened")
    with pytest.raises(DocCheckError, match="printed no incident id"):
        run_pages(clone, ["page.md"])


def test_a_command_that_asks_is_answered_yes(tmp_path: Path) -> None:
    page = '```bash\nread -r answer && [ "$answer" = y ]\n```\n'
    clone = _checkout(tmp_path, page, "@true")
    run_pages(clone, ["page.md"])


def test_the_clone_holds_only_what_is_committed(tmp_path: Path) -> None:
    from tools.doccheck import fresh_clone

    source = tmp_path / "source"
    source.mkdir()
    subprocess.run(["git", "init", "-q", str(source)], check=True)
    (source / "kept.txt").write_text("committed")
    subprocess.run(["git", "-C", str(source), "add", "kept.txt"], check=True)
    subprocess.run(
        ["git", "-C", str(source), "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"], check=True
    )
    (source / "loose.txt").write_text("not committed")
    clone = fresh_clone(source, tmp_path / "clone")
    assert (clone / "kept.txt").exists() and not (clone / "loose.txt").exists()


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.integration
@pytest.mark.timeout(2400)
def test_every_command_of_the_readme_and_getting_started_runs_as_written_on_a_fresh_clone(tmp_path: Path) -> None:
    """``make run``, the tour, ``make fail``, the on-call loop, a chaos drill and ``make docs``, as a user types them.

    The clone holds what is committed; its ``.venv`` is installed by the page's own ``make run``.
    """
    from tools.doccheck import PAGES, ROOT, check_pages, fresh_clone, user_environment

    if not _port_free(4200):
        pytest.skip("port 4200 is in use: the documented commands start their Prefect server there")
    clone = fresh_clone(ROOT, tmp_path / "sluice")
    transcript = check_pages(clone, list(PAGES), env=user_environment(tmp_path / "prefect-home"))
    ran = [line for line in transcript.splitlines() if line.startswith(">>> ") and "skipped" not in line]
    documented = [c for page in PAGES for c in commands(clone / page) if c.text != "make test"]
    assert len(ran) == len(documented)
    assert "matches the generator's ground truth" in transcript
    assert "Starting temporary server" not in transcript, "a command ran against a throwaway Prefect server"
