"""The watcher's side of each Frame.io connection: a client whose access tokens auth holds for
that connection, paced per account, with its folder cache and its projects. A job is delivered
with the connection its route names."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import httpx

from postflow.core.config import Config
from postflow.core.errors import FailedPrecondition
from postflow.core.logs import SecretMask
from postflow.core.pipelines import DEFAULT, ConnectionConfig, connections_of
from postflow.frameio import AuthTokens, FrameioClient, ProjectRef
from postflow.frameio_metrics import FrameioMeter
from postflow.v1 import auth_pb2_grpc
from services.watcher.folder_contents import FolderContents
from services.watcher.folders import FolderMirror
from services.watcher.ledger import Ledger
from services.watcher.projects import Projects


@dataclass(frozen=True)
class Connection:
    name: str
    settings: ConnectionConfig
    tokens: AuthTokens
    frameio: FrameioClient
    folders: FolderMirror
    projects: Projects


@dataclass(frozen=True)
class Destination:
    """Where one attempt delivers: the connection's client and folders, and the project."""

    frameio: FrameioClient
    folders: FolderMirror
    project: ProjectRef

    @property
    def account_id(self) -> str:
        return self.project.account_id


class FrameioConnections:
    def __init__(self, auth: auth_pb2_grpc.AuthServiceStub, http: httpx.AsyncClient, ledger: Ledger,
                 secrets: SecretMask | None, meter: FrameioMeter) -> None:
        self.auth = auth
        self.http = http
        self.meter = meter  # every connection's calls, counted together
        self.ledger = ledger
        self.secrets = secrets
        self.by_name: dict[str, Connection] = {}

    def apply(self, config: Config) -> None:
        """Builds the connections of `config`; one whose settings did not change keeps its
        client (its pacing and caches)."""
        wanted = connections_of(config)
        kept = {name: connection for name, connection in self.by_name.items()
                if wanted.get(name) == connection.settings}
        self.by_name = {name: kept.get(name) or self._build(config, name, settings)
                        for name, settings in wanted.items()}

    def _build(self, config: Config, name: str, settings: ConnectionConfig) -> Connection:
        frameio_config = dataclasses.replace(
            config.frameio, client_id=settings.client_id, account_id=settings.account_id,
            project_id=config.frameio.project_id if name == DEFAULT else "")
        tokens = AuthTokens(self.auth, self.secrets, connection=name)
        frameio = FrameioClient(frameio_config, tokens, self.http, meter=self.meter)
        contents = FolderContents(frameio)
        return Connection(name, settings, tokens, frameio, FolderMirror(frameio, self.ledger, contents),
                          Projects(frameio))

    def get(self, name: str) -> Connection:
        connection = self.by_name.get(name)
        if connection is None:
            raise FailedPrecondition(f"connection {name!r} is not in the config any more")
        return connection

    def status_changed(self, name: str) -> None:
        """Auth said something about connection `name`: its held access token is dropped."""
        connection = self.by_name.get(name)
        if connection is not None:
            connection.tokens.forget()

    async def destination(self, connection: str, project: str, create: bool) -> Destination:
        chosen = self.get(connection)
        return Destination(chosen.frameio, chosen.folders, await chosen.projects.resolve(project, create=create))
