from __future__ import annotations

from aquaflow_router.app import create_app
from aquaflow_router.settings import RouterSettings
from aquaflow_shared.http import serve


def main() -> None:
    settings = RouterSettings()
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
