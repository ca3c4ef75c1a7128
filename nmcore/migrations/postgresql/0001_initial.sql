-- nmcore's shared store: the work of every replica. Applied once, under an advisory lock, by the first `nm run`
-- of a new version (nmcore/pgstore.py); its number goes into schema_version.

-- One row per receiver: the lock that serialises claiming (FOR UPDATE SKIP LOCKED) and accepting for one receiver,
-- so per-receiver order and the in-flight limit hold across replicas.
CREATE TABLE lanes (
    receiver text PRIMARY KEY
);

-- Accepted notifications not yet delivered or dead-lettered; a row leaves when it is.
CREATE TABLE jobs (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- acceptance order within a receiver
    id text NOT NULL UNIQUE,
    receiver text NOT NULL,
    created double precision NOT NULL,                   -- Unix time accepted (the retry deadline counts from it)
    attempts integer NOT NULL DEFAULT 0,
    not_before double precision NOT NULL DEFAULT 0,      -- Unix time of the next try after a transient failure
    last_error text NOT NULL DEFAULT '',
    notification json NOT NULL,                          -- the Notification (nmcore.schema.converter)
    fingerprints text[] NOT NULL,                        -- its alerts: firing and resolved of one alert keep order
    claimed_by text,                                     -- the replica sending it now, until lease_until
    lease_until timestamptz
);
CREATE INDEX jobs_lane ON jobs (receiver, seq);
CREATE INDEX jobs_unclaimed ON jobs (receiver) INCLUDE (not_before) WHERE claimed_by IS NULL;
CREATE INDEX jobs_claimed ON jobs (claimed_by, lease_until) WHERE claimed_by IS NOT NULL;

-- Deliveries given up on, with the reason; `nm deliveries redrive` moves them back to jobs.
CREATE TABLE dead_letters (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    receiver text NOT NULL,
    created double precision NOT NULL,
    attempts integer NOT NULL,
    last_error text NOT NULL,
    notification json NOT NULL,
    fingerprints text[] NOT NULL,
    reason text NOT NULL,
    buried double precision NOT NULL
);
CREATE INDEX dead_letters_receiver ON dead_letters (receiver);

-- Notification keys accepted within the dedup window: the unique key is what makes an Alertmanager HA pair posting
-- one group to two replicas deliver once.
CREATE TABLE recent_keys (
    key text PRIMARY KEY,
    accepted timestamptz NOT NULL
);
CREATE INDEX recent_keys_accepted ON recent_keys (accepted);
