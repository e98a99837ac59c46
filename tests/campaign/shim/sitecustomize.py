"""Loaded by every Python process of a campaign stack whose PYTHONPATH holds this folder
(site imports `sitecustomize` at start). Each part acts only when its variable is set:

- POSTFLOW_CAMPAIGN_RESOLVE="SUFFIX=HOST:PORT": async httpx connections to a name ending in
  SUFFIX go to HOST:PORT (whatever port was asked), as public DNS sends a quick-tunnel
  hostname to Cloudflare's edge;
- POSTFLOW_CAMPAIGN_CA=FILE: TLS contexts also trust the CA in FILE, as the public CAs
  behind the edge's certificate are trusted;
- POSTFLOW_CAMPAIGN_DROP_CAPS=1: the process and its children lose CAP_DAC_OVERRIDE and
  CAP_DAC_READ_SEARCH, so file permissions apply to them as to a non-root service user.
"""

import ctypes
import os
import ssl

CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2
PR_CAPBSET_DROP = 24
CAPABILITY_VERSION_3 = 0x20080522


def _resolve(spec: str) -> None:
    import anyio  # what httpx's async transport connects with

    suffix, _, target = spec.partition("=")
    host, _, port = target.rpartition(":")
    original = anyio.connect_tcp

    async def connect_tcp(remote_host, remote_port, **kwargs):
        if str(remote_host).endswith(suffix):
            remote_host, remote_port = host, int(port)
        return await original(remote_host, remote_port, **kwargs)

    anyio.connect_tcp = connect_tcp


def _trust(ca_file: str) -> None:
    original = ssl.create_default_context

    def create_default_context(*args, **kwargs):
        context = original(*args, **kwargs)
        if context.verify_mode != ssl.CERT_NONE:
            context.load_verify_locations(cafile=ca_file)
        return context

    ssl.create_default_context = create_default_context


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_caps() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    dropped = (1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
    header, data = _Header(CAPABILITY_VERSION_3, 0), (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    for field in ("effective", "permitted", "inheritable"):
        setattr(data[0], field, getattr(data[0], field) & ~dropped)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


if os.environ.get("POSTFLOW_CAMPAIGN_RESOLVE"):
    _resolve(os.environ["POSTFLOW_CAMPAIGN_RESOLVE"])
if os.environ.get("POSTFLOW_CAMPAIGN_CA"):
    _trust(os.environ["POSTFLOW_CAMPAIGN_CA"])
if os.environ.get("POSTFLOW_CAMPAIGN_DROP_CAPS"):
    _drop_caps()
