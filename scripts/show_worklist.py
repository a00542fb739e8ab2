"""Print a dealer worklist (JSON on stdin, from GET /v1/dealers/{id}/worklist) as lines."""

from __future__ import annotations

import json
import sys


def main() -> None:
    """One line per vehicle: predicted date, VIN, model, history, the items and why."""
    body = json.load(sys.stdin)
    if not body["items"]:
        print("  (nothing due)")
    for v in body["items"]:
        items = ", ".join(f"{i['name']} {i['status']}" + (" (assumed)" if i["assumed"] else "")
                          for i in v["items"])
        print(f"  {v['predicted_date']}  {v['vin']}  {v['model']:<14} history"
              f" {v['history']:<7} {items}")
        if v["booking_url"]:
            print(f"      book: {v['booking_url']}")


if __name__ == "__main__":
    main()
