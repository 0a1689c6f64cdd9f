"""The cloud hub: ingest, store, rules, dispatch, work orders, API."""
