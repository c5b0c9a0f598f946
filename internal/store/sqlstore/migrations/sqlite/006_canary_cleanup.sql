-- When a canary's cleanup command succeeded (NULL: not yet, or none).
ALTER TABLE canaries ADD COLUMN cleaned_at INTEGER;
