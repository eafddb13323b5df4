-- Leases of periodic jobs (follow-up pollers, retention, the axis poller): the instance holding a
-- job's lease runs it, renews it each round, and gives it up at shutdown; when the holder dies,
-- another instance takes the job once the lease has run out. (One SQLite node always holds them;
-- the table is what lets several PostgreSQL instances run each job once.)
CREATE TABLE job_leases (
    job         TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    lease_until INTEGER NOT NULL
) STRICT;
