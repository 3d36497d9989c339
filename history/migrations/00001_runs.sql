-- Runs: one row per run record, with the columns the history and the gate query by. Times are
-- milliseconds since the Unix epoch (UTC), so both dialects sort and compare them alike. The
-- record is the run's whole shakedown.run/v1 JSON document, gzip-compressed (a sixth of its
-- size); SQLite keeps a blob as it is in a column of any declared type.

-- +goose Up
CREATE TABLE runs (
    id                TEXT PRIMARY KEY,
    experiment        TEXT NOT NULL,
    experiment_sha256 TEXT NOT NULL,
    commit_sha        TEXT NOT NULL,
    branch            TEXT NOT NULL,
    host              TEXT NOT NULL,
    started_at        BIGINT NOT NULL,
    ended_at          BIGINT NOT NULL,
    verdict           TEXT NOT NULL,
    exit_code         INTEGER NOT NULL,
    record            BYTEA NOT NULL
);
CREATE INDEX runs_started ON runs (started_at, id);
CREATE INDEX runs_experiment ON runs (experiment, started_at, id);
CREATE INDEX runs_branch ON runs (experiment, branch, started_at, id);
CREATE INDEX runs_reference ON runs (experiment, branch, verdict, started_at, id);
CREATE INDEX runs_commit ON runs (commit_sha);
CREATE INDEX runs_file_commit ON runs (experiment_sha256, commit_sha);

-- +goose Down
DROP TABLE runs;
