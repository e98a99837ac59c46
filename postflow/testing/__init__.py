"""What the tests and the benchmarks share (never imported by the product; some modules need the
dev extras: pytest, playwright). Test modules import their helpers from here; each conftest.py
holds only its directory's fixtures.

Kernel of test support: `polling` (wait_for), `ports` (free_port), `processes` (child env, a
service as a process, /proc readings), `media` (media files and their sha256), `clock`, `rpc`.
Real things under test: `stack` (the whole of PostFlow as processes), `emulator` (the Frame.io
emulator's test API), `auth`, `watcher`, `streamer` (one service under test each), `dashboard`
and `sse_client` (the dashboard seen by a browser), `campaign` (the fault campaign's checks).
Stand-ins: `fakes` (the three gRPC services, cloudflared, Cloudflare's edge), `file_server`,
`holding_proxy`, `tcp_relay`, `raw_http`, `frameio_sdk`, `frameio_mock` (FrameioClient over
httpx.MockTransport), `frameio_fake` (an in-memory Frame.io for the watcher's delivery logic)."""
