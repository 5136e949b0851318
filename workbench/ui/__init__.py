"""The desktop app (PySide6 + pyqtgraph): the only package that imports Qt.

- `app.py`: `run_gui()` (the QApplication, theme, smoke run); `commands.py`: `workbench gui`,
  `workbench screenshots`; `screenshots.py`: the scripted demo rendered to PNGs.
- `bridge.py`: `EngineBridge`, the one door from engine threads to the GUI thread (a queue
  drained by a 30 ms QTimer into typed signals); `engine_handle.py`: `EngineHandle`, the GUI's
  commands run on the engine's own threads (Qt-free); `messages.py`: what else it posts.
- `call_model.py`, `scenario_verdict.py`, `audio_io.py`: Qt-free models and audio plumbing.
- `main_window.py` and `views/`: the softphone, transcript, waterfall, inspector and the
  scenario, CRM, network, agent and load panels; `stall.py`: the GUI-thread stall monitor.
"""
