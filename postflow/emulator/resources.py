"""The JSON shapes of Frame.io v4 resources, as the official SDK's models (frameio.types)
read them: Profile, Account, Workspace, Project, Folder, File, VersionStack, FileUploadStatus."""

from __future__ import annotations

from datetime import UTC, datetime

from postflow.emulator.directory import Account, Project, User, Workspace
from postflow.emulator.store import Asset, File, Folder, Store, VersionStack


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def profile_json(user: User) -> dict:
    return {"id": user.id, "name": user.name, "email": user.email, "avatar_url": None}


def user_json(user: User) -> dict:
    return {**profile_json(user), "active": True}


def account_json(store: Store, account: Account, user: User) -> dict:
    projects = {p.id for p in store.directory.projects.values() if p.account_id == account.id}
    return {"id": account.id, "display_name": account.name, "created_at": iso(account.created_at),
            "updated_at": iso(account.created_at), "roles": [account.role_of(user.id)],
            "storage_usage": store.storage_usage(projects), "storage_limit": None, "image": None}


def workspace_json(store: Store, workspace: Workspace) -> dict:
    return {"id": workspace.id, "account_id": workspace.account_id, "name": workspace.name,
            "created_at": iso(workspace.created_at), "updated_at": iso(workspace.created_at), "image": None,
            "creator": user_json(store.directory.users[workspace.creator_id])}


def project_json(store: Store, project: Project) -> dict:
    return {"id": project.id, "name": project.name, "workspace_id": project.workspace_id,
            "root_folder_id": project.root_folder_id, "status": "active", "storage": store.storage_usage({project.id}),
            "restricted": project.restricted, "image": None, "description": None,
            "owner": user_json(store.directory.users[project.owner_id]),
            "created_at": iso(project.created_at), "updated_at": iso(project.created_at),
            "view_url": f"{store.options.web_url}/project/{project.id}"}


def _common_json(store: Store, asset: Asset) -> dict:
    return {"id": asset.id, "type": asset.type, "name": asset.name, "parent_id": asset.parent_id,
            "project_id": asset.project_id, "created_at": iso(asset.created_at), "updated_at": iso(asset.updated_at),
            "view_url": f"{store.options.web_url}/project/{asset.project_id}/view/{asset.id}"}


def file_json(store: Store, file: File) -> dict:
    return {**_common_json(store, file), "file_size": file.file_size, "media_type": file.media_type,
            "status": file.status(store.options.transcode_delay_s)}


def folder_json(store: Store, folder: Folder) -> dict:
    return {**_common_json(store, folder), "restricted": False, "cover_file_id": None}


def stack_json(store: Store, stack: VersionStack) -> dict:
    return {**_common_json(store, stack), "head_version": file_json(store, store.head(stack))}


def asset_json(store: Store, asset: Asset) -> dict:
    if isinstance(asset, File):
        return file_json(store, asset)
    if isinstance(asset, VersionStack):
        return stack_json(store, asset)
    assert isinstance(asset, Folder), asset
    return folder_json(store, asset)


def upload_status_json(file: File) -> dict:
    upload = file.upload
    complete = upload.complete()
    return {"id": file.id, "filetype": file.media_type or "application/octet-stream",
            "upload_complete": complete, "upload_failed": upload.failed_at is not None,
            "uploaded_at": iso(upload.started_at),
            "upload_completed_at": iso(upload.completed_at) if complete and upload.completed_at else None}
