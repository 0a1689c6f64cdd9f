"""Work orders: lifecycle state machine, SLA deadlines, storage with an append-only audit trail."""
