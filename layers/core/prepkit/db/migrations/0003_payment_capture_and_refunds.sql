-- Payments as Razorpay has them: only a capture pays a session (a Checkout signature proves
-- authorization only), one payment pays each session (any other captured one is an extra, refunded),
-- and refunds add up (a partial refund leaves the payment captured).

ALTER TABLE payments
    ADD COLUMN amount_refunded integer NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0),
    ADD COLUMN pays_session    boolean NOT NULL DEFAULT false;

UPDATE payments SET amount_refunded = amount_paise WHERE status = 'refunded';

-- the payment that paid each already-paid session: its first capture
UPDATE payments p SET pays_session = true
FROM (
    SELECT DISTINCT ON (session_id) payment_id FROM payments
    WHERE status IN ('captured', 'refunded')
    ORDER BY session_id, captured_at NULLS LAST, created_at, payment_id
) AS first_capture
WHERE p.payment_id = first_capture.payment_id;

CREATE UNIQUE INDEX payments_one_paying_per_session ON payments (session_id) WHERE pays_session;
CREATE INDEX refunds_payment_idx ON refunds (payment_id);
