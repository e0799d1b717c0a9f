"""The results API's OpenAPI document, kept in the repository as docs/openapi/results.json.

Regenerate it after changing the API:

    .venv/bin/python -m aquaflow_results.openapi docs/openapi/results.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from aquaflow_results.api import create_api


def openapi_document() -> dict[str, Any]:
    return create_api().openapi()


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m aquaflow_results.openapi <output.json>")
    Path(argv[0]).write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
