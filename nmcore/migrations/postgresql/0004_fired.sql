-- Resolved follows firing across replicas (nmcore.store.Store.owed_resolved): a row per (alert, receiver) whose
-- firing was delivered and whose resolved was not yet, whichever replica delivered it, so the resolved reaches
-- that receiver even when routing would no longer choose it.
CREATE TABLE fired (
    fingerprint text NOT NULL,
    receiver text NOT NULL,
    PRIMARY KEY (fingerprint, receiver)
);
