"""Workspaces: their ids and names (``ids``), their quota and the free-disk guard (``space``),
uploads into them (``uploads``), how many one visitor may make (``creation``) and, in sign-in
mode, whose they are (``owners``).
"""

from src.core.workspace import creation, owners, space, uploads
from src.core.workspace.ids import (
    DEFAULT_LOCAL_WORKSPACE,
    Resolution,
    create,
    is_valid_online_id,
    list_local,
    new_online_id,
    resolve_local,
    resolve_online,
    validate_local_name,
    workspace_path,
)
from src.core.workspace.space import is_disk_full, used_bytes, volume_full
from src.core.workspace.uploads import (
    LOCK_NAME,
    UploadSink,
    display_name,
    remove_stale_spools,
    safe_forward_name,
    spool_path,
    ticket,
    too_large_message,
)

__all__ = [
    "DEFAULT_LOCAL_WORKSPACE",
    "LOCK_NAME",
    "Resolution",
    "UploadSink",
    "create",
    "owners",
    "creation",
    "display_name",
    "is_disk_full",
    "is_valid_online_id",
    "list_local",
    "new_online_id",
    "remove_stale_spools",
    "resolve_local",
    "resolve_online",
    "safe_forward_name",
    "space",
    "spool_path",
    "ticket",
    "too_large_message",
    "uploads",
    "used_bytes",
    "validate_local_name",
    "volume_full",
    "workspace_path",
]
