-- The reconciler looks for refunds recorded but never sent (an extra payment's refund recorded by the
-- webhooks function, which holds no refund key): a small partial index, empty when all is well.
CREATE INDEX refunds_unsent_idx ON refunds (created_at) WHERE refund_id IS NULL;
