"""Triggers on other pipelines' work: a pipeline that succeeded, a dataset a step wrote."""

from __future__ import annotations

from dataclasses import dataclass

from lockgate.core.errors import UsageError


@dataclass(frozen=True, slots=True)
class PipelineSucceeded:
    """One run per successful run of pipeline `name`; the event carries its `run_id` and `output`."""

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise UsageError("PipelineSucceeded: the upstream pipeline's name must be a non-empty string")

    @property
    def key(self) -> str:
        return f"succeeded:{self.name}"

    def describe(self) -> str:
        return f"after {self.name} succeeds"


@dataclass(frozen=True, slots=True)
class DatasetUpdated:
    """One run per `report_written(uri)` of this URI, or of one below it when it ends with '/'."""

    uri: str

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str) or not self.uri:
            raise UsageError("DatasetUpdated: the dataset URI must be a non-empty string")

    @property
    def key(self) -> str:
        return f"dataset:{self.uri}"

    def matches(self, uri: str) -> bool:
        if uri == self.uri or uri.rstrip("/") == self.uri.rstrip("/"):
            return True
        return self.uri.endswith("/") and uri.startswith(self.uri)

    def describe(self) -> str:
        return f"when {self.uri} is written"
