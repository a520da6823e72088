#!/usr/bin/env python3
"""Generates the compressed-audio fixtures of the `vox-audio` tests (`src/compressed.rs`).

One deterministic 0.3 s stereo signal (two tones and noise, the channels differing), written by
libsndfile through `soundfile` (`pip install soundfile`, whose wheels bundle libsndfile 1.2 with
FLAC, Ogg Vorbis/Opus and MP3 through LAME/mpg123) under ../tests/fixtures/codecs/:

- stereo16.wav / stereo16.flac / stereo16.aiff: the same 16-bit PCM, 16 kHz: FLAC is lossless,
  so vox must decode the FLAC (and the AIFF) to exactly the samples of the WAV;
- mono24.wav / mono24.flac: the same at 24 bits, 48 kHz (one channel, 0.1 s);
- stereo.mp3 (44.1 kHz, MPEG-1 layer III) and stereo.ogg (Ogg Vorbis, 16 kHz), with
  stereo.mp3.ref.wav / stereo.ogg.ref.wav: libsndfile's decoding of each (mpg123 for MP3, libvorbis
  for Vorbis, both gapless: 13230 or 4800 frames, as written), mixed down to mono as vox does, as
  32-bit float WAV, which vox's own WAV reader reads; lossy decoders may differ in the last bits,
  so the test allows a tolerance;
- stereo.opus: Ogg Opus, which vox does not decode (the test checks the error says so);
- stereo8k_{ulaw,alaw,ima_adpcm,ms_adpcm}.wav: WAV encodings hound does not read (8 kHz, as
  telephone speech comes), with libsndfile's decoding of each, mixed down to mono, as
  `<name>.ref.wav`.

Run once from anywhere: `python3 stages/audio/scripts/make_codec_fixtures.py`. The Rust tests
read only the committed outputs; they never run Python.
"""

import os

import numpy as np
import soundfile as sf

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "codecs")


def signal(sr, seconds=0.3, seed=7):
    n = int(round(sr * seconds))
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)
    left = 0.4 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 660 * t)
    left += 0.05 * rng.standard_normal(n)
    right = 0.5 * left + 0.1 * rng.standard_normal(n)
    # A fade in and out, so the lossy encoders see no click at the edges.
    ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    return (np.stack([left, right], axis=1) * ramp[:, None]).clip(-1.0, 1.0)


def main():
    os.makedirs(OUT, exist_ok=True)
    x16 = signal(16000)
    pcm16 = np.round(x16 * 32767).astype(np.int16)
    for ext in ("wav", "flac", "aiff"):
        sf.write(os.path.join(OUT, f"stereo16.{ext}"), pcm16, 16000, subtype="PCM_16")
    x48 = signal(48000, seconds=0.1)[:, 0]
    pcm24 = (np.round(x48 * (2**23 - 1)).astype(np.int32) << 8)  # int32 container, 24 bits
    for ext in ("wav", "flac"):
        sf.write(os.path.join(OUT, f"mono24.{ext}"), pcm24, 48000, subtype="PCM_24")
    lossy = [
        ("stereo.mp3", signal(44100), 44100, dict(format="MP3")),
        ("stereo.ogg", x16, 16000, dict(format="OGG", subtype="VORBIS")),
    ]
    for name, x, sr, kind in lossy:
        path = os.path.join(OUT, name)
        sf.write(path, x.astype(np.float32), sr, **kind)
        decoded, rate = sf.read(path, dtype="float32")
        assert rate == sr and decoded.shape == x.shape, (name, decoded.shape, x.shape)
        # Mixed down as vox mixes (the channels' mean in f64, rounded once to f32).
        mono = decoded.astype(np.float64).mean(axis=1).astype(np.float32)
        sf.write(path + ".ref.wav", mono, sr, subtype="FLOAT")
    sf.write(os.path.join(OUT, "stereo.opus"), x16.astype(np.float32), 16000, format="OGG",
             subtype="OPUS")
    # WAV encodings hound does not read (telephone speech is often mu-law or A-law at 8 kHz):
    # the file and libsndfile's decoding of it, mixed down as vox does.
    x8 = signal(8000)
    for subtype in ("ULAW", "ALAW", "IMA_ADPCM", "MS_ADPCM"):
        path = os.path.join(OUT, f"stereo8k_{subtype.lower()}.wav")
        sf.write(path, x8.astype(np.float32), 8000, subtype=subtype)
        decoded, rate = sf.read(path, dtype="float32")
        assert rate == 8000, (subtype, rate)
        mono = decoded.astype(np.float64).mean(axis=1).astype(np.float32)
        sf.write(path + ".ref.wav", mono, 8000, subtype="FLOAT")


if __name__ == "__main__":
    main()
