-- Who is responsible for which place (issue: scoped access). Officers get their places from the duty roster
-- (rosters) and the grids they supervise (grids.supervisor); commanders and technicians from the districts listed
-- here. A commander with no district listed is a city-wide commander.
CREATE TABLE IF NOT EXISTS user_districts (
    username    text NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    district_id text NOT NULL REFERENCES districts (district_id) ON DELETE CASCADE,
    PRIMARY KEY (username, district_id)
);
CREATE INDEX IF NOT EXISTS user_districts_district ON user_districts (district_id);
CREATE INDEX IF NOT EXISTS rosters_username ON rosters (username);
CREATE INDEX IF NOT EXISTS grids_supervisor ON grids (supervisor) WHERE supervisor IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_grid_status ON incidents (grid_id, status);
CREATE INDEX IF NOT EXISTS work_orders_grid_status ON work_orders (grid_id, status);
