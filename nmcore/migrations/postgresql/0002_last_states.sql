-- Dedup by the status last accepted per (receiver, alert fingerprint) (nmcore.store.is_repeat), as SQLite does: the
-- whole-notification keys of recent_keys hid a re-fire (firing, resolved, firing) within the window. Accepting
-- locks the receivers' lanes first, so an Alertmanager HA pair posting one group to two replicas is still
-- accepted once: the second transaction sees the first's states.
CREATE TABLE last_states (
    receiver text NOT NULL,
    fingerprint text NOT NULL,
    status text NOT NULL,
    accepted timestamptz NOT NULL,
    PRIMARY KEY (receiver, fingerprint)
);
CREATE INDEX last_states_accepted ON last_states (accepted);
DROP TABLE recent_keys;
