-- Figures: every number a run record holds, one row each (shakedown.Figures), so that the
-- history lists headline figures and the gate compares a figure across runs without decoding
-- whole records. A figure of the whole run has phase ''. Names are not unique within a run
-- (an expectation may be called "recovery"), so there is no primary key.

-- +goose Up
CREATE TABLE figures (
    run_id TEXT NOT NULL,
    name   TEXT NOT NULL,
    phase  TEXT NOT NULL,
    unit   TEXT NOT NULL,
    value  DOUBLE PRECISION NOT NULL,
    worse  INTEGER NOT NULL
);
CREATE INDEX figures_run ON figures (run_id);

-- +goose Down
DROP TABLE figures;
