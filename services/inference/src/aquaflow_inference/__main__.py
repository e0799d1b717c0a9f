from __future__ import annotations

from aquaflow_inference.app import create_app
from aquaflow_inference.settings import InferenceSettings
from aquaflow_shared.http import serve


def main() -> None:
    settings = InferenceSettings()  # type: ignore[call-arg]  # the model comes from the environment
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
