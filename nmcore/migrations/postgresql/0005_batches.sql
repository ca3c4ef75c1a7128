-- batchMaxWait (nmcore/batching.py): the batch a job waits in before it is sent; '' for a job sent as it is. A job
-- waiting (a batch, no attempt yet) is claimed as it arrives rather than when due, by the replica holding the rest
-- of its batch if one does: that replica sends the batch as one notification.
ALTER TABLE jobs ADD COLUMN batch text NOT NULL DEFAULT '';
CREATE INDEX jobs_waiting ON jobs (receiver, batch) WHERE batch <> '' AND attempts = 0;
