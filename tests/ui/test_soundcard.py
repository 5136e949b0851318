"""The softphone's microphone and speaker path on a virtual sound card (PulseAudio null sinks).

Needs `pulseaudio`, `pulseaudio-utils` and `libasound2-plugins` (scripts/test installs them on
Debian); skipped, saying so, where they are missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TOOLS = ("pulseaudio", "pactl", "paplay", "parecord")


@pytest.fixture
def virtual_sound_card(tmp_path):
    """A private PulseAudio server: sinks `line` (the microphone hears it) and `speaker`."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing or not Path("/usr/share/alsa/alsa.conf.d").is_dir():
        pytest.skip(f"no virtual sound card: missing {', '.join(missing) or 'ALSA plugins'}")
    runtime = tmp_path / "pulse"
    runtime.mkdir()
    socket = runtime / "native"
    env = dict(
        os.environ,
        HOME=str(tmp_path),
        XDG_RUNTIME_DIR=str(runtime),
        PULSE_RUNTIME_PATH=str(runtime),
        PULSE_SERVER=f"unix:{socket}",
    )
    server = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
         "--use-pid-file=no", "--log-target=stderr",
         "-L", f"module-native-protocol-unix socket={socket} auth-anonymous=1",
         "-L", "module-null-sink sink_name=line",
         "-L", "module-null-sink sink_name=speaker"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"pulseaudio did not start: {server.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        subprocess.run(["pactl", "set-default-sink", "speaker"], env=env, check=True)
        subprocess.run(["pactl", "set-default-source", "line.monitor"], env=env, check=True)
        yield env
    finally:
        server.terminate()
        server.wait(10)


def dbfs_windows(path: Path, window_s: float = 0.1) -> np.ndarray:
    audio, rate = soundfile.read(path, dtype="float64")
    size = int(rate * window_s)
    frames = audio[: len(audio) // size * size].reshape(-1, size)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-9))


@pytest.mark.gui
@pytest.mark.slow
def test_a_call_through_the_microphone_and_speaker_of_a_sound_card(virtual_sound_card, tmp_path):
    env = dict(virtual_sound_card, WORKBENCH_HOME=str(tmp_path / "home"))
    caller_wav = tmp_path / "caller.wav"
    recording = tmp_path / "speaker.wav"
    subprocess.run(
        [sys.executable, "-m", "workbench", "say", "What are your opening hours?", "-o",
         str(caller_wav)],
        cwd=REPO, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(HERE / "soundcard_call.py"), str(caller_wav), str(recording)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(result)

    # The app found the card and used it for both directions.
    assert result["problem"] == ""
    assert (result["mic_selected"], result["speaker_selected"]) == ("default", "default")
    # What was played into the line reached the agent through the microphone...
    assert result["max_mic_dbfs"] > -40
    assert "opening hours" in result["caller_heard_as"], result
    assert result["agent_replied"] and result["ended"]
    # ...and the agent's voice came out of the speaker (about 6 s of greeting and reply on an
    # idle machine; a busy 2-core machine loses some to underruns, so ask for a second).
    loud = dbfs_windows(recording) > -45
    print(f"{loud.sum() * 0.1:.1f} s of agent audio at the speaker")
    assert loud.sum() * 0.1 >= 1.0, f"{loud.sum() * 0.1:.1f} s of agent audio at the speaker"
