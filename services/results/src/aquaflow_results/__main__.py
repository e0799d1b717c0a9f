from __future__ import annotations

from aquaflow_results.app import create_app
from aquaflow_results.settings import ResultsSettings
from aquaflow_shared.http import serve


def main() -> None:
    settings = ResultsSettings()
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
