-- Selector locks: one lock record on every service whose labels match a
-- selector (stored canonical: pairs sorted by key, such as team=payments,tier=1),
-- matched at decision time. A selector lock has service ''.
ALTER TABLE locks ADD COLUMN selector TEXT NOT NULL DEFAULT '';
-- One held lock per service (or '*', or selector) and environment.
DROP INDEX locks_one_held;
CREATE UNIQUE INDEX locks_one_held ON locks (service, selector, environment) WHERE released_at IS NULL;
