-- 001_location_history.sql - the route history of drivers (scope "logistics").
--
-- Written only by the location worker (workers/location), in bulk, from the
-- reports the logistics service appended to the Redis stream; read by
-- GetDriverRoute. One row per accepted report.
--
-- Exactly-once effect of an at-least-once stream: every row carries the id
-- of its stream entry, and the worker inserts with ON CONFLICT DO NOTHING on
-- the primary key, so a redelivered entry never adds a second row. The key
-- must contain the partitioning column (recorded_at); a redelivery carries
-- the same recorded_at, so (driver_id, recorded_at, stream_id) is as good
-- as the stream id alone, and it is also the index the route query needs:
--   GetDriverRoute   WHERE driver_id = $1 AND recorded_at BETWEEN $2 AND $3
--                    ORDER BY recorded_at LIMIT $4      -> location_history_pkey
--
-- Time partitioning:
--  * TimescaleDB installed (pg_available_extensions has it): the table is a
--    hypertable with one-day chunks, compressed after 2 days (segment by
--    driver, ordered by time); retention is the worker's
--    location_history_maintain call (drop_chunks), as below.
--  * Otherwise: native RANGE partitions of one UTC day each, named
--    location_history_pYYYYMMDD, created ahead of time by
--    location_history_maintain (the worker calls it at start-up and then
--    hourly), which also drops the days older than the retention.
--    No default partition: a report outside the prepared days would land
--    there and then block creating that day's partition; the service refuses
--    timestamps more than 24 hours old or 5 minutes ahead, and partitions
--    exist from 2 days back to 2 days ahead.

CREATE TABLE location_history (
    driver_id   text NOT NULL CHECK (octet_length(driver_id) BETWEEN 1 AND 64),
    -- when the position was measured (the device's time, else acceptance)
    recorded_at timestamptz NOT NULL,
    -- Redis stream entry id of the report ("1732629834123-0")
    stream_id   text NOT NULL,
    latitude    double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    speed       double precision,
    heading     double precision,
    accuracy    double precision,
    order_id    bigint,
    PRIMARY KEY (driver_id, recorded_at, stream_id)
) PARTITION BY RANGE (recorded_at);

-- Creates the missing daily partitions from days_back days ago to
-- days_ahead days ahead (UTC days) and drops those that ended more than
-- retention_days ago (retention_days <= 0: keep everything). Safe to run
-- concurrently (transaction-level advisory lock). Returns the number of
-- partitions created plus dropped. On a hypertable: drop_chunks only.
CREATE FUNCTION location_history_maintain(days_back int, days_ahead int,
                                          retention_days int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    day date;
    first_day date := (now() AT TIME ZONE 'UTC')::date - days_back;
    last_day date := (now() AT TIME ZONE 'UTC')::date + days_ahead;
    cutoff date := (now() AT TIME ZONE 'UTC')::date - retention_days;
    part record;
    changed int := 0;
    hypertable boolean := false;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('location_history_maintain'));
    -- dynamic: the view exists only where TimescaleDB is installed
    IF to_regclass('timescaledb_information.hypertables') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables '
                'WHERE hypertable_name = ''location_history'')' INTO hypertable;
    END IF;
    IF hypertable THEN
        IF retention_days > 0 THEN
            EXECUTE format('SELECT count(*) FROM drop_chunks(%L, older_than => %L::timestamptz)',
                           'location_history', cutoff::timestamp AT TIME ZONE 'UTC')
                INTO changed;
        END IF;
        RETURN changed;
    END IF;
    day := first_day;
    WHILE day <= last_day LOOP
        IF to_regclass(format('location_history_p%s', to_char(day, 'YYYYMMDD'))) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF location_history '
                           'FOR VALUES FROM (%L) TO (%L)',
                           format('location_history_p%s', to_char(day, 'YYYYMMDD')),
                           day::timestamp AT TIME ZONE 'UTC',
                           (day + 1)::timestamp AT TIME ZONE 'UTC');
            changed := changed + 1;
        END IF;
        day := day + 1;
    END LOOP;
    IF retention_days > 0 THEN
        FOR part IN
            SELECT c.relname FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'location_history'::regclass
              AND c.relname ~ '^location_history_p[0-9]{8}$'
              AND to_date(substr(c.relname, 19), 'YYYYMMDD') + 1 <= cutoff
        LOOP
            EXECUTE format('DROP TABLE %I', part.relname);
            changed := changed + 1;
        END LOOP;
    END IF;
    RETURN changed;
END $$;

-- TimescaleDB where the extension exists: convert the (still empty) table
-- into a hypertable. Native partitioning and hypertables exclude each
-- other, so the table is recreated plain first (LIKE: one definition).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        -- the same columns, checks and primary key, not partitioned
        CREATE TABLE location_history_plain (LIKE location_history INCLUDING ALL);
        DROP TABLE location_history;
        ALTER TABLE location_history_plain RENAME TO location_history;
        ALTER INDEX location_history_plain_pkey RENAME TO location_history_pkey;
        EXECUTE 'SELECT create_hypertable(''location_history'', ''recorded_at'', '
                'chunk_time_interval => interval ''1 day'')';
        EXECUTE 'ALTER TABLE location_history SET (timescaledb.compress, '
                'timescaledb.compress_segmentby = ''driver_id'', '
                'timescaledb.compress_orderby = ''recorded_at'')';
        EXECUTE 'SELECT add_compression_policy(''location_history'', interval ''2 days'')';
    ELSE
        PERFORM location_history_maintain(2, 2, 0);
    END IF;
END $$;
