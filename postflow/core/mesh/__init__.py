"""The secure mesh: every service's gRPC port behind mutual TLS, and who may call what.

- `certs`: a private CA and one certificate per identity (each service, and `admin` for
  the CLI), its name in the certificate; made by `postflow certs` (and `up`/`demo`).
- `identity`: who a caller is (`Principal`): a service or the admin by certificate, another
  tool by API key (with scopes), or nobody (health only).
- `policy`: the one table of who may call each RPC.
"""
