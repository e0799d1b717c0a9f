"""Sections of a model card written after training (real-image calibration, drift reference).

`training/repository.py` writes the card from scratch on every training run; the scripts that run
after it replace or add their own section, so that `make models` leaves every section current.
"""

from __future__ import annotations

from pathlib import Path


def replace_section(card: str, heading: str, body: str) -> str:
    """The card with the section under ``heading`` replaced (or inserted before "## Reproduce")."""
    section = f"{heading}\n\n{body.strip()}\n\n"
    start = card.find(heading)
    if start >= 0:
        end = card.find("\n## ", start + len(heading))
        return card[:start] + section + (card[end + 1 :] if end >= 0 else "")
    anchor = card.find("## Reproduce")
    if anchor < 0:
        return card.rstrip() + "\n\n" + section
    return card[:anchor] + section + card[anchor:]


def write_section(card: Path, heading: str, body: str) -> None:
    card.write_text(replace_section(card.read_text(), heading, body))
