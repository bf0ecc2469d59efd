"""Progress bars for long jobs, passed down as a factory so the services stay quiet by default:
`with bars("embedding", total=n, unit="caption") as advance: ... advance(k)`. Commands hand
in `tqdm_bars(stderr)`: a tqdm bar with the rate and the time left, on stderr so that a
command's stdout (its report, or its --json) stays clean."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, TextIO


class Bars(Protocol):
    def __call__(self, desc: str, *, total: int, unit: str = "it") -> AbstractContextManager[Callable[[int], None]]:
        ...


@contextmanager
def no_bars(desc: str, *, total: int, unit: str = "it") -> Iterator[Callable[[int], None]]:
    """The default: no output."""
    yield lambda n=1: None


def tqdm_bars(stream: Any) -> Bars:
    """Bars on `stream`: a file, or a management command's self.stderr (its OutputWrapper adds a
    line ending to every write, which would break tqdm's in-place updates: its raw stream is used)."""
    out: TextIO = getattr(stream, "_out", stream)

    @contextmanager
    def bars(desc: str, *, total: int, unit: str = "it") -> Iterator[Callable[[int], None]]:
        from tqdm import tqdm

        with tqdm(total=total, desc=desc, unit=unit, file=out, dynamic_ncols=True, mininterval=0.5) as bar:
            yield bar.update

    return bars
