"""Choosing a division by name: the options of a cascading picker over the divisions inside a jurisdiction.

Nobody types a division code. The picker lists the divisions one level below the reader's own; once one is chosen,
the next page also lists the divisions under it (and so on down to the villages), so a county official reaches a
village in two choices without any script. Names are written as the reader says them (services.divisions.full_names
with `near`): a township worker reads 多福巷社区居委会, not the whole address.
"""

from dataclasses import dataclass

from sqlalchemy.orm import Session

from services import divisions


@dataclass(frozen=True)
class DivisionGroup:
    """The divisions directly under one division, to show as one group of options."""

    label: str
    options: list[tuple[str, str]]


@dataclass(frozen=True)
class DivisionPicker:
    """The picker of one reader: what "everything" is called, the groups of options and the chosen code."""

    everything: str
    groups: list[DivisionGroup]
    chosen: str | None

    @property
    def empty(self) -> bool:
        """Return whether there is nothing to choose (a village worker's jurisdiction is one village)."""
        return not any(group.options for group in self.groups)


def _levels_down(own: str | None, chosen: str | None) -> list[str | None]:
    """Return the divisions whose children are listed: the reader's own, then each one on the way to `chosen`."""
    parents: list[str | None] = [own]
    if chosen:
        start = len(own) if own else 0
        parents += [chosen[:length] for length in divisions.CODE_LENGTHS.values() if start < length <= len(chosen)]
    return parents


def picker(session: Session, own: str | None, chosen: str | None = None) -> DivisionPicker:
    """Return the picker of a reader whose jurisdiction is `own` (None: the whole country), with `chosen` selected.

    `chosen` must already be known to lie inside `own` (the caller refuses any other code).
    """
    parents = _levels_down(own, chosen)
    children = {parent: divisions.children(session, parent) for parent in parents}
    codes = [parent for parent in parents if parent] + [d.code for listed in children.values() for d in listed]
    names = divisions.full_names(session, codes, near=own)
    groups = [DivisionGroup(names.get(parent, "全国") if parent else "全国",
                            [(d.code, names.get(d.code, d.name)) for d in listed])
              for parent, listed in children.items() if listed]
    everything = f"全部（{names.get(own, own)}）" if own else "全部"
    return DivisionPicker(everything, groups, chosen)
