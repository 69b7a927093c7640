-- The ratdcs manifest: every intended file, its target, and everything that happened to it.
--
-- This file is the source of truth for the current schema (PRAGMA user_version below).
-- ratdcs_catalog/manifest.py applies it to a new database and migrates older manifests
-- forward, one version at a time; it never edits a manifest written by a newer ratdcs.
--
-- Sources and product kinds are not listed here: ratdcs_catalog/registry.py is the one place
-- that names them, and the manifest refuses a source it does not know (a new source needs no
-- migration).
--
-- Conventions: tables plural snake_case; units in column names (size_bytes, elapsed_seconds);
-- times are ISO-8601 UTC text ('2026-11-25T09:00:00.000000Z'), so they sort and compare as text.
--
-- File states (README.md, "State machine"):
--   pending      planned, not yet on disk (or must be fetched again)
--   downloading  claimed by a sync process until lease_expires_at
--   done         verified and in its final place under the data directory
--   failed       gave up after retries; last_error_kind / last_error say why

PRAGMA user_version = 6;

-- One row per `ratdcs plan` run.
CREATE TABLE IF NOT EXISTS plans (
    plan_id                 INTEGER PRIMARY KEY,
    source                  TEXT NOT NULL,             -- kepler, k2, tess, ztf, all
    arguments_json          TEXT NOT NULL,             -- the effective plan options
    started_at              TEXT NOT NULL,
    finished_at             TEXT,
    targets_count           INTEGER NOT NULL DEFAULT 0,
    files_new               INTEGER NOT NULL DEFAULT 0,
    files_updated           INTEGER NOT NULL DEFAULT 0, -- pending rows whose archive size changed
    files_unchanged         INTEGER NOT NULL DEFAULT 0,
    files_changed_upstream  INTEGER NOT NULL DEFAULT 0, -- done rows whose archive size changed
    bytes_total             INTEGER NOT NULL DEFAULT 0, -- known expected bytes of every file the plan listed
    bytes_new               INTEGER NOT NULL DEFAULT 0  -- known expected bytes of the new rows
);

-- Catalog provenance of each target (a star for light curves, a ZTF field for images).
CREATE TABLE IF NOT EXISTS targets (
    source              TEXT NOT NULL,                  -- a source of ratdcs_catalog/registry.py: kepler, k2, tess, ztf
    target_id           TEXT NOT NULL,                  -- KIC, EPIC, TIC number, or ZTF field id
    name                TEXT,                           -- 'KIC 11904151', 'TIC 261136679', ...
    ra_deg              REAL,
    dec_deg             REAL,
    teff_k              REAL,
    logg_cgs            REAL,
    radius_rsun         REAL,
    mass_msun           REAL,
    magnitude           REAL,                           -- Kepler mag, Tmag, ...
    magnitude_band      TEXT,                           -- 'Kp', 'Tmag', ...
    distance_pc         REAL,
    disposition         TEXT,                           -- CONFIRMED, PC, CP, KP, ...
    catalog_row_json    TEXT,                           -- the raw catalog row(s), as fetched
    plan_id             INTEGER REFERENCES plans (plan_id),
    updated_at          TEXT NOT NULL,
    split               TEXT CHECK (split IN ('train', 'val', 'test')),  -- `ratdcs split`; NULL = not assigned
    PRIMARY KEY (source, target_id)
);

-- One row per intended file.
CREATE TABLE IF NOT EXISTS files (
    file_id              INTEGER PRIMARY KEY,
    source               TEXT NOT NULL,                 -- a registry source (the manifest refuses others)
    target_id            TEXT NOT NULL,
    product_kind         TEXT NOT NULL,                 -- a registry product kind: lc_long, lc, lc_fast, ztf_sciimg, ...
    -- When the file was observed, as the archive's own metadata says (MAST's product description
    -- "... - Q4" / "... - C10-2", the observation's sequence_number), NULL where it does not apply:
    quarter              INTEGER,                       -- Kepler quarter 0-17
    campaign             INTEGER,                       -- K2 campaign 0-19 (both parts of a split one)
    campaign_part        INTEGER,                       -- 1 or 2 for the split campaigns C9, C10, C11
    sector               INTEGER,                       -- TESS sector
    archive_uri          TEXT,                          -- mast:Kepler/url/..., or NULL for IRSA
    url                  TEXT NOT NULL UNIQUE,          -- what sync fetches
    rel_path             TEXT NOT NULL UNIQUE,          -- destination under the data directory
    expected_size_bytes  INTEGER,                       -- NULL where the archive does not say (IRSA)
    expected_checksum    TEXT,                          -- 'sha256:<hex>' or 'md5:<hex>', NULL if unknown
    state                TEXT NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'downloading', 'done', 'failed')),
    attempts             INTEGER NOT NULL DEFAULT 0,    -- syncs that claimed this row
    last_error_kind      TEXT,                          -- http_503, size_mismatch, fits_checksum, ...
    last_error           TEXT,                          -- the full reason, for people
    observed_size_bytes  INTEGER,
    observed_sha256      TEXT,
    verify_level         TEXT CHECK (verify_level IN ('size', 'checksum', 'fits', 'fits_checksum')),
    nan_fraction         REAL,                          -- of the flux column, light curves only
    changed_upstream     INTEGER NOT NULL DEFAULT 0,    -- 1 when a re-plan found a new archive size
    quarantine_path      TEXT,                          -- where a failed file's bytes were kept
    planned_at           TEXT NOT NULL,
    downloaded_at        TEXT,
    verified_at          TEXT,
    lease_owner          TEXT,                          -- '<host>:<pid>:<random>' of the claiming sync
    lease_expires_at     TEXT,
    plan_id              INTEGER REFERENCES plans (plan_id),
    -- `ratdcs split` where the unit is below the target (ZTF by night or image); NULL = the
    -- target's split holds. The effective split is COALESCE(files.split, targets.split).
    split                TEXT CHECK (split IN ('train', 'val', 'test')),
    -- The archive's cloud copy of the same file (MAST's public S3 bucket), NULL where it has none;
    -- sync prefers it under transport.cloud = auto|prefer and falls back to url on 403/404.
    mirror_url           TEXT,
    checksum_source      TEXT,                          -- where the checked checksum came from: plan, s3_etag, ...
    FOREIGN KEY (source, target_id) REFERENCES targets (source, target_id)
);

-- Facts about the manifest itself, one row per key: 'data_dir' (absolute path of the data
-- directory its done rows live in, recorded by plan and sync).
CREATE TABLE IF NOT EXISTS manifest_settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- One row per `ratdcs sync` run.
CREATE TABLE IF NOT EXISTS syncs (
    sync_id          INTEGER PRIMARY KEY,
    owner            TEXT NOT NULL,
    arguments_json   TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    finished_at      TEXT,
    workers          INTEGER NOT NULL,
    files_done       INTEGER NOT NULL DEFAULT 0,
    files_failed     INTEGER NOT NULL DEFAULT 0,
    files_adopted    INTEGER NOT NULL DEFAULT 0,
    bytes_received   INTEGER NOT NULL DEFAULT 0,
    stopped_by       TEXT                               -- NULL, 'signal', 'disk_full', 'error'
);

-- One row per transfer attempt (each retry is its own row).
CREATE TABLE IF NOT EXISTS transfers (
    transfer_id     INTEGER PRIMARY KEY,
    file_id         INTEGER NOT NULL REFERENCES files (file_id) ON DELETE CASCADE,
    sync_id         INTEGER REFERENCES syncs (sync_id),
    started_at      TEXT NOT NULL,
    ended_at        TEXT,
    outcome         TEXT NOT NULL,                      -- done, adopted, retry, failed, interrupted
    http_status     INTEGER,
    range_start     INTEGER,                            -- first byte asked for (resume), NULL for a full GET
    bytes_received  INTEGER NOT NULL DEFAULT 0,
    error_kind      TEXT,
    error           TEXT,
    url             TEXT                                -- the URL asked (the mirror or the archive), NULL before schema 6
);

-- Sync claims pending rows in file_id order, per source; report groups by source and state.
CREATE INDEX IF NOT EXISTS files_by_state ON files (state, file_id);
CREATE INDEX IF NOT EXISTS files_by_source_state_size
    ON files (source, state, expected_size_bytes, observed_size_bytes);
-- Covers split and expected_size_bytes too, so per-target reports (incomplete_targets, split_summary)
-- never read the table itself: 0.4 s -> 0.2 s on a 1M-row manifest (bench/report_scale.py).
CREATE INDEX IF NOT EXISTS files_by_target ON files (source, target_id, split, state, expected_size_bytes);
CREATE INDEX IF NOT EXISTS files_by_lease ON files (lease_expires_at) WHERE state = 'downloading';
CREATE INDEX IF NOT EXISTS transfers_by_file ON transfers (file_id);
CREATE INDEX IF NOT EXISTS transfers_by_sync ON transfers (sync_id);
-- Per product kind (light curves, target pixel files, DV files, cutouts): covers kind_progress.
CREATE INDEX IF NOT EXISTS files_by_kind_state_size
    ON files (source, product_kind, state, expected_size_bytes, observed_size_bytes);
-- The files of one quarter, campaign or sector: `SELECT ... WHERE sector = 27`, per source.
CREATE INDEX IF NOT EXISTS files_by_period ON files (source, quarter, campaign, sector);

-- Files and bytes per source and state. Bytes are the archive's expected size where known,
-- else what was observed on disk; files_unknown_size counts rows that have neither.
CREATE VIEW IF NOT EXISTS source_state_summary AS
SELECT source,
       state,
       COUNT(*)                                                      AS files,
       SUM(COALESCE(expected_size_bytes, observed_size_bytes, 0))    AS bytes,
       SUM(COALESCE(expected_size_bytes, observed_size_bytes) IS NULL) AS files_unknown_size
FROM files
GROUP BY source, state;

-- Files and gigabytes planned, downloaded and remaining per source: the rows of `ratdcs report
-- progress` (which adds a total row when there are several sources).
CREATE VIEW IF NOT EXISTS source_progress AS
SELECT source,
       SUM(files)                                                           AS files_planned,
       SUM(CASE WHEN state = 'done' THEN files ELSE 0 END)                  AS files_done,
       SUM(CASE WHEN state = 'failed' THEN files ELSE 0 END)                AS files_failed,
       SUM(CASE WHEN state <> 'done' THEN files ELSE 0 END)                 AS files_remaining,
       ROUND(SUM(bytes) / 1e9, 3)                                           AS planned_gb,
       ROUND(SUM(CASE WHEN state = 'done' THEN bytes ELSE 0 END) / 1e9, 3)  AS downloaded_gb,
       ROUND(SUM(CASE WHEN state <> 'done' THEN bytes ELSE 0 END) / 1e9, 3) AS remaining_gb
FROM source_state_summary
GROUP BY source;

-- Files and gigabytes planned, downloaded and remaining per source and product kind (lc, tpf,
-- dvt, cutout, ...: ratdcs_catalog/registry.py); the rows of `ratdcs report kinds`.
CREATE VIEW IF NOT EXISTS kind_progress AS
SELECT source,
       product_kind,
       COUNT(*)                                                                   AS files_planned,
       SUM(state = 'done')                                                        AS files_done,
       SUM(state = 'failed')                                                      AS files_failed,
       SUM(COALESCE(expected_size_bytes, observed_size_bytes) IS NULL)            AS files_unknown_size,
       ROUND(SUM(COALESCE(expected_size_bytes, observed_size_bytes, 0)) / 1e9, 3) AS planned_gb,
       ROUND(SUM(CASE WHEN state = 'done' THEN COALESCE(expected_size_bytes, observed_size_bytes, 0) ELSE 0 END)
             / 1e9, 3)                                                            AS downloaded_gb
FROM files
GROUP BY source, product_kind;

-- Every failed file with its reason.
CREATE VIEW IF NOT EXISTS failed_files AS
SELECT file_id, source, target_id, rel_path, url, attempts, last_error_kind, last_error,
       quarantine_path
FROM files
WHERE state = 'failed';

-- Failures grouped by kind of reason, with one example each.
CREATE VIEW IF NOT EXISTS failure_reasons AS
SELECT source,
       COALESCE(last_error_kind, 'unknown') AS error_kind,
       COUNT(*)                             AS files,
       MIN(rel_path)                        AS example_path,
       MIN(last_error)                      AS example_error
FROM files
WHERE state = 'failed'
GROUP BY source, error_kind;

-- Targets that still have files not done.
CREATE VIEW IF NOT EXISTS incomplete_targets AS
SELECT t.source, t.target_id, t.name,
       COUNT(*)                                            AS files_planned,
       SUM(f.state = 'done')                               AS files_done,
       SUM(f.state <> 'done')                              AS files_missing,
       SUM(CASE WHEN f.state <> 'done' THEN f.expected_size_bytes END) AS bytes_missing
FROM targets t
JOIN files f ON f.source = t.source AND f.target_id = t.target_id
GROUP BY t.source, t.target_id
HAVING SUM(f.state <> 'done') > 0;

-- The last syncs, with their throughput.
CREATE VIEW IF NOT EXISTS recent_syncs AS
SELECT sync_id, started_at, finished_at, workers, files_done, files_failed, files_adopted,
       bytes_received,
       ROUND((julianday(finished_at) - julianday(started_at)) * 86400, 3) AS elapsed_seconds,
       ROUND(bytes_received / 1e6 / NULLIF((julianday(finished_at) - julianday(started_at)) * 86400, 0), 3)
                                                                       AS mb_per_second,
       stopped_by
FROM syncs
ORDER BY sync_id DESC;

-- Targets and files per train/val/test split (`ratdcs split`), per source. A file's split is its
-- own (ZTF split by night or image) or else its target's; targets counts the targets with a
-- file in that split (a ZTF field split by night counts once in each split it has nights in);
-- a target with no file yet counts under its own split.
CREATE VIEW IF NOT EXISTS split_summary AS
SELECT source, split, COUNT(DISTINCT target_id) AS targets, SUM(files) AS files, SUM(files_done) AS files_done
FROM (SELECT g.source, g.target_id, COALESCE(g.split, t.split, 'unassigned') AS split, g.files, g.files_done
      FROM (SELECT source, target_id, split, COUNT(*) AS files, SUM(state = 'done') AS files_done
            FROM files GROUP BY source, target_id, split) g
      LEFT JOIN targets t ON t.source = g.source AND t.target_id = g.target_id
      UNION ALL
      SELECT t.source, t.target_id, COALESCE(t.split, 'unassigned'), 0, 0
      FROM targets t
      WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.source = t.source AND f.target_id = t.target_id))
GROUP BY source, split;

-- Files planned, done and missing per target, with its name and split. Aggregated first over
-- the covering index files_by_target, then joined to targets: `ratdcs report` derives both
-- "targets with files still missing" and the split counts from this one pass over files.
CREATE VIEW IF NOT EXISTS target_progress AS
SELECT f.source, f.target_id, t.name, t.split, f.files_planned, f.files_done,
       f.files_planned - f.files_done AS files_missing, f.bytes_missing
FROM (SELECT source, target_id, COUNT(*) AS files_planned, SUM(state = 'done') AS files_done,
             SUM(CASE WHEN state <> 'done' THEN expected_size_bytes END) AS bytes_missing
      FROM files GROUP BY source, target_id) f
LEFT JOIN targets t ON t.source = f.source AND t.target_id = f.target_id;
