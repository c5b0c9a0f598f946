-- Takes 017_selector_locks.sql back: selector locks are dropped (with their history) and the lock index is one per service and environment again.
DELETE FROM locks WHERE selector <> '';
DROP INDEX locks_one_held;
CREATE UNIQUE INDEX locks_one_held ON locks (service, environment) WHERE released_at IS NULL;
ALTER TABLE locks DROP COLUMN selector;
