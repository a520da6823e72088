//! openSMILE's contour smoothing and the functionals eGeMAPS applies to the smoothed contours:
//! `cContourSmoother` (3-frame moving average, edges padded by repetition; the `nz` variant
//! averages only non-zero neighbours and keeps zeros; the extra frame openSMILE's smoother
//! emits after end-of-input arrives after the functionals are computed, so it is left out), `cFunctionalMoments` (arithmetic mean, stddev / mean),
//! `cFunctionalPercentiles` (linear interpolation), `cFunctionalPeaks2` (peak count and
//! rising/falling slope statistics after its three peak-cleaning passes) and
//! `cFunctionalSegments` (`nonX`/`eqX` segments with minimum segment length 3 and minimum
//! pause 2 frames).

/// Frame period of every eGeMAPS contour, seconds.
pub const FRAME_PERIOD: f64 = 0.01;

/// 3-frame moving average into `out` (`x.len()` values, edges padded by repetition). With
/// `nonzero`, zeros stay zero and are left out of their neighbours' averages.
pub fn smooth(x: &[f64], nonzero: bool, out: &mut Vec<f64>) {
    out.clear();
    let n = x.len();
    if n == 0 {
        return;
    }
    let at = |i: i64| x[i.clamp(0, n as i64 - 1) as usize];
    for i in 0..n as i64 {
        let (p, c, q) = (at(i - 1), at(i), at(i + 1));
        let v = if nonzero {
            if c == 0.0 {
                0.0
            } else {
                let (s, k) = [p, q].iter().fold((c, 1.0), |(s, k), &v| if v != 0.0 { (s + v, k + 1.0) } else { (s, k) });
                s / k
            }
        } else {
            (p + c + q) / 3.0
        };
        out.push(v);
    }
}

/// The non-zero values of `x` (openSMILE's `nonZeroFuncts = 1`).
pub fn nonzero(x: &[f64], out: &mut Vec<f64>) {
    out.clear();
    out.extend(x.iter().copied().filter(|&v| v != 0.0));
}

/// Arithmetic mean (0 for no values).
pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() { 0.0 } else { x.iter().sum::<f64>() / x.len() as f64 }
}

/// `[amean, stddevNorm]` with openSMILE's `stddevNorm = 2` (divide by the signed mean, by 1
/// when the mean is 0; 0 for a constant or empty input).
pub fn mean_stddev_norm(x: &[f64]) -> [f64; 2] {
    if x.is_empty() {
        return [0.0, 0.0];
    }
    let m = mean(x);
    let var = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / x.len() as f64;
    let norm = if var > 0.0 { var.sqrt() / if m == 0.0 { 1.0 } else { m } } else { 0.0 };
    [m, norm]
}

/// `[p20, p50, p80, |p80 - p20|]`, linearly interpolated; `sorted` is scratch.
pub fn percentiles(x: &[f64], sorted: &mut Vec<f64>) -> [f64; 4] {
    if x.is_empty() {
        return [0.0; 4];
    }
    sorted.clear();
    sorted.extend_from_slice(x);
    sorted.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        let idx = p * (sorted.len() - 1) as f64;
        let (i1, i2) = (idx.floor() as usize, idx.ceil() as usize);
        if i1 != i2 { sorted[i1] * (i2 as f64 - idx) + sorted[i2] * (idx - i1 as f64) } else { sorted[i1] }
    };
    let (p20, p50, p80) = (pct(0.2), pct(0.5), pct(0.8));
    [p20, p50, p80, (p80 - p20).abs()]
}

#[derive(Clone, Copy, Debug)]
struct Extremum {
    is_max: bool,
    x: i64,
    y: f64,
    alive: bool,
}

/// Results of [`peaks`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PeakStats {
    /// Peaks per second.
    pub peaks_per_sec: f64,
    /// Mean rising slope, units per second.
    pub mean_rising: f64,
    /// Standard deviation of rising slopes.
    pub stddev_rising: f64,
    /// Mean falling slope, units per second.
    pub mean_falling: f64,
    /// Standard deviation of falling slopes.
    pub stddev_falling: f64,
}

/// `cFunctionalPeaks2` with `relThresh = 0.1` (absolute threshold 0.1 x range), slopes in
/// units per second (`norm = seconds`, 10 ms frames).
pub fn peaks(x: &[f64], list: &mut Vec<usize>) -> PeakStats {
    let n = x.len();
    if n == 0 {
        return PeakStats::default();
    }
    let (min, max) = x.iter().fold((x[0], x[0]), |(a, b), &v| (a.min(v), b.max(v)));
    let thresh = 0.1 * (max - min);
    let below = |diff: f64| diff < thresh;
    let mut el: Vec<Extremum> = Vec::new();
    for i in 2..n.saturating_sub(2) {
        if x[i] > x[i - 1] && x[i] > x[i + 1] {
            el.push(Extremum { is_max: true, x: i as i64, y: x[i], alive: true });
        } else if x[i] < x[i - 1] && x[i] < x[i + 1] {
            el.push(Extremum { is_max: false, x: i as i64, y: x[i], alive: true });
        }
    }
    // step 2a: minimum rise/fall
    let (mut last_val, mut last_min, mut last_max) = (x[0], x[0], x[0]);
    let mut min_flag = false;
    let mut last_max_ptr: Option<usize> = None;
    for k in 0..el.len() {
        let e = el[k];
        if e.is_max {
            if below((e.y - last_val).abs()) {
                if below(e.y - last_min) {
                    el[k].alive = false;
                } else {
                    if e.y > last_max * 1.05 {
                        if let Some(p) = last_max_ptr {
                            el[p].alive = false;
                        }
                        last_max = e.y;
                        last_max_ptr = Some(k);
                    } else if min_flag {
                        last_max = e.y;
                        last_max_ptr = Some(k);
                    } else {
                        el[k].alive = false;
                    }
                    min_flag = false;
                }
            } else {
                min_flag = false;
                last_max = e.y;
                last_max_ptr = Some(k);
            }
        } else if !below((e.y - last_val).abs()) {
            min_flag = true;
            last_min = e.y;
        }
        last_val = e.y;
    }
    el.retain(|e| e.alive);
    // step 2b: small minima
    let mut last_max = x[0];
    for e in el.iter_mut() {
        if !e.is_max {
            if below(last_max - e.y) {
                e.alive = false;
            }
        } else {
            last_max = e.y;
        }
    }
    el.retain(|e| e.alive);
    // step 3: alternate minima and maxima, keeping the more extreme of repeated ones
    let (mut last_min, mut last_max) = (x[0], x[0]);
    let (mut min_flag, mut init) = (false, true);
    let (mut last_min_ptr, mut last_max_ptr) = (0usize, 0usize);
    for k in 0..el.len() {
        let e = el[k];
        if !e.is_max {
            if !min_flag || init {
                last_min = e.y;
                last_min_ptr = k;
                min_flag = true;
                init = false;
            } else if e.y >= last_min {
                el[k].alive = false;
            } else {
                el[last_min_ptr].alive = false;
                last_min_ptr = k;
                last_min = e.y;
            }
        } else if min_flag || init {
            last_max = e.y;
            last_max_ptr = k;
            min_flag = false;
            init = false;
        } else if e.y <= last_max {
            el[k].alive = false;
        } else {
            el[last_max_ptr].alive = false;
            last_max_ptr = k;
            last_max = e.y;
        }
    }
    list.clear();
    list.extend((0..el.len()).filter(|&k| el[k].alive));
    let n_peaks = list.iter().filter(|&&k| el[k].is_max).count();

    // slopes
    let t = FRAME_PERIOD;
    let slopes = |f: &mut dyn FnMut(bool, f64)| {
        let (mut lmax, mut lmax_pos, mut lmin, mut lmin_pos) = (x[0], 0i64, x[0], 0i64);
        let mut last_is_max: Option<bool> = None;
        for &k in list.iter() {
            let e = el[k];
            if !e.is_max {
                lmin = e.y;
                lmin_pos = e.x;
                if lmin_pos - lmax_pos > 0 {
                    f(false, (lmax - lmin) / ((lmin_pos - lmax_pos) as f64 * t));
                    last_is_max = Some(false);
                }
            } else {
                lmax = e.y;
                lmax_pos = e.x;
                if lmax_pos - lmin_pos > 0 {
                    f(true, (lmax - lmin) / ((lmax_pos - lmin_pos) as f64 * t));
                    last_is_max = Some(true);
                }
            }
        }
        (last_is_max, lmax, lmax_pos, lmin, lmin_pos)
    };
    let (mut sum_r, mut n_r, mut sum_f, mut n_f) = (0.0, 0usize, 0.0, 0usize);
    let (last_is_max, lmax, lmax_pos, lmin, lmin_pos) = slopes(&mut |rising, s| {
        if rising {
            sum_r += s;
            n_r += 1;
        } else {
            sum_f += s;
            n_f += 1;
        }
    });
    let last = n as i64 - 1;
    match last_is_max {
        Some(true) if last - lmax_pos > 0 => {
            sum_f += (x[n - 1] - lmax) / ((last - lmax_pos) as f64 * t);
            n_f += 1;
        }
        Some(false) if last - lmin_pos > 0 => {
            sum_r += (x[n - 1] - lmin) / ((last - lmin_pos) as f64 * t);
            n_r += 1;
        }
        None => {
            let s = (x[n - 1] - x[0]) / n as f64;
            if s > 0.0 {
                sum_r = s;
                n_r = 1;
            } else if s < 0.0 {
                sum_f = s;
                n_f = 1;
            }
        }
        _ => {}
    }
    let mean_r = if n_r > 1 { sum_r / n_r as f64 } else { sum_r };
    let mean_f = if n_f > 1 { sum_f / n_f as f64 } else { sum_f };
    // the stddev pass revisits only the list's slopes (not the end-of-input slope)
    let (mut var_r, mut var_f) = (0.0, 0.0);
    slopes(&mut |rising, s| {
        if rising {
            var_r += (s - mean_r) * (s - mean_r);
        } else {
            var_f += (s - mean_f) * (s - mean_f);
        }
    });
    if n_r > 1 {
        var_r /= n_r as f64;
    }
    if n_f > 1 {
        var_f /= n_f as f64;
    }
    PeakStats {
        peaks_per_sec: n_peaks as f64 / (n as f64 * t),
        mean_rising: mean_r,
        stddev_rising: if var_r > 0.0 { var_r.sqrt() } else { 0.0 },
        mean_falling: mean_f,
        stddev_falling: if var_f > 0.0 { var_f.sqrt() } else { 0.0 },
    }
}

/// `[segments per second, mean segment length (s), segment length stddev (s)]` of the
/// segments where `inside(value)` holds (`cFunctionalSegments` `nonX`/`eqX`, `norm = second`).
pub fn segments(x: &[f64], inside: impl Fn(f64) -> bool) -> [f64; 3] {
    const SEG_MIN: i64 = 3;
    const PAUSE_MIN: i64 = 2;
    let n = x.len() as i64;
    if n == 0 {
        return [0.0; 3];
    }
    let mut lens: Vec<i64> = Vec::new();
    let (mut start_index, mut state, mut seg_start, mut seg_end) = (0i64, 0u8, 0i64, 0i64);
    for (i, &v) in x.iter().enumerate() {
        let i = i as i64;
        if inside(v) {
            match state {
                1 => {
                    seg_end = 0;
                    seg_start += 1;
                    if seg_start >= SEG_MIN {
                        seg_start = 0;
                        state = 2;
                    }
                }
                0 => {
                    seg_start += 1;
                    start_index = i;
                    state = 1;
                }
                _ => seg_end = 0,
            }
        } else if state == 2 {
            seg_start = 0;
            seg_end += 1;
            if seg_end >= PAUSE_MIN {
                state = 0;
                lens.push(i - seg_end - start_index);
                seg_end = 0;
            }
        } else if state == 1 {
            seg_end += 1;
            if seg_end >= PAUSE_MIN {
                state = 0;
                seg_end = 0;
                seg_start = 0;
            }
        }
    }
    if state == 2 {
        seg_end += 1;
        lens.push(n - seg_end - start_index);
    }
    let count = lens.len();
    let total: i64 = lens.iter().sum();
    let mean = if count > 1 { total as f64 / count as f64 } else { total as f64 };
    let dev = if count > 1 {
        (lens.iter().map(|&l| (l as f64 - mean) * (l as f64 - mean)).sum::<f64>() / count as f64).sqrt()
    } else {
        0.0
    };
    let t = FRAME_PERIOD;
    [count as f64 / (n as f64 * t), mean * t, dev * t]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_pads_edges_by_repetition() {
        let mut out = Vec::new();
        smooth(&[3.0, 6.0, 0.0, 3.0], false, &mut out);
        assert_eq!(out, vec![4.0, 3.0, 3.0, 2.0]);
        smooth(&[3.0, 6.0, 0.0, 3.0], true, &mut out);
        assert_eq!(out, vec![4.0, 4.5, 0.0, 3.0]);
    }

    #[test]
    fn moments_and_percentiles() {
        assert_eq!(mean_stddev_norm(&[1.0, 3.0]), [2.0, 0.5]);
        assert_eq!(mean_stddev_norm(&[-1.0, 1.0]), [0.0, 1.0]);
        let mut s = Vec::new();
        let p = percentiles(&[5.0, 1.0, 2.0, 3.0, 4.0, 6.0], &mut s);
        assert_eq!(p, [2.0, 3.5, 5.0, 3.0]);
    }

    #[test]
    fn segments_of_a_voiced_unvoiced_pattern() {
        // voiced runs of 5 and 10 frames, pauses of 3 frames
        let mut x = vec![0.0; 3];
        x.extend([1.0; 5]);
        x.extend([0.0; 3]);
        x.extend([1.0; 10]);
        x.extend([0.0; 3]);
        let voiced = segments(&x, |v| v != 0.0);
        // openSMILE counts a segment as (last index - first index): 4 and 9 frames
        assert!((voiced[0] - 2.0 / 0.24).abs() < 1e-9);
        assert!((voiced[1] - 0.065).abs() < 1e-12);
        assert!((voiced[2] - 0.025).abs() < 1e-12);
    }

    #[test]
    fn peaks_of_a_triangle_wave() {
        // period 20 frames, amplitude 0..10
        let x: Vec<f64> = (0..200).map(|i| { let p = i % 20; if p < 10 { p as f64 } else { (20 - p) as f64 } }).collect();
        let mut l = Vec::new();
        let s = peaks(&x, &mut l);
        assert!((s.peaks_per_sec - 10.0 / 2.0).abs() < 1e-9, "{s:?}");
        assert!((s.mean_rising - 100.0).abs() < 1e-9, "{s:?}");
        // nine falling slopes of 100 plus openSMILE's end-of-input slope (0 - 10) / 0.09 s,
        // which enters the mean but not the stddev pass
        assert!((s.mean_falling - 80.0).abs() < 1e-9, "{s:?}");
        assert!((s.stddev_falling - 360f64.sqrt()).abs() < 1e-9, "{s:?}");
        assert!(s.stddev_rising < 1e-9);
    }
}
