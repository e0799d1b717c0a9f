"""The generic Triton Python-backend runner: ``model.py`` serves a model's ONNX file with ONNX Runtime.

Not imported by aquaflow itself: ``aquaflow_devstack.triton.prepare_repository`` places
``model.py`` into each model's version folder, where Triton's Python backend loads it.
"""
