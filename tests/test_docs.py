"""The documentation (README.md and docs/*.md) against the code: links lead somewhere, every command
line names real commands and options, every configuration key and variable exists, the tables and
views named are the schema's. The SQL the pages show is run in test_report_readme.py; that every
command and option is documented is test_cli.py's check.
"""

import json
import re
import shlex
from pathlib import Path

import click
import pytest

from ratdcs_catalog.cli import cli
from ratdcs_catalog.config import SETTINGS, env_name

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250  # issue 12: the README is the pitch, set-up, tour and state machine; the rest is in docs/


def page_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def without_code(markdown: str) -> str:
    """The text outside fenced code blocks and inline code spans (where links and headings live)."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", markdown, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, text) of each fenced code block."""
    return re.findall(r"^```([\w-]*)\n(.*?)^```", markdown, flags=re.S | re.M)


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown text (lower case, punctuation dropped,
    spaces as hyphens, -1, -2, ... for repeats)."""
    text = re.sub(r"^```.*?^```[^\n]*$", "", markdown, flags=re.S | re.M)
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.M):
        heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


def relative_links(markdown: str) -> list[str]:
    targets = re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", without_code(markdown))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, flags=re.I)]


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_lead_to_files_and_headings_that_exist(page):
    broken = []
    text = page.read_text()
    for link in relative_links(text):
        path_part, _, anchor = link.partition("#")
        target = (page.parent / path_part).resolve() if path_part else page
        if not target.exists():
            broken.append(f"{link}: no file {target.relative_to(ROOT) if ROOT in target.parents else target}")
        elif anchor and target.suffix == ".md" and anchor not in github_anchors(target.read_text()):
            broken.append(f"{link}: no heading #{anchor} in {page_id(target)}")
    assert broken == []


def test_the_link_check_reads_markdown_as_github_does():
    text = "# Ad-hoc SQL: `ratdcs report --sql`\n## What users of today's tools hit\n## Views\n## Views\n"
    assert github_anchors(text) == {"ad-hoc-sql-ratdcs-report---sql", "what-users-of-todays-tools-hit",
                                    "views", "views-1"}
    links = relative_links("[a](docs/x.md#y) [b](https://example.org) `[c](not/a/link.md)` ![d](img.png)")
    assert links == ["docs/x.md#y", "img.png"]


def test_the_readme_links_every_page_of_docs():
    linked = {(ROOT / link.partition("#")[0]).resolve() for link in relative_links((ROOT / "README.md").read_text())}
    assert [page_id(p) for p in PAGES[1:] if p.resolve() not in linked] == []


def test_the_readme_stays_short_and_keeps_the_state_machine():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES, "move details into docs/ and link them"
    assert {"set-up", "a-five-minute-tour", "state-machine"} <= github_anchors(text)
    for state in ("pending", "downloading", "done", "failed"):
        assert f"`{state}`" in text


def test_the_readme_set_up_is_what_ci_runs():
    """.ci/run installs the project the way README's "Set up" tells a new user and runs its test command."""
    readme, ci = (ROOT / "README.md").read_text(), (ROOT / ".ci" / "run").read_text()
    assert "python -m venv .venv && . .venv/bin/activate && pip install .\n" in readme
    assert ("python -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && python -m pytest -q\n"
            in readme)
    assert "pip install --quiet ." in ci and "pip install -e '.[test]'" in ci and "python -m pytest -q" in ci


# ---- command lines -------------------------------------------------------------------------------

def shown_command_lines(markdown: str) -> list[str]:
    """`ratdcs ...` command lines of the code blocks (shell and output) and the code spans."""
    lines = []
    for language, block in code_blocks(markdown):
        if language in ("python", "json", "yaml", "sql", "text"):  # text: diagrams, prose
            continue
        for line in block.splitlines():
            line = re.sub(r"^\$\s+", "", line.strip())
            line = re.sub(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+", "", line)  # VAR=value ratdcs ...
            if line.startswith("ratdcs "):
                lines.append(line)
    lines += re.findall(r"`(ratdcs [^`]+)`", re.sub(r"^```.*?^```[^\n]*$", "", markdown, flags=re.S | re.M))
    return lines


def _is_placeholder(token: str) -> bool:
    """SIZE, PATH, TRAIN,VAL,TEST, KIND[@PATTERN][:key=value,...]: words standing for a value."""
    return "..." in token or (any(c.isalpha() for c in token) and not any(c.islower() for c in token))


def command_line_problems(line: str) -> list[str]:
    """What in one `ratdcs ...` line names no command, option or valid value of the CLI."""
    try:
        tokens = shlex.split(line, comments=True)[1:]
    except ValueError as exc:
        return [f"{line}: {exc}"]
    for stop in ("&&", "||", "|", ">", ";"):  # the next command of a shell line is not ratdcs's
        tokens = tokens[:tokens.index(stop)] if stop in tokens else tokens
    command, problems, arguments = cli, [], []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "..." or _is_placeholder(token) and isinstance(command, click.Group):
            break  # `ratdcs plan ...`, `ratdcs COMMAND --help`: the rest is left to the reader
        if token.startswith("-"):
            name, has_value, value = token.partition("=")
            if name in ("-h", "--help"):
                continue
            option = next((p for p in command.params if isinstance(p, click.Option)
                           and name in (*p.opts, *p.secondary_opts)), None)
            if option is None:
                problems.append(f"{line}: {command.name} has no option {name}")
                continue
            if option.is_flag or option.count:
                continue
            if not has_value:
                if i >= len(tokens):
                    break  # an option named in prose (`ratdcs report --sql`), its value left out
                value, i = tokens[i], i + 1
            if not _is_placeholder(value):
                try:
                    option.type.convert(value, option, None)
                except click.BadParameter as exc:
                    problems.append(f"{line}: {name} {value}: {exc.message}")
        elif isinstance(command, click.Group):
            sub = command.get_command(click.Context(command), token)  # `plan`'s come from the registry
            if sub is None:
                problems.append(f"{line}: {command.name} has no command {token}")
                break
            command = sub
        else:
            arguments.append(token)
    if not isinstance(command, click.Group):
        params = [p for p in command.params if isinstance(p, click.Argument)]
        if len(arguments) > len(params):
            problems.append(f"{line}: {command.name} takes {len(params)} argument(s), got {arguments}")
        for param, value in zip(params, arguments):
            if not _is_placeholder(value):
                try:
                    param.type.convert(value, param, None)
                except click.BadParameter as exc:
                    problems.append(f"{line}: {value}: {exc.message}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_command_lines_name_real_commands_options_and_values(page):
    problems = [p for line in shown_command_lines(page.read_text()) for p in command_line_problems(line)]
    assert problems == []


def test_the_command_line_check_catches_what_it_should():
    assert command_line_problems("ratdcs plan kepler --n 5 --quarter 3") == []
    assert command_line_problems("ratdcs --config my.yaml report progress --csv") == []
    assert command_line_problems("ratdcs plan ...") == []
    assert command_line_problems("ratdcs sync --max-bytes SIZE") == []
    assert command_line_problems("ratdcs plan kepler --cadance long")
    assert command_line_problems("ratdcs synk")
    assert command_line_problems("ratdcs export urls --format aria")
    assert command_line_problems("ratdcs report progres")


# ---- configuration -------------------------------------------------------------------------------

def _yaml_default(value) -> str:
    """A default as the shipped config.yaml writes it (config.render_yaml_defaults)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def test_the_configuration_page_lists_every_key_once_with_its_default():
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = re.findall(r"^\| `([a-z0-9_.]+)` \| `([^`]*)` \|", text, flags=re.M)
    keys = [key for key, _ in rows]
    assert sorted(keys) == sorted(s.key for s in SETTINGS)
    assert {key: default for key, default in rows} == {s.key: _yaml_default(s.default) for s in SETTINGS}


def test_the_environment_names_on_the_configuration_page_set_the_keys_they_say():
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \| `([a-z0-9_.]+)`", text, flags=re.M)
    by_key = {s.key: s for s in SETTINGS}
    assert rows and [(name, key) for name, key in rows
                     if key not in by_key or name not in (*by_key[key].env_aliases, env_name(key))] == []
    aliases = {name for s in SETTINGS for name in s.env_aliases}
    assert aliases <= {name for name, _ in rows}


SECTIONS = sorted({s.key.split(".")[0] for s in SETTINGS if "." in s.key})
FILE_ENDINGS = {"py", "md", "sql", "yaml", "json", "fits", "gz", "log", "sqlite"}


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_configuration_keys_and_variables_named_exist(page):
    text = page.read_text()
    keys = {s.key for s in SETTINGS}
    named = {k for k in re.findall(rf"`((?:{'|'.join(SECTIONS)})\.[a-z0-9_.]+)`", text)
             if k.rsplit(".", 1)[1] not in FILE_ENDINGS}
    unknown = sorted(k for k in named if k not in keys and not any(key.startswith(k + ".") for key in keys))
    variables = {"RATDCS_CONFIG"} | {name for s in SETTINGS for name in (*s.env_aliases, env_name(s.key))}
    unknown += sorted(set(re.findall(r"\b(RATDCS_[A-Z0-9_]+)", text)) - variables)
    assert unknown == []


# ---- the manifest's tables and views -------------------------------------------------------------

def schema_objects() -> dict[str, str]:
    text = (ROOT / "schema.sql").read_text()
    return {name: kind.lower() for kind, name in
            re.findall(r"CREATE (TABLE|VIEW) IF NOT EXISTS (\w+)", text)}


def test_the_cookbook_describes_every_table_and_view_and_no_other():
    text = (ROOT / "docs" / "sql-cookbook.md").read_text()
    described = set(re.findall(r"^\| `(\w+)` \|", text, flags=re.M))
    assert described == set(schema_objects())


def test_the_report_sections_table_names_real_sections_and_views():
    from ratdcs_catalog.report import SECTIONS as REPORT_SECTIONS

    text = (ROOT / "docs" / "commands.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \|", text, flags=re.M)
    views = {name for name, kind in schema_objects().items() if kind == "view"}
    assert {section for section, _ in rows} == set(REPORT_SECTIONS)
    assert {view for _, view in rows} <= views
