"""The jobs' shared diskcache, holding JSON only.

Dash's diskcache manager keeps each job's answer, progress and side updates in a diskcache, which
by default pickles them; a job cache is a folder on disk (a shared volume in a deployment), and a
row rewritten to hold a pickle would run code in the next web worker that reads it. Here every
value is JSON (Plotly's encoder, as Dash's Celery manager sends answers through Redis) and a
pickled row is refused unread (`nnvis.workspace.safe_disk.PlainDisk`): it reads as missing."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import diskcache
from plotly.utils import PlotlyJSONEncoder

from nnvis.workspace.safe_disk import PlainDisk, RefusedEntry

LOG = logging.getLogger("nnvis")


class JsonDisk(PlainDisk):
    """Values stored as JSON text (figures, components and Patches through Plotly's encoder);
    bytes (Dash's signing secret for job handles, shared by every worker) stay bytes."""

    def store(self, value, read, key=diskcache.UNKNOWN):
        if not read and not isinstance(value, bytes):
            value = json.dumps(value, cls=PlotlyJSONEncoder)  # text: read back as JSON
        return super().store(value, read, key=key)

    def fetch(self, mode, filename, value, read):
        data = super().fetch(mode, filename, value, read)
        if read or isinstance(data, bytes):
            return data
        try:
            return json.loads(data)
        except (TypeError, ValueError) as error:
            raise RefusedEntry(f"a job cache value that is not JSON: {error}") from error


class JobCache(diskcache.Cache):
    """A diskcache over `JsonDisk` where a refused or undecodable entry reads as missing (logged)."""

    def get(self, key, default=None, *args, **kwargs):
        try:
            return super().get(key, default, *args, **kwargs)
        except RefusedEntry as error:
            LOG.warning("job cache %s: entry %r refused (%s); read as missing", self.directory, str(key)[:60], error)
            return default


def open_job_cache(directory: str | Path) -> JobCache:
    """The job cache in `directory` (made if missing), JSON values only."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    return JobCache(str(directory), disk=JsonDisk)
