"""The DDL of the tables derivations own: trips, daily usage, segments, the service book,
the events feed and the served profile snapshots (run by ``gateway.schema``)."""

from __future__ import annotations

from features.usage_windows import WINDOWS
from features.version_windows import COMPONENTS
from timeseries.schema import Layout


def derived_ddl(layout: Layout) -> list[str]:
    """Trips, energy events, daily usage, segment days, the service book and the feed."""
    return [
        """ALTER TABLE vehicles
            ADD COLUMN IF NOT EXISTS activity text,
            ADD COLUMN IF NOT EXISTS service_status text""",
        """CREATE TABLE IF NOT EXISTS trips (
            vehicle_id int NOT NULL,
            start_ts timestamptz NOT NULL,
            end_ts timestamptz NOT NULL,
            local_day date NOT NULL,
            start_local_hour smallint NOT NULL,
            km double precision NOT NULL,
            km_source text NOT NULL,
            start_odometer double precision,
            end_odometer double precision,
            drive_s double precision NOT NULL,
            max_speed double precision NOT NULL,
            above_90_s double precision NOT NULL,
            night_s double precision NOT NULL,
            harsh_brakes int NOT NULL,
            harsh_accels int NOT NULL,
            fuel_used_pct double precision NOT NULL,
            energy_used_pct double precision NOT NULL,
            excluded_deltas int NOT NULL,
            PRIMARY KEY (vehicle_id, start_ts))""",
        "CREATE INDEX IF NOT EXISTS trips_day ON trips (vehicle_id, local_day)",
        """CREATE TABLE IF NOT EXISTS energy_events (
            vehicle_id int NOT NULL, ts timestamptz NOT NULL, kind text NOT NULL,
            local_day date NOT NULL, PRIMARY KEY (vehicle_id, ts, kind))""",
        """CREATE TABLE IF NOT EXISTS daily_usage (
            vehicle_id int NOT NULL,
            day date NOT NULL,
            km double precision NOT NULL,
            drive_s double precision NOT NULL,
            trips int NOT NULL,
            max_speed double precision NOT NULL,
            above_90_s double precision NOT NULL,
            night_s double precision NOT NULL,
            harsh_brakes int NOT NULL,
            harsh_accels int NOT NULL,
            fuel_used_pct double precision NOT NULL,
            energy_used_pct double precision NOT NULL,
            refuels int NOT NULL,
            charges int NOT NULL,
            commute_trips int NOT NULL,
            cockpit jsonb NOT NULL DEFAULT '{}',
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (vehicle_id, day))""",
        """CREATE TABLE IF NOT EXISTS segment_days (
            vehicle_id int NOT NULL, day date NOT NULL, activity text NOT NULL,
            PRIMARY KEY (vehicle_id, day))""",
        """CREATE TABLE IF NOT EXISTS service_records (
            id bigserial PRIMARY KEY,
            vehicle_id int NOT NULL REFERENCES vehicles (id),
            done_on date NOT NULL,
            odometer_km double precision NOT NULL,
            items text[] NOT NULL,
            dealer_id text,
            note text,
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (vehicle_id, done_on, odometer_km))""",
        """CREATE TABLE IF NOT EXISTS feed_events (
            id bigserial PRIMARY KEY,
            key text NOT NULL UNIQUE,
            type text NOT NULL,
            vehicle_id int NOT NULL,
            occurred_at timestamptz NOT NULL,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            payload jsonb NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS feed_events_type ON feed_events (type, id)",
    ]


def serving_ddl(layout: Layout) -> list[str]:
    """Profiles as served: refreshed after derivation and when the date changes."""
    return [
        """CREATE TABLE IF NOT EXISTS profile_snapshots (
            window_days smallint NOT NULL, vehicle_id int NOT NULL, as_of date NOT NULL,
            body text NOT NULL, computed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (window_days, vehicle_id))""",
        """CREATE TABLE IF NOT EXISTS profile_dirty (
            vehicle_id int PRIMARY KEY,
            marked_at timestamptz NOT NULL DEFAULT clock_timestamp())""",
    ]


def service_loop_ddl(layout: Layout) -> list[str]:
    """Dealers, the day-end odometer, reminders with their items and lifecycle, and the
    vehicle's service snapshot the worklist reads."""
    return [
        """ALTER TABLE daily_usage
            ADD COLUMN IF NOT EXISTS odometer_km double precision,
            ADD COLUMN IF NOT EXISTS conditions jsonb,
            ADD COLUMN IF NOT EXISTS engine_hours double precision""",
        "ALTER TABLE service_records ADD COLUMN IF NOT EXISTS engine_hours double precision",
        """ALTER TABLE vehicles
            ADD COLUMN IF NOT EXISTS advisor_id text,
            ADD COLUMN IF NOT EXISTS owner_channel text,
            ADD COLUMN IF NOT EXISTS service_next_date date,
            ADD COLUMN IF NOT EXISTS service_snapshot jsonb""",
        """CREATE TABLE IF NOT EXISTS dealers (
            id text PRIMARY KEY,
            name text NOT NULL,
            timezone text NOT NULL,
            latitude double precision,
            longitude double precision,
            booking_url text,
            advisors jsonb NOT NULL DEFAULT '[]',
            updated_at timestamptz NOT NULL DEFAULT now())""",
        """CREATE TABLE IF NOT EXISTS service_reminders (
            id bigserial PRIMARY KEY,
            vehicle_id int NOT NULL REFERENCES vehicles (id),
            cycle text NOT NULL,
            history text NOT NULL,
            state text NOT NULL,
            opened_day date NOT NULL,
            opened_at timestamptz NOT NULL DEFAULT now(),
            owner_id text,
            dealer_id text,
            advisor_id text,
            notified_at timestamptz,
            acknowledged_at timestamptz,
            booked_at timestamptz,
            booked_for date,
            closed_day date,
            closed_record_id bigint,
            closed_at timestamptz,
            UNIQUE (vehicle_id, cycle))""",
        "CREATE INDEX IF NOT EXISTS service_reminders_dealer ON service_reminders"
        " (dealer_id, opened_day)",
        """CREATE TABLE IF NOT EXISTS service_reminder_items (
            reminder_id bigint NOT NULL REFERENCES service_reminders (id),
            item text NOT NULL,
            threshold text NOT NULL,
            day date NOT NULL,
            odometer_km double precision NOT NULL,
            due_km double precision,
            due_date date,
            assumed boolean NOT NULL,
            reason text NOT NULL,
            reading jsonb,
            PRIMARY KEY (reminder_id, item, threshold))""",
    ]


def visits_ddl(layout: Layout) -> list[str]:
    """Dealer visits seen from the car's position: where each trip ended, each dealer's
    geofence and opening hours, the visits found, and how a reminder was closed."""
    return [
        """ALTER TABLE trips
            ADD COLUMN IF NOT EXISTS end_lat double precision,
            ADD COLUMN IF NOT EXISTS end_lon double precision""",
        """ALTER TABLE dealers
            ADD COLUMN IF NOT EXISTS geofence_m double precision,
            ADD COLUMN IF NOT EXISTS opening_hours jsonb""",
        "ALTER TABLE vehicles ADD COLUMN IF NOT EXISTS visits_from date",
        """CREATE TABLE IF NOT EXISTS dealer_visits (
            id bigserial PRIMARY KEY,
            vehicle_id int NOT NULL REFERENCES vehicles (id),
            dealer_id text NOT NULL,
            arrived_at timestamptz NOT NULL,
            left_at timestamptz NOT NULL,
            day date NOT NULL,
            open_minutes double precision NOT NULL,
            distance_m double precision NOT NULL,
            UNIQUE (vehicle_id, arrived_at))""",
        "CREATE INDEX IF NOT EXISTS dealer_visits_dealer ON dealer_visits (dealer_id, day)",
        """ALTER TABLE service_reminders
            ADD COLUMN IF NOT EXISTS closed_by text,
            ADD COLUMN IF NOT EXISTS closed_visit_id bigint""",
    ]


def vehicle_dtcs_ddl(layout: Layout) -> list[str]:
    """Each vehicle's trouble codes: first and last seen, when cleared, how many times set."""
    return ["""CREATE TABLE IF NOT EXISTS vehicle_dtcs (
        vehicle_id int NOT NULL REFERENCES vehicles (id),
        code text NOT NULL,
        first_seen timestamptz NOT NULL,
        last_seen timestamptz NOT NULL,
        cleared_at timestamptz,
        episodes int NOT NULL,
        PRIMARY KEY (vehicle_id, code))"""]


def lifetime_ddl(layout: Layout) -> list[str]:
    """The day each vehicle first used each cockpit domain (lifetime maturity), filled from
    the daily usage already derived."""
    return [
        """CREATE TABLE IF NOT EXISTS vehicle_domains (
            vehicle_id int NOT NULL, domain text NOT NULL, first_day date NOT NULL,
            PRIMARY KEY (vehicle_id, domain))""",
        """INSERT INTO vehicle_domains (vehicle_id, domain, first_day)
            SELECT d.vehicle_id, c.key, min(d.day) FROM daily_usage d,
            jsonb_each_text(d.cockpit) AS c WHERE c.value::int > 0 AND c.key <> 'other'
            GROUP BY 1, 2
            ON CONFLICT DO NOTHING""",
    ]


def owners_ddl(layout: Layout) -> list[str]:
    """Owners as first-class records, merges of duplicate ids, and ownership periods; every
    registered owner so far gets a record and one period from the vehicle's delivery."""
    return [
        """CREATE TABLE IF NOT EXISTS owners (
            owner_id text PRIMARY KEY,
            owner_type text NOT NULL DEFAULT 'private'
                CHECK (owner_type IN ('private', 'commercial_fleet', 'rental')),
            channel text,
            merged_into text REFERENCES owners (owner_id),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now())""",
        """CREATE TABLE IF NOT EXISTS ownership_periods (
            vehicle_id int NOT NULL, owner_id text NOT NULL REFERENCES owners (owner_id),
            from_day date NOT NULL, to_day date,
            PRIMARY KEY (vehicle_id, from_day),
            CHECK (to_day IS NULL OR to_day > from_day))""",
        "CREATE INDEX IF NOT EXISTS ownership_periods_owner ON ownership_periods (owner_id)",
        """INSERT INTO owners (owner_id, channel)
            SELECT DISTINCT ON (owner_id) owner_id, owner_channel FROM vehicles
            WHERE owner_id IS NOT NULL ORDER BY owner_id, registry_updated_at DESC NULLS LAST
            ON CONFLICT DO NOTHING""",
        """INSERT INTO ownership_periods (vehicle_id, owner_id, from_day)
            SELECT id, owner_id, coalesce(delivered_on, first_seen::date, current_date)
            FROM vehicles WHERE owner_id IS NOT NULL ON CONFLICT DO NOTHING""",
    ]


def engagement_ddl(layout: Layout) -> list[str]:
    """Owner engagement outside the car (the brand's app, campaigns, bookings), once per
    event id."""
    return [
        """CREATE TABLE IF NOT EXISTS owner_engagement (
            event_id text PRIMARY KEY, owner_id text NOT NULL, type text NOT NULL,
            at timestamptz NOT NULL, vin text, received_at timestamptz NOT NULL DEFAULT now())""",
        "CREATE INDEX IF NOT EXISTS owner_engagement_owner ON owner_engagement (owner_id, at)",
        "CREATE INDEX IF NOT EXISTS owner_engagement_vin ON owner_engagement (vin, at)"
        " WHERE vin IS NOT NULL",
        # what the feed already told about a vehicle's days, to correct it when they change
        "CREATE INDEX IF NOT EXISTS feed_events_vehicle ON feed_events"
        " (vehicle_id, type, occurred_at)",
    ]


def feature_usage_ddl(layout: Layout) -> list[str]:
    """Cockpit feature use per vehicle and day; the hours that hold cockpit events are
    queued so that derivation fills it for the data already stored."""
    return [
        """CREATE TABLE IF NOT EXISTS feature_days (
            vehicle_id int NOT NULL, day date NOT NULL, feature text NOT NULL,
            uses int NOT NULL, seconds double precision NOT NULL,
            first_ts timestamptz NOT NULL, last_ts timestamptz NOT NULL,
            PRIMARY KEY (vehicle_id, feature, day))""",
        "CREATE INDEX IF NOT EXISTS feature_days_day ON feature_days (day, feature)",
        # the first day each vehicle used each feature: discovery without reading history
        """CREATE TABLE IF NOT EXISTS vehicle_features (
            vehicle_id int NOT NULL, feature text NOT NULL, first_day date NOT NULL,
            PRIMARY KEY (vehicle_id, feature))""",
        """INSERT INTO dirty_hours (vehicle_id, hour)
            SELECT DISTINCT vehicle_id, floor(extract(epoch FROM ts) / 3600)::bigint
            FROM cockpit_events ON CONFLICT DO NOTHING""",
    ]


def sessions_ddl(layout: Layout) -> list[str]:
    """Charging sessions and refuels per vehicle, the owner's registered home (to tell home
    from public charging), and the hours of stored level data queued for derivation."""
    return [
        "ALTER TABLE vehicles ADD COLUMN IF NOT EXISTS home_lat double precision,"
        " ADD COLUMN IF NOT EXISTS home_lon double precision",
        """CREATE TABLE IF NOT EXISTS energy_sessions (
            vehicle_id int NOT NULL, kind text NOT NULL, start_ts timestamptz NOT NULL,
            end_ts timestamptz NOT NULL, local_day date NOT NULL,
            start_level double precision, end_level double precision,
            added double precision, avg_kw double precision,
            latitude double precision, longitude double precision,
            current_kind text, complete boolean NOT NULL,
            PRIMARY KEY (vehicle_id, kind, start_ts))""",
        # a new database gets its signal columns after the migrations: nothing to queue
        """DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_name = 'samples' AND column_name = 'is_charging') THEN
                INSERT INTO dirty_hours (vehicle_id, hour)
                SELECT DISTINCT vehicle_id, floor(extract(epoch FROM ts) / 3600)::bigint
                FROM samples WHERE is_charging = 1 ON CONFLICT DO NOTHING;
            END IF;
        END $$""",
    ]


def software_history_ddl(layout: Layout) -> list[str]:
    """Each vehicle's software versions per component, in order (``n`` from 1), and the local
    days each version stands for: [from_day, to_day), to_day null for the current one."""
    return ["""CREATE TABLE IF NOT EXISTS software_history (
        vehicle_id int NOT NULL, component text NOT NULL, n int NOT NULL,
        version text NOT NULL, first_seen timestamptz NOT NULL,
        last_seen timestamptz NOT NULL, reports int NOT NULL,
        from_day date NOT NULL, to_day date,
        PRIMARY KEY (vehicle_id, component, n))"""]


def usage_windows_ddl(layout: Layout) -> list[str]:
    """Per-vehicle driving and feature use over the standard periods ending on one day
    (``features.usage_windows``); filled by the next refresh."""
    return [
        """CREATE TABLE IF NOT EXISTS usage_windows (
            window_days smallint NOT NULL, vehicle_id int NOT NULL,
            drive_s double precision NOT NULL, data_from date NOT NULL,
            PRIMARY KEY (vehicle_id, window_days)) PARTITION BY LIST (window_days)""",
        """CREATE TABLE IF NOT EXISTS feature_windows (
            window_days smallint NOT NULL, vehicle_id int NOT NULL, feature text NOT NULL,
            uses bigint NOT NULL, seconds double precision NOT NULL,
            PRIMARY KEY (vehicle_id, feature, window_days)) PARTITION BY LIST (window_days)""",
        # a reader of one period scans that period's rows only
        *[f"CREATE TABLE IF NOT EXISTS {t}_{d} PARTITION OF {t} FOR VALUES IN ({d})"
          for t in ("usage_windows", "feature_windows") for d in WINDOWS],
    ]


def version_windows_ddl(layout: Layout) -> list[str]:
    """Per-vehicle driving and feature use over the standard periods, by software version
    (``features.version_windows``); filled by the next refresh."""
    return [
        """CREATE TABLE IF NOT EXISTS version_windows (
            window_days smallint NOT NULL, component text NOT NULL, vehicle_id int NOT NULL,
            version text NOT NULL, drive_s double precision NOT NULL,
            PRIMARY KEY (vehicle_id, component, version, window_days))
            PARTITION BY LIST (window_days)""",
        """CREATE TABLE IF NOT EXISTS version_feature_windows (
            window_days smallint NOT NULL, component text NOT NULL, vehicle_id int NOT NULL,
            version text NOT NULL, feature text NOT NULL, uses bigint NOT NULL,
            seconds double precision NOT NULL,
            PRIMARY KEY (vehicle_id, component, version, feature, window_days))
            PARTITION BY LIST (window_days)""",
        *[f"CREATE TABLE IF NOT EXISTS {t}_{d} PARTITION OF {t} FOR VALUES IN ({d})"
          for t in ("version_windows", "version_feature_windows") for d in WINDOWS],
    ]


def version_windows_wide_ddl(layout: Layout) -> list[str]:
    """The version periods as one row per vehicle, component, version (and feature) with
    each period's sums side by side (``features.version_windows``): a third of the rows to
    write at the date change. The stored periods are forgotten, so readers compute from the
    days until the refresher's next round, which then refreshes every vehicle."""
    def per_window(columns: dict[str, str]) -> str:
        return ", ".join(f"{name}_{d} {kind}{' NOT NULL' if d == max(WINDOWS) else ''}"
                         for d in WINDOWS for name, kind in columns.items())
    return [
        "DROP TABLE IF EXISTS version_windows",
        "DROP TABLE IF EXISTS version_feature_windows",
        f"""CREATE TABLE version_windows (
            component text NOT NULL, vehicle_id int NOT NULL, version text NOT NULL,
            {per_window({"drive_s": "double precision"})},
            PRIMARY KEY (vehicle_id, component, version)) PARTITION BY LIST (component)""",
        f"""CREATE TABLE version_feature_windows (
            component text NOT NULL, vehicle_id int NOT NULL, version text NOT NULL,
            feature text NOT NULL,
            {per_window({"uses": "bigint", "seconds": "double precision"})},
            PRIMARY KEY (vehicle_id, component, version, feature)) PARTITION BY LIST (component)""",
        # a reader of one component scans that component's rows only
        *[f"CREATE TABLE {t}_{c} PARTITION OF {t} FOR VALUES IN ('{c}')"
          for t in ("version_windows", "version_feature_windows") for c in COMPONENTS],
        "DELETE FROM storage_meta WHERE key IN ('usage_windows_to', 'profiles_as_of')",
    ]
