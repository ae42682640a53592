-- Indexes no repository query uses (tests/integration/test_migrations.py::test_indexes_for_the_queries
-- EXPLAINs every statement the repositories run and fails on an index nothing uses). Each one slows every
-- write; (user_id, status) also blocks HOT updates on every status change. The last three are redundant:
-- interview_sessions_user_created_idx, the partial payments_one_paying_per_session and the reports
-- primary key already serve their queries.
DROP INDEX interview_sessions_created_idx;
DROP INDEX interview_sessions_type_difficulty_idx;
DROP INDEX payments_user_status_idx;
DROP INDEX refunds_session_idx;  -- only a cascade from deleting a session would use it; nothing deletes sessions
DROP INDEX ai_usage_session_idx;
DROP INDEX ai_usage_created_idx;
DROP INDEX interview_sessions_user_status_idx;
DROP INDEX payments_session_idx;
DROP INDEX reports_session_score_idx;
