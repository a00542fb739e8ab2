"""Operator commands: capture, replay, replay of dead letters."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from decoders.can_dbc import load_can_models
from gateway.app import run_migrations
from gateway.mqtt.aiomqtt_source import make_client
from gateway.ops import replay
from gateway.ops.capture import CaptureWriter, capture
from gateway.ops.dead_letters import retry_reason
from gateway.settings import Settings
from timeseries.db import connect


async def run_ops(settings: Settings, args: argparse.Namespace) -> int:
    """Dispatch one operator command; returns the exit code."""
    if args.command == "capture":
        writer = CaptureWriter(Path(args.out), args.max_mb * 1024 * 1024)
        client = make_client(replace(settings, client_id=settings.client_id
                                     or "telematics-capture"), persistent=False)
        try:
            async with client:
                await capture(client, args.topics.split(","), writer, args.seconds)
        finally:
            writer.close()
        print(f"captured {writer.count} messages to {args.out}", file=sys.stderr)
        return 0
    if args.command == "replay":
        records = replay.load(Path(args.file), set(args.vin), args.frm, args.to,
                              args.pcap_port)
        if args.direct:
            n = await replay.direct(records, settings.db_url,
                                    can_models=load_can_models(settings.can_models))
        else:
            target = replace(settings, mqtt_url=args.to_broker) if args.to_broker else settings
            n = await replay.to_broker(records, target,
                                       None if args.as_fast_as_possible else args.speed)
        print(f"replayed {n} messages", file=sys.stderr)
        return 0
    layout = await run_migrations(settings)
    async with await connect(settings.db_url, application="gateway-dl-replay") as conn:
        results = await retry_reason(conn, layout, args.reason,
                                     load_can_models(settings.can_models))
    for r in results:
        print(json.dumps(r))
    print(f"retried {len(results)} dead letters", file=sys.stderr)
    return 0

