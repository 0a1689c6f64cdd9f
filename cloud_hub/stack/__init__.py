"""The local stack: Mosquitto with dynamic security, PostgreSQL/TimescaleDB and the hub as background processes.

`cityops stack up|down|status` and `cityops demo` are built from these modules; tests reuse
`mosquitto.start_isolated_broker` and `database.start_isolated_database` to run isolated instances side by side.
"""
