"""Frame.io v4 + Adobe IMS emulator, for `postflow demo` and every test that would otherwise
need the real services (its own endpoints: extras.py). Same paths, bodies, status codes, rate limits and
token behaviour as Frame.io v4 and IMS, as far as they are known; the official SDK's models
are the reference for every response shape.

Run it: `postflow emulator [--host H] [--port P] [--allow-http-loopback-redirect] [--no-rate-limits]
[--access-token-ttl S] [--refresh-token-ttl S] [--processing-delay S] [--remote-upload-refusal 400|422]
[--upload-part-size BYTES] [--upload-max-parts N] [--upload-url-ttl S] [--version-stack-placement head|bottom]
[--webhook-backoff S] [--webhook-deadline S] [--seed FILE]` (users, accounts, workspaces, projects, more OAuth
clients: seed.py)
or `python -m postflow.emulator` (default 127.0.0.1:8790), or in-process:

    async with running_emulator(EmulatorOptions(...)) as emulator:   # postflow.emulator.server
        emulator.url, emulator.port, emulator.state.seeded()

One base URL serves everything (use it as both `api_base_url` and `ims_base_url`):
- `/ims/authorize/v2`, `/ims/token/v3`, `/ims/revoke`: IMS (ims.py);
- `/v4/...`: Frame.io (frameio_api.py; comments.py, review_status.py for file metadata, webhooks.py,
  whose deliveries deliveries.py sends);
- `/_s3/frameio-uploads/parts/<file id>/part_<N>?X-Amz-…`: where local-upload part URLs point (s3.py);
- `/_emulator/state|files|tokens|faults|calls|reset`: the emulator's own endpoints (extras.py,
  fault JSON in faults.py); `state` reports every seeded id; a reviewer's comments, review
  status, media timing and the webhook deliveries made: review_extras.py.

By default it holds one user in one account, workspace and project; a seed (`EmulatorOptions.seed`,
`--seed FILE`) holds several, with account membership, and more OAuth clients. Each token acts
as its user, who sees only the accounts they are a member of (directory.py, ims.py).

It is as strict as Frame.io and IMS where they are documented (https redirect URIs, refresh
tokens dying 14 days after login, revoke with HTTP Basic, leaky-bucket rate limits per account
without Retry-After, presigned ~1.5 KB part URLs, processing time after the last byte), and
switchable by start option or fault where they are not (faults.py lists every switch).
"""
