"""Rational-ratio resampling that streams: 8 kHz ↔ 16 kHz, and 22.05 kHz TTS audio → 8 kHz.

`StreamingResampler` is a polyphase FIR filter that keeps its input history between calls, so
feeding a signal in 20 ms frames gives exactly the samples that feeding it whole would: no
clicks at frame boundaries. It is causal, so its output lags by `delay_samples` output samples
(the filter's group delay, made a whole number by the choice of filter length). `resample`
does the same job on a whole buffer with no lag (scipy's zero-phase `resample_poly`).
"""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy import signal

_TAPS_PER_PHASE = 32
_INT16_MIN, _INT16_MAX = np.float64(-32768), np.float64(32767)


def _ratio(src_rate: int, dst_rate: int) -> tuple[int, int]:
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate} → {dst_rate}")
    divisor = gcd(src_rate, dst_rate)
    return dst_rate // divisor, src_rate // divisor  # up, down


class StreamingResampler:
    """Resample a stream chunk by chunk, carrying filter state across chunks.

    `process(chunk)` returns every output sample that the input so far determines; int16 in
    gives int16 out (clipped), float in gives float32 out.
    """

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self.up, self.down = _ratio(src_rate, dst_rate)
        # Filter length 2*down*k + 1 makes the group delay (taps-1)/2 a whole number of output
        # samples, so a stream can be aligned with the zero-phase whole-buffer result exactly.
        k = max(1, round(_TAPS_PER_PHASE * self.up / (2 * self.down)))
        taps = 2 * self.down * k + 1
        cutoff = 1.0 / max(self.up, self.down)
        h = signal.firwin(taps, cutoff, window=("kaiser", 8.0)) * self.up
        phase_len = -(-taps // self.up)
        padded = np.zeros(phase_len * self.up)
        padded[:taps] = h
        # banks[p, m] = h[p + m*up]: the taps that touch input sample (k0//up - m) at phase p.
        self._banks = padded.reshape(phase_len, self.up).T.astype(np.float64)
        self._phase_len = phase_len
        self._banks_reversed = np.ascontiguousarray(self._banks[:, ::-1])
        self.delay_samples = (taps - 1) // (2 * self.down)
        self._history = np.zeros(phase_len - 1, dtype=np.float64)
        self._inputs_seen = 0  # input samples consumed so far
        self._next_output = 0  # index of the next output sample

    def reset(self) -> None:
        self._history[:] = 0.0
        self._inputs_seen = 0
        self._next_output = 0

    def process(self, chunk: np.ndarray) -> np.ndarray:
        chunk = np.asarray(chunk)
        is_int = chunk.dtype == np.int16
        if self.down == 1:
            return self._upsample(chunk, is_int)
        first_input = self._inputs_seen - len(self._history)
        buffer = np.concatenate([self._history, chunk.astype(np.float64)])
        x = chunk
        self._inputs_seen += len(x)
        # Output n needs input sample (n*down)//up, which must already have arrived.
        last_output = (self._inputs_seen * self.up - 1) // self.down
        n = np.arange(self._next_output, last_output + 1, dtype=np.int64)
        self._next_output = last_output + 1
        keep = self._phase_len - 1
        self._history = buffer[-keep:] if keep else buffer[:0]
        if len(self._history) < keep:
            self._history = np.concatenate([np.zeros(keep - len(self._history)), self._history])
        if n.size == 0:
            return np.zeros(0, dtype=np.int16 if is_int else np.float32)
        # The history always holds phase_len-1 samples (zeros before the stream began), so the
        # window ending at any needed input sample lies wholly inside the buffer.
        windows = np.ndarray(  # a sliding-window view; built directly because it is per frame
            (len(buffer) - self._phase_len + 1, self._phase_len),
            np.float64,
            buffer,
            0,
            (buffer.itemsize, buffer.itemsize),
        )
        k0 = n * self.down
        rows = k0 // self.up - first_input - (self._phase_len - 1)
        if self.up == 1:  # integer decimation: one phase, a strided matvec
            y = windows[rows] @ self._banks_reversed[0]
        else:
            y = np.einsum("ij,ij->i", windows[rows], self._banks_reversed[k0 % self.up])
        if is_int:
            return np.clip(np.round(y), -32768, 32767).astype(np.int16)
        return y.astype(np.float32)

    def _upsample(self, chunk: np.ndarray, is_int: bool) -> np.ndarray:
        """`process` for integer upsampling (8 → 16 kHz: every call's every frame), with the
        fewest numpy calls: each input sample yields `up` outputs, one matmul row each (every
        window feeds all phases)."""
        buffer = np.concatenate((self._history, chunk), dtype=np.float64)
        self._history = buffer[len(chunk) :]
        self._inputs_seen += len(chunk)
        self._next_output += len(chunk) * self.up
        windows = np.ndarray(
            (len(chunk), self._phase_len), np.float64, buffer, 0, (buffer.itemsize,) * 2
        )
        y = (windows @ self._banks_reversed.T).ravel()
        if is_int:
            np.rint(y, out=y)
            y.clip(_INT16_MIN, _INT16_MAX, out=y)  # (np.clip's wrapper costs 3× as much)
            return y.astype(np.int16)
        return y.astype(np.float32)

    def flush(self) -> np.ndarray:
        """Push out the samples still held back by the filter delay (feeds silence)."""
        tail_inputs = -(-self.delay_samples * self.down // self.up) + 1
        return self.process(np.zeros(tail_inputs, dtype=np.int16))


def resample(audio: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample a whole buffer with no lag; int16 in gives int16 out."""
    audio = np.asarray(audio)
    if src_rate == dst_rate:
        return audio.copy()
    up, down = _ratio(src_rate, dst_rate)
    y = signal.resample_poly(audio.astype(np.float64), up, down, window=("kaiser", 8.0))
    if audio.dtype == np.int16:
        return np.clip(np.round(y), -32768, 32767).astype(np.int16)
    return y.astype(np.float32)
