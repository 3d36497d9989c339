-- Locks: exclusive leases on shared environments. A lease is held while expires (milliseconds
-- since the Unix epoch, by the database's own clock) is in the future; its holder renews it.

-- +goose Up
CREATE TABLE locks (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    host       TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    acquired   BIGINT NOT NULL,
    expires    BIGINT NOT NULL
);

-- +goose Down
DROP TABLE locks;
