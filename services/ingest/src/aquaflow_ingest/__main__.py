from __future__ import annotations

from aquaflow_ingest.app import create_app
from aquaflow_ingest.settings import IngestSettings
from aquaflow_shared.http import serve


def main() -> None:
    settings = IngestSettings()
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
