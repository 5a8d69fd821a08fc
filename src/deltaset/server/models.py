"""The JSON shapes of the server's API (and of its OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from deltaset.core.records import State, Stats, VersionRecord

BLOB_ID = r"^[0-9a-f]{64}$"
BlobId = Annotated[str, StringConstraints(pattern=BLOB_ID)]


class StatsModel(BaseModel):
    file_count: int = Field(0, ge=0)
    total_size: int = Field(0, ge=0)
    added: int = Field(0, ge=0)
    modified: int = Field(0, ge=0)
    removed: int = Field(0, ge=0)
    stored_bytes: int = Field(0, ge=0)
    manifest_depth: int = Field(0, ge=0)


class RecordModel(BaseModel):
    id: str = Field(min_length=1, max_length=32)
    project: str = Field(min_length=1)
    name: str = Field(min_length=1)
    version: str
    state: Literal["draft", "final", "published"]
    parents: list[str]
    tags: list[str]
    description: str
    created: str
    user: str
    storage: str
    stats: StatsModel

    @classmethod
    def of(cls, record: VersionRecord) -> RecordModel:
        doc = record.to_dict()
        doc.pop("format", None)
        return cls.model_validate(doc)

    def record(self) -> VersionRecord:
        return VersionRecord(
            id=self.id,
            project=self.project,
            name=self.name,
            version=self.version,
            state=State(self.state),
            parents=tuple(self.parents),
            tags=tuple(self.tags),
            description=self.description,
            created=self.created,
            user=self.user,
            storage=self.storage,
            stats=Stats(**self.stats.model_dump()),
        )


class NewVersionModel(BaseModel):
    project: str = Field(min_length=1)
    name: str = Field(min_length=1)
    version: str | None = None  # any string ClearML takes: checked by semver.validate
    parents: list[str] = []
    tags: list[str] = []
    description: str = ""
    storage: str | None = None  # none: the server's own storage
    user: str = ""


class FinalizeModel(BaseModel):
    record: RecordModel
    manifest: str  # base64 of the stored manifest


class StorageModel(BaseModel):
    storage: str = Field(min_length=1)


class ChangeModel(BaseModel):
    path: str = Field(min_length=1)
    removed: bool = False
    size: int = Field(0, ge=0)
    blob_id: str = ""
    source: str = ""
    uploaded: bool = False
    link: str = ""
    etag: str = ""


class PathsModel(BaseModel):
    paths: list[str]


class BlobIdsModel(BaseModel):
    blob_ids: list[str]


class ChunkListsModel(BaseModel):
    lists: dict[BlobId, list[BlobId]]


class TagEditModel(BaseModel):
    add: list[str] = []
    remove: list[str] = []


class RenameModel(BaseModel):
    project: str = Field(min_length=1)
    name: str = Field(min_length=1)
    new_project: str = Field(min_length=1)
    new_name: str = Field(min_length=1)


class RenamedModel(BaseModel):
    renamed: int


class ImportedModel(BaseModel):
    imported: bool


class ObjectModel(BaseModel):
    key: str
    size: int
    etag: str
    modified: float = 0.0  # seconds since the epoch


class TokenModel(BaseModel):
    id: str
    name: str
    read_only: bool
    created: str
    admin: bool = False


class InfoModel(BaseModel):
    """What a client needs to know of the server: its API version and default storage."""

    api: int
    storage: str
    auth: bool
    # The object store behind the server, for clients whose own credentials reach it: they
    # read and write there directly. None for a folder only the server sees.
    direct: str | None = None


class ErrorModel(BaseModel):
    error: str
