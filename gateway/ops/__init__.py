"""Operations tools: capture broker traffic, replay captures (own format, pcap/pcapng) to a
broker or straight into storage, and replay dead letters after a decoder fix.

May import everything below the gateway and ``gateway.mqtt`` (to publish); never HTTP.
"""
