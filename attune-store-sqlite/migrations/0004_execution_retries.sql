-- Retries: each attempt is its own execution, linked to the first by `retry_of`.
ALTER TABLE executions ADD COLUMN retry_of BLOB;
CREATE INDEX executions_retry_of ON executions (retry_of, id) WHERE retry_of IS NOT NULL;
