"""The administrator's data: districts, grids (GeoJSON), duty rosters, users, cameras, hub rule files, and the
append-only record of every change to them (`admin_changes`). Data access and pure validation; the HTTP side is
`cloud_hub/api/routes/admin_*.py`."""
