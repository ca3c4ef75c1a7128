-- Delivery history on the shared store (nmcore.history): one row per finished delivery, from every replica, so
-- `nm history --store` and GET /api/v2/history on any replica show them all. Before this, each replica kept its own
-- sends' history in memory. The alerts' fingerprints and names are arrays with GIN indexes (`@>` finds an alert);
-- the rest of the entry (alerts, attempts, withheld receivers) is one JSON document.
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
    fingerprints text[] NOT NULL,
    alertnames text[] NOT NULL,
    detail json NOT NULL
);
CREATE INDEX history_finished ON history (finished);
CREATE INDEX history_receiver ON history (receiver, finished);
CREATE INDEX history_tenant ON history (tenant, finished);
CREATE INDEX history_outcome ON history (outcome, finished);
CREATE INDEX history_fingerprints ON history USING gin (fingerprints);
CREATE INDEX history_alertnames ON history USING gin (alertnames);
