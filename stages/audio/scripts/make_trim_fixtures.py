#!/usr/bin/env python3
"""Generates the silence-trimming fixtures of the `vox-audio` tests (`src/trim.rs`): what
librosa.effects.trim (librosa 0.11) keeps of a few 16-bit WAVs, under ../tests/fixtures/trim/:

- speech.wav: 0.3 s of a faint noise floor (about -66 dBFS), 0.6 s of 180 Hz bursts with a
  syllable-like envelope over it, 0.3 s of the floor again (16 kHz);
- ramp.wav: a 440 Hz tone fading in over 0.5 s and out over 0.5 s exponentially (80 dB each
  way), so that each `top_db` cuts it at another frame;
- short.wav: 1000 samples of a burst between zeros (shorter than a 2048-sample frame);
- zeros.wav: 1600 zeros (nothing is louder than anything: librosa keeps it all).

trim.csv: `file,top_db,frame_length,hop_length,start,end` for each file under each setting
(librosa's defaults 60 dB / 2048 / 512, and the tighter settings SER preprocessing uses, an odd
frame among them); `start`/`end` are librosa's returned interval in samples.

split.csv: `file,top_db,frame_length,hop_length,intervals`: librosa.effects.split's non-silent
intervals under the same settings, as `start-end` pairs joined by spaces (samples), for
speech.wav, ramp.wav and pauses.wav (three 0.4 s bursts between 0.5 s of the floor, the
second 12 dB quieter: `vox predict --segment` cuts a recording where librosa splits it).

Run once from anywhere: `python3 stages/audio/scripts/make_trim_fixtures.py` (`pip install
librosa soundfile`). The Rust tests read only the committed outputs; they never run Python.
"""

import csv
import os

import librosa
import numpy as np
import soundfile as sf

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "trim")
SR = 16000


def speech():
    rng = np.random.default_rng(3)
    n = int(1.2 * SR)
    y = 0.0005 * rng.standard_normal(n)
    t = np.arange(int(0.6 * SR)) / SR
    envelope = np.sin(np.pi * (t * 5 % 1.0)) ** 2 * (0.5 + 0.5 * np.sin(2 * np.pi * 1.3 * t))
    y[int(0.3 * SR):int(0.9 * SR)] += 0.6 * envelope * np.sin(2 * np.pi * 180 * t)
    return y


def ramp():
    n = SR
    t = np.arange(n) / SR
    level_db = np.where(t < 0.5, -80 + 160 * t, -80 + 160 * (1 - t))
    return 0.9 * 10 ** (level_db / 20) * np.sin(2 * np.pi * 440 * t)


def short():
    y = np.zeros(1000)
    t = np.arange(300) / SR
    y[400:700] = 0.5 * np.sin(2 * np.pi * 300 * t)
    return y


def pauses():
    rng = np.random.default_rng(5)
    y = 0.0005 * rng.standard_normal(int(2.7 * SR))
    t = np.arange(int(0.4 * SR)) / SR
    burst = np.sin(np.pi * t / 0.4) * np.sin(2 * np.pi * 220 * t)
    for k, level in enumerate([0.5, 0.125, 0.5]):
        start = int((0.5 + 0.9 * k) * SR)
        y[start:start + len(t)] += level * burst
    return y


def main():
    os.makedirs(OUT, exist_ok=True)
    signals = {"speech": speech(), "ramp": ramp(), "short": short(), "zeros": np.zeros(1600), "pauses": pauses()}
    settings = [(60, 2048, 512), (30, 2048, 512), (20, 400, 160), (40, 1025, 300)]
    rows, splits = [], []
    for name, y in signals.items():
        path = os.path.join(OUT, f"{name}.wav")
        sf.write(path, np.clip(y, -1, 32767 / 32768), SR, subtype="PCM_16")
        # What a reader of the file gets: the 16-bit samples / 32768.
        y, _ = sf.read(path, dtype="float32")
        for top_db, frame, hop in settings:
            if name != "pauses":
                _, (start, end) = librosa.effects.trim(y, top_db=top_db, frame_length=frame, hop_length=hop)
                rows.append([f"{name}.wav", top_db, frame, hop, int(start), int(end)])
            if name in ("speech", "ramp", "pauses"):
                intervals = librosa.effects.split(y, top_db=top_db, frame_length=frame, hop_length=hop)
                splits.append([f"{name}.wav", top_db, frame, hop, " ".join(f"{s}-{e}" for s, e in intervals)])
    with open(os.path.join(OUT, "trim.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "top_db", "frame_length", "hop_length", "start", "end"])
        w.writerows(rows)
    with open(os.path.join(OUT, "split.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "top_db", "frame_length", "hop_length", "intervals"])
        w.writerows(splits)


if __name__ == "__main__":
    main()
