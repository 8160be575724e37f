"""Incidents from alert to close: the lifecycle rules (model), the records (lifecycle), reading them (queries),
where they are (places), the managers' figures and exports (reports) and the engine that opens them from alerts
(engine)."""
