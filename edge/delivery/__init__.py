"""Delivery: from a finished event to the broker, without losing it.

- `durable`: the pipeline's event sink; commits each event to the outbox, keeps a bounded
  backlog while the disk is full, and spills (`spill`) or counts (`ledger`) what cannot wait.
- `outbox`: the SQLite outbox (WAL, synchronous=FULL), with its disk reserve (`reserve`).
- `event_json`: the published event and health payloads (edge.read/1).
- `mqtt`: the publisher (QoS 1, rows marked sent on PUBACK), with `payload_check`,
  `mqtt_log` (what the connection did) and `mqtt_presence` (another box with our device id?).
"""
