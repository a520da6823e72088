//! Slaney's mel scale and filterbank (librosa's `filters.mel(htk=False, norm="slaney")`), the
//! filterbank of two inputs in two stage crates: librosa's log-mel and MFCC features
//! (`vox-features`) and the log-mel spectrogram a Whisper encoder reads (`vox-wav2vec2`; HF's
//! `WhisperFeatureExtractor` builds the same bank with `norm="slaney", mel_scale="slaney"`).
//! Here so that both compute it in one place, with the sparse [`Filterbank`] that applies it
//! (and openSMILE's HTK-scale bank in `vox-features`).

/// Slaney's mel scale (librosa `htk=False`): linear below 1 kHz, logarithmic above.
pub fn hz_to_mel(f: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if f >= min_log_hz { min_log_mel + (f / min_log_hz).ln() / logstep } else { f / f_sp }
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(m: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if m >= min_log_mel { min_log_hz * (logstep * (m - min_log_mel)).exp() } else { f_sp * m }
}

/// The dense filterbank `[n_mels][n_fft / 2 + 1]` of librosa's `filters.mel(sr, n_fft, n_mels,
/// fmin, fmax, htk=False, norm="slaney")`: triangles at equal mel steps, each scaled to unit
/// area in Hz (`2 / (f2 - f0)`).
pub fn slaney_filterbank(sample_rate: f64, n_fft: usize, n_mels: usize, fmin: f64, fmax: f64) -> Vec<Vec<f64>> {
    let n_bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_bins).map(|k| k as f64 * sample_rate / n_fft as f64).collect();
    let (mlo, mhi) = (hz_to_mel(fmin), hz_to_mel(fmax));
    let mel_f: Vec<f64> = (0..n_mels + 2).map(|i| mel_to_hz(mlo + (mhi - mlo) * i as f64 / (n_mels + 1) as f64)).collect();
    (0..n_mels)
        .map(|m| {
            let (f0, f1, f2) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
            let enorm = 2.0 / (f2 - f0);
            fft_freqs
                .iter()
                .map(|&f| {
                    let lower = (f - f0) / (f1 - f0);
                    let upper = (f2 - f) / (f2 - f1);
                    lower.min(upper).max(0.0) * enorm
                })
                .collect()
        })
        .collect()
}

/// A bank of triangular (or any sparse) filters over spectrum bins.
#[derive(Clone, Debug)]
pub struct Filterbank {
    bands: Vec<(usize, Vec<f64>)>,
}

impl Filterbank {
    /// Builds the bank from dense rows (one per band, one weight per bin), keeping only the
    /// non-zero span of each row.
    pub fn from_dense(rows: Vec<Vec<f64>>) -> Self {
        let bands = rows
            .into_iter()
            .map(|row| {
                let start = row.iter().position(|&w| w != 0.0).unwrap_or(0);
                let end = row.iter().rposition(|&w| w != 0.0).map_or(start, |e| e + 1);
                (start, row[start..end].to_vec())
            })
            .collect();
        Self { bands }
    }

    /// Number of bands.
    pub fn len(&self) -> usize {
        self.bands.len()
    }

    /// Whether the bank has no bands.
    pub fn is_empty(&self) -> bool {
        self.bands.is_empty()
    }

    /// `out[m] = sum_k w[m][k] x[k]`.
    pub fn apply(&self, x: &[f64], out: &mut [f64]) {
        for (o, (start, w)) in out.iter_mut().zip(&self.bands) {
            *o = w.iter().zip(&x[*start..]).map(|(a, b)| a * b).sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_inverts_and_is_linear_to_1_khz() {
        for f in [0.0, 50.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(f)) - f).abs() < 1e-9);
        }
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(500.0) - 7.5).abs() < 1e-12);
    }

    /// Each triangle has unit area over frequency: its weights times the bin width sum to
    /// about 1 where the bins resolve it (the top filters span 9 to 14 bins).
    #[test]
    fn each_filter_has_unit_area() {
        let bank = slaney_filterbank(16000.0, 400, 80, 0.0, 8000.0);
        assert_eq!((bank.len(), bank[0].len()), (80, 201));
        let bin_hz = 16000.0 / 400.0;
        for row in &bank[64..] {
            let area: f64 = row.iter().sum::<f64>() * bin_hz;
            assert!((area - 1.0).abs() < 0.05, "{area}");
        }
    }
}
