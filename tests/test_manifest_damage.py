"""Issue 20: a damaged manifest is named as such, with the way out; an empty file is not a manifest.

Before, a truncated manifest or one with a page overwritten printed "internal error:
DatabaseError: database disk image is malformed ... report it", and a 0-byte file was silently
made a new, empty manifest (`sync`: "Nothing to do").
"""

import hashlib
import sqlite3

import pytest
from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.errors import ManifestError
from ratdcs_catalog.manifest import open_manifest

PAGE = 4096


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def damaged_lines(db, says, *, at_open):
    """The two lines `ratdcs` prints for a damaged manifest."""
    left = "; the damaged file was left as it is" if at_open else ""
    return [f"Error: the manifest {db} is damaged: SQLite says {says!r}",
            f"Hint: keep its history by recovering what SQLite can still read: `sqlite3 {db} \".recover\" | "
            "sqlite3 recovered.sqlite` (needs a sqlite3 with .recover, such as sqlite.org's), then pass --db "
            "recovered.sqlite; or start a new manifest: `ratdcs --db new.sqlite plan ...` as before, then "
            "`ratdcs --db new.sqlite sync` adopts the verified files already on disk instead of downloading "
            f"them again{left}"]


def empty_lines(db):
    return [f"Error: {db} is empty (0 bytes): not a manifest - if it was one, it was cut short (a full disk, a "
            "copy that failed)",
            f"Hint: restore it from a backup; or remove the empty file (rm {db}) and run `ratdcs plan ...` to "
            "start a new manifest - `ratdcs sync` then adopts the verified files already on disk instead of "
            "downloading them again"]


@pytest.fixture
def planned(sync_env, sandbox_config):
    """A manifest as `ratdcs plan kepler --n 1` leaves it (closed: its WAL checkpointed into the file)."""
    result = ratdcs(sandbox_config, sync_env.db, "plan", "kepler", "--n", "1")
    assert result.exit_code == 0, result.output
    assert not sync_env.db.with_name(sync_env.db.name + "-wal").exists()
    return sync_env.db


def ratdcs(config, db, *args):
    return CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), *args])


def truncate(db):
    data = db.read_bytes()
    db.write_bytes(data[:len(data) // 2])


def overwrite_page(db, name):
    """Garbage over the root page of the table or index ``name``."""
    conn = sqlite3.connect(db)
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    data[(page - 1) * PAGE:page * PAGE] = bytes((i * 37 + 11) % 256 for i in range(PAGE))
    db.write_bytes(bytes(data))


COMMANDS = [("report",), ("sync",), ("plan", "kepler", "--n", "1")]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_truncated_manifest_is_named_as_damaged_at_open_and_left_as_it_is(planned, sandbox_config, command):
    truncate(planned)
    before = sha(planned)
    result = ratdcs(sandbox_config, planned, *command)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-2:] == damaged_lines(planned, "database disk image is malformed",
                                                            at_open=True)
    assert "internal error" not in result.output and sha(planned) == before


# The page each command reads first: report and sync count per source and state; a plan that
# changes nothing looks its files up by rel_path.
READS = {"report": "files_by_source_state_size", "sync": "files_by_source_state_size", "plan": "files"}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_page_overwritten_is_named_as_damaged_when_a_command_meets_it(planned, sandbox_config, sync_env, command):
    overwrite_page(planned, READS[command[0]])
    result = ratdcs(sandbox_config, planned, *command)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-2:] == damaged_lines(planned, "database disk image is malformed",
                                                            at_open=False)
    assert "internal error" not in result.output
    assert sync_env.file_requests() == []


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_empty_file_is_not_a_manifest_for_any_command(sync_env, sandbox_config, command):
    sync_env.db.parent.mkdir(parents=True)
    sync_env.db.write_bytes(b"")
    result = ratdcs(sandbox_config, sync_env.db, *command)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-2:] == empty_lines(sync_env.db)
    assert sync_env.db.read_bytes() == b"" and "Nothing to do" not in result.output
    assert sync_env.file_requests() == []


def test_the_library_raises_manifest_error_for_damage_at_open(planned):
    truncate(planned)
    with pytest.raises(ManifestError) as damage:
        open_manifest(planned)
    assert damage.value.exit_code == 2
    assert f"Error: {damage.value.message}" == damaged_lines(planned, "database disk image is malformed",
                                                             at_open=True)[0]


def test_a_manifest_whose_creation_failed_leaves_no_empty_file(tmp_path, monkeypatch):
    """A full disk refuses the first page: the next `ratdcs plan` must not find a 0-byte file to refuse."""
    from ratdcs_catalog.manifest import Manifest

    def refuse(self, readonly):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Manifest, "_prepare", refuse)
    db = tmp_path / "new.sqlite"
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        open_manifest(db)
    assert not db.exists()


def test_the_way_out_works_plan_into_a_new_manifest_and_sync_adopts_what_is_on_disk(sync_env, sandbox_config):
    assert ratdcs(sandbox_config, sync_env.db, "plan", "kepler", "--n", "1").exit_code == 0
    first = ratdcs(sandbox_config, sync_env.db, "sync")
    assert first.exit_code == 0, first.output
    downloads = len(sync_env.file_requests())
    truncate(sync_env.db)
    new = sync_env.db.with_name("new.sqlite")
    assert ratdcs(sandbox_config, new, "plan", "kepler", "--n", "1").exit_code == 0
    again = ratdcs(sandbox_config, new, "sync")
    assert again.exit_code == 0, again.output
    assert len(sync_env.file_requests()) == downloads  # nothing fetched twice
    with open_manifest(new) as m:
        states = {r["state"] for r in m.query("SELECT state FROM files")}
        adopted = m.query("SELECT COUNT(*) FROM transfers WHERE outcome = 'adopted'")[0][0]
    assert states == {"done"} and adopted == downloads


def test_report_sql_meeting_a_damaged_page_names_the_manifest_not_the_sql(planned, sandbox_config):
    overwrite_page(planned, "files")
    result = ratdcs(sandbox_config, planned, "report", "--sql", "SELECT planned_at, attempts FROM files")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-2:] == damaged_lines(planned, "database disk image is malformed",
                                                            at_open=False)
