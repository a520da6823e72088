#!/usr/bin/env python3
"""Generates the reference fixtures of the `vox-features` tests.

Writes ~24 deterministic 16 kHz 16-bit mono clips (synthetic speech-like glottal-pulse + formant
signals with varying F0, loudness, tilt, jitter, shimmer, breathiness and pauses; pure tones;
noise; a chirp) under ../tests/fixtures/, then the references computed on those WAV files:

- egemaps_v02.csv: openSMILE's eGeMAPSv02 functionals (`pip install opensmile`, which ships
  libSMILEapi and the configs; runs offline),
- librosa_mfcc.csv / librosa_logmel.csv: librosa's MFCC and log-mel functionals with librosa's
  defaults as documented in `vox_features::librosa` (`pip install librosa`),
- librosa_mfcc_reflect_deltas.csv: MFCC with `pad_mode="reflect"` plus `feature.delta`,
- librosa_frames_<clip>.csv: one clip's MFCC frame matrix (frames x coefficients).

Run once from anywhere: `python3 stages/features/scripts/make_fixtures.py`. The Rust tests read
only the committed outputs; they never run Python.
"""

import os

import numpy as np
import scipy.signal
import soundfile as sf

SR = 16000
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures")

VOWELS = {  # (F, B) pairs in Hz
    "a": [(730, 90), (1090, 110), (2440, 170), (3400, 250)],
    "i": [(270, 60), (2290, 100), (3010, 200), (3700, 250)],
    "u": [(300, 70), (870, 90), (2240, 160), (3300, 250)],
    "e": [(530, 70), (1840, 110), (2480, 170), (3500, 250)],
    "o": [(570, 80), (840, 90), (2410, 160), (3400, 250)],
}


def f0_contour(n, kind, f0, rng):
    t = np.arange(n) / SR
    dur = n / SR
    if kind == "flat":
        return np.full(n, f0)
    if kind == "rise":
        return f0 * 2 ** (t / dur * 0.8)
    if kind == "fall":
        return f0 * 2 ** (-t / dur * 0.8)
    if kind == "vibrato":
        return f0 * 2 ** (0.08 * np.sin(2 * np.pi * 5.5 * t))
    if kind == "hat":
        return f0 * 2 ** (0.5 * np.sin(np.pi * t / dur))
    raise ValueError(kind)


def glottal_source(f0, jitter, shimmer, rng):
    """Rosenberg pulses, one period at a time, with per-period jitter and shimmer, differentiated
    (lip radiation)."""
    n = len(f0)
    out = np.zeros(n)
    pos = 0
    while pos < n - 1:
        period = SR / f0[pos] * (1.0 + jitter * rng.standard_normal())
        length = max(int(round(period)), 8)
        amp = 1.0 + shimmer * rng.standard_normal()
        k = np.arange(length)
        t_open, t_close = 0.55 * length, 0.25 * length
        pulse = np.where(
            k < t_open,
            0.5 * (1 - np.cos(np.pi * k / t_open)),
            np.where(k < t_open + t_close, np.cos(np.pi * (k - t_open) / (2 * t_close)), 0.0),
        )
        end = min(n, pos + length)
        out[pos:end] += amp * pulse[: end - pos]
        pos += length
    return np.diff(out, prepend=0.0)


def formant_filter(x, formants):
    for f, b in formants:
        r = np.exp(-np.pi * b / SR)
        theta = 2 * np.pi * f / SR
        a = [1.0, -2 * r * np.cos(theta), r * r]
        x = scipy.signal.lfilter([1.0 - r], a, x)
    return x


def envelope(n, pauses, rng):
    """A smooth on/off envelope: `pauses` is a list of (start_s, end_s) silent spans."""
    env = np.ones(n)
    for start, end in pauses:
        env[int(start * SR) : int(end * SR)] = 0.0
    ramp = np.hanning(int(0.02 * SR))
    ramp /= ramp.sum()
    return np.convolve(env, ramp, mode="same")


def speech(dur, f0, kind, vowels, level, tilt, jitter, shimmer, snr_db, pauses, seed):
    rng = np.random.default_rng(seed)
    n = int(dur * SR)
    src = glottal_source(f0_contour(n, kind, f0, rng), jitter, shimmer, rng)
    # one vowel per equal part of the clip
    parts = np.array_split(np.arange(n), len(vowels))
    y = np.zeros(n)
    for idx, v in zip(parts, vowels):
        y[idx] = formant_filter(src, VOWELS[v])[idx]
    y = scipy.signal.lfilter([1.0 - tilt], [1.0, -tilt], y)  # spectral tilt
    y /= np.max(np.abs(y)) + 1e-12
    noise = rng.standard_normal(n) * 10 ** (-snr_db / 20) * np.std(y)
    y = (y + noise) * envelope(n, pauses, rng)
    y += 1e-4 * rng.standard_normal(n)  # noise floor
    return level * y / np.max(np.abs(y))


def tone(dur, freq, level, seed):
    t = np.arange(int(dur * SR)) / SR
    rng = np.random.default_rng(seed)
    return level * np.sin(2 * np.pi * freq * t) + 1e-4 * rng.standard_normal(len(t))


def noise(dur, level, color, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(dur * SR))
    if color == "pink":
        x = scipy.signal.lfilter([1.0], [1.0, -0.95], x)
    return level * x / np.max(np.abs(x))


def chirp(dur, f_lo, f_hi, level):
    t = np.arange(int(dur * SR)) / SR
    return level * scipy.signal.chirp(t, f_lo, dur, f_hi, method="logarithmic")


def clips():
    s = speech
    return {
        "v01_a_flat_120": s(1.5, 120, "flat", "a", 0.5, 0.3, 0.005, 0.03, 30, [], 1),
        "v02_i_rise_180": s(1.5, 180, "rise", "i", 0.3, 0.5, 0.01, 0.05, 25, [], 2),
        "v03_u_fall_220": s(1.5, 220, "fall", "u", 0.6, 0.7, 0.003, 0.02, 35, [], 3),
        "v04_e_vib_150": s(1.2, 150, "vibrato", "e", 0.2, 0.4, 0.008, 0.04, 20, [], 4),
        "v05_o_hat_100": s(1.8, 100, "hat", "o", 0.7, 0.2, 0.004, 0.03, 30, [], 5),
        "v06_ai_flat_250": s(1.5, 250, "flat", "ai", 0.4, 0.6, 0.006, 0.05, 28, [], 6),
        "v07_ua_rise_90": s(2.0, 90, "rise", "ua", 0.5, 0.1, 0.01, 0.08, 15, [], 7),
        "v08_eo_fall_300": s(1.4, 300, "fall", "eo", 0.25, 0.8, 0.002, 0.02, 40, [], 8),
        "p01_aei_pauses_130": s(2.0, 130, "hat", "aei", 0.5, 0.4, 0.006, 0.04, 30,
                                [(0.5, 0.8), (1.3, 1.5)], 9),
        "p02_ou_pauses_200": s(1.8, 200, "vibrato", "ou", 0.3, 0.5, 0.008, 0.05, 25,
                               [(0.0, 0.3), (0.9, 1.2)], 10),
        "p03_ia_pauses_110": s(2.0, 110, "fall", "ia", 0.6, 0.3, 0.004, 0.03, 35,
                               [(0.4, 0.5), (1.0, 1.1), (1.6, 2.0)], 11),
        "p04_e_pauses_170": s(1.6, 170, "rise", "e", 0.15, 0.6, 0.012, 0.06, 20,
                              [(0.6, 1.0)], 12),
        "j01_a_jittery_140": s(1.5, 140, "flat", "a", 0.4, 0.4, 0.03, 0.02, 30, [], 13),
        "j02_i_shimmery_160": s(1.5, 160, "flat", "i", 0.4, 0.4, 0.003, 0.2, 30, [], 14),
        "j03_o_breathy_190": s(1.5, 190, "hat", "o", 0.4, 0.5, 0.006, 0.04, 8, [], 15),
        "j04_u_clean_210": s(1.5, 210, "vibrato", "u", 0.4, 0.5, 0.0, 0.0, 60, [], 16),
        "t01_tone_200": tone(1.0, 200, 0.3, 17),
        "t02_tone_440": tone(1.0, 440, 0.5, 18),
        "t03_tone_1000": tone(1.2, 1000, 0.2, 19),
        "n01_white": noise(1.0, 0.3, "white", 20),
        "n02_pink": noise(1.5, 0.5, "pink", 21),
        "n03_quiet_white": noise(1.2, 0.02, "white", 22),
        "c01_chirp": chirp(1.5, 80, 4000, 0.4),
        "c02_chirp_low": chirp(1.2, 60, 500, 0.5),
    }


def write_clips():
    os.makedirs(OUT, exist_ok=True)
    paths = []
    for name, y in clips().items():
        path = os.path.join(OUT, name + ".wav")
        pcm = np.clip(np.round(y * 32768), -32768, 32767).astype(np.int16)
        sf.write(path, pcm, SR, subtype="PCM_16")
        paths.append((name, path))
    return paths


def write_egemaps(paths):
    import opensmile

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
    )
    rows = []
    for name, path in paths:
        df = smile.process_file(path)
        rows.append([name] + [repr(float(v)) for v in df.iloc[0].values])
    with open(os.path.join(OUT, "egemaps_v02.csv"), "w") as f:
        f.write(",".join(["file_id"] + list(smile.feature_names)) + "\n")
        for row in rows:
            f.write(",".join(row) + "\n")


def functionals(matrix, prefix, row_names=None):
    """mean, std, p10, p50, p90 per row of a (coefficients x frames) matrix; rows are named
    `<prefix><index>` unless `row_names` are given."""
    names, values = [], []
    for i, row in enumerate(matrix):
        label = row_names[i] if row_names else f"{prefix}{i}"
        stats = {
            "mean": np.mean(row),
            "std": np.std(row),
            "p10": np.percentile(row, 10),
            "p50": np.percentile(row, 50),
            "p90": np.percentile(row, 90),
        }
        for k, v in stats.items():
            names.append(f"{label}_{k}")
            values.append(v)
    return names, values


def write_librosa(paths):
    import librosa

    mfcc_rows, logmel_rows, reflect_rows = [], [], []
    for name, path in paths:
        y, sr = librosa.load(path, sr=None)
        mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13, n_fft=512, hop_length=160, n_mels=40)
        mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=512, hop_length=160, n_mels=64)
        logmel = librosa.power_to_db(mel, ref=1.0, top_db=80.0)
        mfcc_names, mfcc_values = functionals(mfcc, "mfcc")
        logmel_names, logmel_values = functionals(logmel, "logmel")
        mfcc_rows.append((name, mfcc_values))
        # reflect padding and first-order deltas (width 9, mode "interp")
        mfcc_r = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13, n_fft=512, hop_length=160, n_mels=40,
                                      pad_mode="reflect")
        with_deltas = np.vstack([mfcc_r, librosa.feature.delta(mfcc_r)])
        row_names = [f"mfcc{i}" for i in range(13)] + [f"mfcc{i}_delta" for i in range(13)]
        reflect_names, reflect_values = functionals(with_deltas, "", row_names)
        reflect_rows.append((name, reflect_values))
        logmel_rows.append((name, logmel_values))
        if name == "v01_a_flat_120":
            np.savetxt(os.path.join(OUT, f"librosa_frames_{name}.csv"), mfcc.T, delimiter=",",
                       fmt="%.9g")
    for file, names, rows in [("librosa_mfcc.csv", mfcc_names, mfcc_rows),
                              ("librosa_logmel.csv", logmel_names, logmel_rows),
                              ("librosa_mfcc_reflect_deltas.csv", reflect_names, reflect_rows)]:
        with open(os.path.join(OUT, file), "w") as f:
            f.write(",".join(["file_id"] + names) + "\n")
            for name, values in rows:
                f.write(",".join([name] + [repr(float(v)) for v in values]) + "\n")


if __name__ == "__main__":
    paths = write_clips()
    write_egemaps(paths)
    write_librosa(paths)
    print(f"wrote {len(paths)} clips and references to {os.path.normpath(OUT)}")
