-- When a job that waited in a batch (nmcore/batching.py) was released; 0 for a job due when accepted. The retry
-- deadline and spec.fallback.after count from it (Job.first_due), so a batch's wait is not time spent failing.
ALTER TABLE jobs ADD COLUMN due double precision NOT NULL DEFAULT 0;
