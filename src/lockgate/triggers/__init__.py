"""What starts pipelines by themselves: schedules, files and objects, manifests, upstream work.

    @pipeline(triggers=[Cron("0 6 * * *", timezone="Europe/Paris")])
    def daily(logical_date: str): ...

The scheduler (`lockgate serve`, `lockgate scheduler`) evaluates them; see docs/triggers.md.
"""

from lockgate.triggers.files import FileArrival
from lockgate.triggers.manifests import Manifest
from lockgate.triggers.schedule import Cron, Interval
from lockgate.triggers.upstream import DatasetUpdated, PipelineSucceeded

__all__ = ["Cron", "DatasetUpdated", "FileArrival", "Interval", "Manifest", "PipelineSucceeded"]
