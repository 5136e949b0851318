"""Telephone audio: G.711 μ-law, resampling, 20 ms frames, WAV files, the caller's network leg."""
