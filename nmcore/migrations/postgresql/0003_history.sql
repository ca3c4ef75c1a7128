-- Delivery history on the shared store (nmcore.history): one row per finished delivery, from every replica, so
-- `nm history --store` and GET /api/v2/history on any replica show them all. Before this, each replica kept its own
-- sends' history in memory. As in SQLite: the entry's alerts, attempts and withheld receivers are one JSON document,
-- and each alert also has a row in history_alerts, whose B-tree indexes find an alert by fingerprint or name (the
-- planner estimates those well; a GIN index on arrays it guessed at, and walked the whole table by time instead).
CREATE TABLE history (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL,                                    -- the delivery (job) id
    receiver text NOT NULL,
    channel text NOT NULL,
    tenant text NOT NULL,
    group_key text NOT NULL,
    accepted double precision NOT NULL,
    finished double precision NOT NULL,
    outcome text NOT NULL,                               -- delivered | dead
    error text NOT NULL,
    detail json NOT NULL
);
CREATE INDEX history_finished ON history (finished);
CREATE INDEX history_receiver ON history (receiver, finished);
CREATE INDEX history_tenant ON history (tenant, finished);
CREATE INDEX history_outcome ON history (outcome, finished);
CREATE TABLE history_alerts (
    history_seq bigint NOT NULL REFERENCES history (seq) ON DELETE CASCADE,
    fingerprint text NOT NULL,
    alertname text NOT NULL,
    status text NOT NULL
);
CREATE INDEX history_alerts_fingerprint ON history_alerts (fingerprint, history_seq);
CREATE INDEX history_alerts_alertname ON history_alerts (alertname, history_seq);
CREATE INDEX history_alerts_seq ON history_alerts (history_seq);
