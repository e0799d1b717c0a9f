from __future__ import annotations

from aquaflow_results.app import create_app
from aquaflow_results.settings import ResultsSettings
from aquaflow_shared.http import serve


def main() -> None:
    # Every field comes from the environment; AQUAFLOW_RESULTS_MONGODB_URL is required.
    settings = ResultsSettings()  # type: ignore[call-arg]
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
