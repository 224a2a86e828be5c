"""Keep kfp's own prints and warnings out of our output.

kfp writes links, progress and FutureWarnings to stdout/stderr as it works; a CLI whose output
people read (and an Action whose log becomes a PR comment) must say things once, in its own words.
What kfp printed is kept, not thrown away, so that a failure can still show it.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import IO, Iterator


@contextlib.contextmanager
def quiet_kfp(sink: IO[str] | None = None) -> Iterator[IO[str]]:
    """Redirect stdout into `sink` (a fresh buffer by default) and silence kfp's warnings."""
    buffer = sink if sink is not None else io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", module=r"kfp(\..*)?$")
        warnings.filterwarnings("ignore", message=r".*kfp.*")
        with contextlib.redirect_stdout(buffer):
            yield buffer
