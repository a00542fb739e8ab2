"""The DDL of the tables the HTTP side owns: webhook subscriptions and deliveries."""

from __future__ import annotations

from timeseries.schema import Layout


def webhooks_ddl(layout: Layout) -> list[str]:
    """Webhook subscriptions and their delivery log."""
    return [
        """CREATE TABLE IF NOT EXISTS webhooks (
            id serial PRIMARY KEY,
            url text NOT NULL,
            secret text NOT NULL,
            event_types text[] NOT NULL,
            cursor bigint NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now())""",
        """CREATE TABLE IF NOT EXISTS webhook_deliveries (
            id bigserial PRIMARY KEY,
            webhook_id int NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
            event_id bigint NOT NULL,
            attempt int NOT NULL,
            status int,
            error text,
            ok boolean NOT NULL,
            at timestamptz NOT NULL DEFAULT now())""",
        "CREATE INDEX IF NOT EXISTS webhook_deliveries_hook ON webhook_deliveries (webhook_id, id)",
    ]


def webhook_dealer_ddl(layout: Layout) -> list[str]:
    """A webhook may subscribe to one dealer's events only."""
    return ["ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS dealer_id text"]
