"""Background jobs (后台任务): the database is the queue, on SQLite and PostgreSQL alike.

A domain registers handlers in its own `jobs.py` (`@handler("cases.notify")`, or
`@periodic("cases.sweep", every=timedelta(minutes=5))` for a sweep the worker schedules itself),
code enqueues with ids and plain values inside its own transaction (so the job exists only if that
transaction commits), and `chengzhi worker` claims due jobs with a lease and runs them. Handlers
must be idempotent: a job runs at least once. See `service.py`."""
