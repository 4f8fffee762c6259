"""Run the commands of the README and the getting-started page, as written, in a fresh clone.

Every line of a ```` ```bash ```` block is one command, run in the page's order
by one bash process, so ``export`` and ``source`` carry over, with the clone's
``.venv/bin`` first on ``PATH`` once it exists (what ``source
.venv/bin/activate`` does, as the pages say). ``INC-3`` stands for the
incident ``make fail`` printed, as the pages say; a command that asks is
answered ``y``. ``make test`` is the one command left out: it is the suite
that runs this check.

    python -m tools.doccheck [--clone DIR] [PAGE ...]

Each page is a new user's session: the first starts from the fresh clone, each
later one from a clean tree that keeps only the first's ``.venv``. Exit 0 when
every command exits 0; otherwise 1, naming the first that failed and the end of
its output.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("README.md", "docs/getting-started.md")
SKIPPED = {"make test": "the suite that runs this check"}
PLACEHOLDER = "INC-3"
FENCE = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
INCIDENT = re.compile(r"\bINC-\d+\b")


class DocCheckError(Exception):
    """A documented command failed."""


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    text: str


def strip_comment(line: str) -> str:
    """The command of ``line`` without its trailing ``# comment``; a ``#`` inside quotes or a word stays."""
    quote = ""
    for at, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (at == 0 or line[at - 1].isspace()):
            return line[:at].strip()
    return line.strip()


def commands(page: Path, *, name: str | None = None) -> list[Command]:
    """Every command of the page's ``bash`` blocks, in order, without comments and blank lines."""
    text = page.read_text(encoding="utf-8")
    found: list[Command] = []
    for block in FENCE.finditer(text):
        first = text.count("\n", 0, block.start(1)) + 1
        for offset, raw in enumerate(block.group(1).splitlines()):
            command = strip_comment(raw)
            if command:
                found.append(Command(name or page.name, first + offset, command))
    return found


def shell_script(steps: list[Command]) -> str:
    """One bash script that runs ``steps`` in order and stops at the first failure, naming it."""
    lines = [
        "set -u",
        'incident="${DOCCHECK_INCIDENT:-}"',
        "answers=$(mktemp)",
        "trap 'rm -f \"$answers\"' EXIT",
        'for _ in $(seq 100); do echo y; done > "$answers"',
    ]
    for step in steps:
        if step.text in SKIPPED:
            lines.append(f"echo '>>> skipped: {step.text} ({SKIPPED[step.text]})'")
            continue
        text = step.text.replace(PLACEHOLDER, '"$incident"')
        where = f"{step.page}:{step.line}"
        lines += [
            'if [ -x .venv/bin/python ]; then export PATH="$PWD/.venv/bin:$PATH"; fi',
            f"echo {shlex.quote(f'>>> {where}: {step.text}')}",
            f'out=$( ( {text} ) < "$answers" 2>&1 ); rc=$?',
            'printf "%s\\n" "$out"',
            f'if [ $rc -ne 0 ]; then echo {shlex.quote(f">>> FAILED {where}: {step.text}")} "(exit $rc)"; exit 1; fi',
        ]
        if step.text.startswith("make fail"):
            lines.append('incident=$(printf "%s" "$out" | grep -oE "\\bINC-[0-9]+\\b" | head -1)')
            lines.append('[ -n "$incident" ] || { echo ">>> FAILED: make fail printed no incident id"; exit 1; }')
    return "\n".join(lines) + "\n"


def fresh_clone(source: Path, into: Path) -> Path:
    """A clone of ``source``'s committed HEAD at ``into`` (nothing uncommitted, nothing ignored)."""
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(source), str(into)], check=True)
    return into


def run_pages(
    clone: Path, pages: list[str], *, env: dict[str, str] | None = None, timeout: float = 2400, echo: bool = False
) -> str:
    """Run every page's commands in ``clone``; return the transcript, or raise naming the failed command.

    ``echo`` prints the transcript as it comes, so a command that hangs is seen hanging.
    """
    steps = [c for page in pages for c in commands(clone / page, name=page)]
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as transcript:
        proc = subprocess.Popen(
            ["bash", "-c", shell_script(steps)],
            cwd=clone,
            env=env or dict(os.environ),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            errors="replace",
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            for line in proc.stdout or ():
                transcript.write(line)
                if echo:
                    print(line, end="", flush=True)
        finally:
            timer.cancel()
        rc = proc.wait()
        transcript.seek(0)
        text = transcript.read()
    if rc != 0:
        raise DocCheckError(text[-6000:] + ("" if rc > 0 else f"\n>>> killed after {timeout:.0f} s"))
    return text


def user_environment(prefect_home: Path) -> dict[str, str]:
    """A new user's shell: this one without Sluice, Prefect or virtualenv settings, Prefect's home apart."""
    dropped = ("SLUICE_", "PREFECT_", "VIRTUAL_ENV", "PYTHONPATH", "PYTEST_", "COV_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["PREFECT_HOME"] = str(prefect_home)
    return env


def check_pages(clone: Path, pages: list[str], *, env: dict[str, str], echo: bool = False) -> str:
    """Run each page in ``clone`` as a new user would; the transcripts, or the first failure.

    The first page starts from the fresh clone. Each later page starts from a
    clean tree again (``git clean``, the server of the page before stopped) that
    keeps only the ``.venv`` the first page installed.
    """
    transcripts = []
    try:
        for n, page in enumerate(pages):
            if n:
                stop_server(clone)
                subprocess.run(["git", "clean", "-xdfq", "-e", ".venv"], cwd=clone, check=True)
            transcripts.append(run_pages(clone, [page], env=env, echo=echo))
    finally:
        stop_server(clone)
    return "".join(transcripts)


def stop_server(clone: Path) -> None:
    """Stop a Prefect server and a metrics sampler service the commands started and left running (their pids
    are in ``.sluice``)."""
    for name in ("prefect-server.pid", "metrics-sampler.pid"):
        pid_file = clone / ".sluice" / name
        if pid_file.exists():
            command = f'kill "$(cat {shlex.quote(str(pid_file))})"'
            subprocess.run(["bash", "-c", command], check=False, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", default=list(PAGES))
    parser.add_argument("--clone", type=Path, help="where to clone (default: a new temporary folder)")
    args = parser.parse_args(argv)
    clone = fresh_clone(ROOT, args.clone or Path(tempfile.mkdtemp(prefix="sluice-doccheck-")) / "sluice")
    try:
        check_pages(clone, args.pages, env=user_environment(clone.parent / "prefect-home"), echo=True)
    except DocCheckError as exc:
        print(exc.args[0][-600:], file=sys.stderr)
        return 1
    print(f"every command of {', '.join(args.pages)} ran in {clone}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
