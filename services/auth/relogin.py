"""The re-login deadline of a web-app login. Adobe IMS ends a user's refresh token
`lifetime_s` (14 days by default) after the login, and refreshing does not extend it, so
someone must log in again by then. `warning_s` before the deadline the warning window opens."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from postflow.core.dates import utc_minute
from postflow.core.pipelines import DEFAULT

from .grant import Grant
from .named import ConnectionLog, frameio_name, login_command

log = logging.getLogger(__name__)

LAPSED = ("{frameio} needs reconnecting: the login expired on {deadline} (Adobe IMS ends a login "
          "auth.refresh_token_lifetime_s after it; refreshing does not extend it). {connect_again}")


def connect_again(connection: str) -> str:
    return f"Connect again from the dashboard or with {login_command(connection)}"


@dataclass
class Relogin:
    lifetime_s: float  # auth.refresh_token_lifetime_s
    warning_s: float  # auth.relogin_warning_s
    warned_for: float = 0.0  # the deadline already warned about (once per login and process)
    connection: str = DEFAULT  # whose login: one Relogin per connection
    _log: ConnectionLog = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._log = ConnectionLog(log, self.connection)

    def soon(self, grant: Grant, now: float) -> bool:
        return bool(grant.reauth_deadline) and now >= grant.reauth_deadline - self.warning_s

    def next_event_in(self, grant: Grant, now: float) -> float | None:
        """Seconds until the warning opens (unless given already) or the login ends; None: no deadline."""
        if not grant.reauth_deadline:
            return None
        at = grant.reauth_deadline if self.warned_for == grant.reauth_deadline else \
            grant.reauth_deadline - self.warning_s
        return max(0.0, at - now)

    def warn(self, grant: Grant, now: float) -> bool:
        """Logs the warning when its window has opened and it was not given yet; True if it did."""
        if not self.soon(grant, now) or self.warned_for == grant.reauth_deadline:
            return False
        self.warned_for = grant.reauth_deadline
        self._log.warning("Frame.io login expires on %s — reconnect before then (dashboard or %s)",
                          utc_minute(grant.reauth_deadline), login_command(self.connection))
        return True

    def lapse(self, grant: Grant) -> str:
        """Logs that the login has ended; returns the message the status carries."""
        self._log.warning("Frame.io login expired on %s: reconnect needed", utc_minute(grant.reauth_deadline))
        return LAPSED.format(frameio=frameio_name(self.connection), deadline=utc_minute(grant.reauth_deadline),
                             connect_again=connect_again(self.connection))
