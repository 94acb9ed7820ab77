"""`rakis serve`: the static site (dist/) plus local signalling relays, for offline and LAN networks.

- static.py     serves dist/ with cross-origin isolation headers and a dynamic /rakis-config.json
- site_config.py what /rakis-config.json holds (network name, relay URLs per channel, ICE servers)
- relays.py     local Nostr relay (nostr-sdk LocalRelay, in a child process) and mosquitto (MQTT)
- nostr_local.py the child process that runs the Nostr relay
- ports.py      port checks with clear errors
- trystero_names.py  how Trystero 0.25 names rooms and Nostr kinds (mirrors web/js/transport)
- cli.py        `main(argv)`: wires them together until Ctrl-C / SIGTERM
"""
