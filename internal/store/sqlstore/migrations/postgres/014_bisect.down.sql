-- Takes 014_bisect.sql back: no bisects, approvals or fix releases.
DROP TABLE approvals;
DROP INDEX bisects_service;
DROP INDEX bisects_one_running;
DROP TABLE bisects;
ALTER TABLE releases DROP COLUMN creator_token_id;
ALTER TABLE releases DROP COLUMN creator;
ALTER TABLE releases DROP COLUMN fix_reason;
ALTER TABLE releases DROP COLUMN fix;
