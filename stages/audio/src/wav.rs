//! WAV reading (any PCM or float layout `hound` reads, mixed down to mono) and 16-bit writing.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use hound::{SampleFormat, WavReader, WavSpec, WavWriter};

use crate::error::{AudioError, FileError};

/// A decoded mono signal.
#[cfg(test)]
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Mono {
    /// Samples in [-1, 1).
    pub samples: Vec<f32>,
    /// Sample rate, Hz.
    pub sample_rate: u32,
}

/// [`WavBuffers::read_mono`] into a fresh signal.
#[cfg(test)]
pub(crate) fn read_mono(path: &Path) -> Result<Mono, FileError> {
    let mut buffers = WavBuffers::default();
    let (samples, sample_rate) = buffers.read_mono(path)?;
    Ok(Mono { samples: samples.to_vec(), sample_rate })
}

/// Buffers reused from one WAV file to the next (one set per worker thread): the data chunk's
/// bytes and the decoded samples. Fresh buffers for every file cost page faults and zeroed
/// pages, as allocations this large come straight from the kernel.
#[derive(Default)]
pub struct WavBuffers {
    /// The data chunk, as read.
    bytes: Vec<u8>,
    /// The samples: interleaved, then mixed down in place.
    samples: Vec<f32>,
}

impl WavBuffers {
    /// The mono samples of the last successful [`Self::read_mono`].
    pub(crate) fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// Reads `path` (8-bit unsigned, 16/24/32-bit PCM or 32-bit float, plain or
    /// WAVE_FORMAT_EXTENSIBLE), scales integers by 2^(bits-1) and averages the channels.
    /// Returns the mono samples (valid until the next read) and the sample rate in Hz.
    pub fn read_mono(&mut self, path: &Path) -> Result<(&[f32], u32), FileError> {
        self.read(path, Downmix::Mean)
    }

    /// [`Self::read_mono`], the channels made one by `downmix`.
    pub(crate) fn read(&mut self, path: &Path, downmix: Downmix) -> Result<(&[f32], u32), FileError> {
        let (_, channels, rate) = self.read_interleaved(path)?;
        mix_down(&mut self.samples, channels, downmix)?;
        Ok((&self.samples, rate))
    }

    /// Reads `path` as [`Self::read_mono`] does, its channels left interleaved: the samples
    /// (valid until the next read), the channel count and the sample rate in Hz.
    pub(crate) fn read_interleaved(&mut self, path: &Path) -> Result<(&[f32], usize, u32), FileError> {
        let reader = WavReader::open(path)?;
        let spec = reader.spec();
        let count = reader.len() as usize;
        let mut data = reader.into_inner();
        // hound stops right after the data chunk's 4-byte size field; its size over the sample
        // count is the container width, which `spec` does not give (24-bit samples may be
        // stored in 4 bytes).
        data.seek_relative(-4).map_err(hound::Error::IoError)?;
        let mut size = [0u8; 4];
        data.read_exact(&mut size).map_err(hound::Error::IoError)?;
        let width = u32::from_le_bytes(size) as usize / count.max(1);
        let bulk = match (spec.sample_format, spec.bits_per_sample, width) {
            (SampleFormat::Int, 8, 1) => Some(Layout::U8),
            (SampleFormat::Int, 16, 2) => Some(Layout::I16),
            (SampleFormat::Int, 24, 3) => Some(Layout::I24),
            (SampleFormat::Int, 32, 4) => Some(Layout::I32),
            (SampleFormat::Float, 32, 4) => Some(Layout::F32),
            _ => None,
        };
        let samples = &mut self.samples;
        samples.clear();
        match bulk {
            // The data chunk in one read, converted over contiguous bytes: hound's per-sample
            // iterator (one buffered read, one `Result` per sample) was 40% of decoding.
            Some(layout) => {
                self.bytes.resize(count * width, 0);
                data.read_exact(&mut self.bytes).map_err(hound::Error::IoError)?;
                layout.convert(&self.bytes, samples);
            }
            // Anything else hound reads (24-bit samples in 4-byte containers), sample by
            // sample.
            None => {
                drop(data);
                read_with_hound(WavReader::open(path)?, samples)?;
            }
        }
        if samples.is_empty() {
            return Err(FileError::Empty);
        }
        Ok((samples, usize::from(spec.channels.max(1)), spec.sample_rate))
    }
}

/// How a file's channels become the one channel a clip has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Downmix {
    /// The mean of every channel.
    #[default]
    Mean,
    /// One channel, 0-based (a stereo recording's close-talk microphone, one speaker of two).
    Channel(usize),
}

/// Makes the `channels` interleaved channels of `samples` one by `downmix`, in place (see
/// [`mixed`]). A channel the file lacks is an error.
pub(crate) fn mix_down(samples: &mut Vec<f32>, channels: usize, downmix: Downmix) -> Result<(), FileError> {
    check_channel(channels, downmix)?;
    if channels <= 1 {
        return Ok(());
    }
    // In place: frame i is written at i, after it was read from i * channels >= i.
    let frames = samples.len() / channels;
    for i in 0..frames {
        samples[i] = mixed(&samples[i * channels..(i + 1) * channels], downmix);
    }
    samples.truncate(frames);
    Ok(())
}

/// Frames `frames` of the `channels` interleaved channels of `samples`, made one by `downmix`,
/// into `out` (its contents replaced): a segment of a multichannel recording mixed without
/// mixing the rest. A channel the file lacks is an error.
pub(crate) fn mix_frames(
    samples: &[f32],
    channels: usize,
    downmix: Downmix,
    frames: std::ops::Range<usize>,
    out: &mut Vec<f32>,
) -> Result<(), FileError> {
    check_channel(channels, downmix)?;
    let channels = channels.max(1);
    out.clear();
    out.extend(samples[frames.start * channels..frames.end * channels].chunks_exact(channels).map(|frame| mixed(frame, downmix)));
    Ok(())
}

/// A channel `downmix` names that a file of `channels` channels lacks, as the error.
fn check_channel(channels: usize, downmix: Downmix) -> Result<(), FileError> {
    match downmix {
        Downmix::Channel(channel) if channel >= channels => Err(FileError::NoChannel { channel: channel + 1, channels }),
        _ => Ok(()),
    }
}

/// One frame's value: its `downmix` channel, or its mean in f64 rounded once to f32. Every
/// reader of this crate ends here, so a file's mono signal does not depend on its container.
fn mixed(frame: &[f32], downmix: Downmix) -> f32 {
    match downmix {
        _ if frame.len() == 1 => frame[0],
        Downmix::Channel(channel) => frame[channel],
        Downmix::Mean => (frame.iter().map(|&s| f64::from(s)).sum::<f64>() / frame.len() as f64) as f32,
    }
}

/// A sample layout read in bulk: format, bits and container width.
#[derive(Clone, Copy)]
enum Layout {
    /// 8-bit unsigned PCM (128 is zero).
    U8,
    /// 16-bit signed little-endian PCM.
    I16,
    /// 24-bit signed little-endian PCM in 3 bytes.
    I24,
    /// 32-bit signed little-endian PCM.
    I32,
    /// 32-bit little-endian IEEE float.
    F32,
}

impl Layout {
    /// The samples in `bytes`, integers scaled by 2^(bits-1). Every integer conversion is
    /// exact or a single rounding (v as f32 times a power of two), so this equals the sample
    /// by sample path bit for bit.
    fn convert(self, bytes: &[u8], out: &mut Vec<f32>) {
        match self {
            Layout::U8 => out.extend(bytes.iter().map(|&b| (f32::from(b) - 128.0) / 128.0)),
            Layout::I16 => {
                convert(bytes, out, |b: [u8; 2]| f32::from(i16::from_le_bytes(b)) / 32768.0)
            }
            Layout::I24 => convert(bytes, out, |b: [u8; 3]| {
                // The three bytes as the top of an i32, shifted back down with sign extension.
                (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 / 8_388_608.0
            }),
            Layout::I32 => convert(bytes, out, |b: [u8; 4]| {
                i32::from_le_bytes(b) as f32 * (1.0 / 2_147_483_648.0)
            }),
            Layout::F32 => convert(bytes, out, f32::from_le_bytes),
        }
    }
}

/// `bytes` in `N`-byte groups, each mapped by `sample`, appended to `out`.
fn convert<const N: usize>(bytes: &[u8], out: &mut Vec<f32>, sample: impl Fn([u8; N]) -> f32) {
    out.extend(bytes.as_chunks::<N>().0.iter().map(|&b| sample(b)));
}

/// Every sample of `reader` through hound's iterator, integers scaled by 2^(bits-1),
/// appended to `out`.
fn read_with_hound(
    reader: WavReader<BufReader<File>>,
    out: &mut Vec<f32>,
) -> Result<(), FileError> {
    let spec = reader.spec();
    match spec.sample_format {
        SampleFormat::Float => {
            for sample in reader.into_samples::<f32>() {
                out.push(sample?);
            }
        }
        SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f64;
            for sample in reader.into_samples::<i32>() {
                out.push((f64::from(sample?) * scale) as f32);
            }
        }
    }
    Ok(())
}

/// Writes `samples` (clamped to [-1, 1]) as a 16-bit mono WAV file.
pub(crate) fn write_pcm16(
    path: &Path,
    samples: &[f32],
    sample_rate: u32,
) -> Result<(), AudioError> {
    let spec =
        WavSpec { channels: 1, sample_rate, bits_per_sample: 16, sample_format: SampleFormat::Int };
    let wav_err = |source| AudioError::WavWrite { path: path.to_path_buf(), source };
    let mut writer = WavWriter::create(path, spec).map_err(wav_err)?;
    for &s in samples {
        let value = (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16;
        writer.write_sample(value).map_err(wav_err)?;
    }
    writer.finalize().map_err(wav_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hound::WavSpecEx;

    fn write_wav<S: hound::Sample + Copy>(path: &Path, spec: WavSpec, samples: &[S]) {
        let mut writer = WavWriter::create(path, spec).unwrap();
        for &s in samples {
            writer.write_sample(s).unwrap();
        }
        writer.finalize().unwrap();
    }

    fn spec(channels: u16, bits: u16, format: SampleFormat) -> WavSpec {
        WavSpec { channels, sample_rate: 8000, bits_per_sample: bits, sample_format: format }
    }

    #[test]
    fn every_bit_depth_decodes_to_known_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        // 8-bit is stored unsigned: hound's i8 -128, 0, 64 are bytes 0, 128, 192.
        write_wav(&path, spec(1, 8, SampleFormat::Int), &[-128i8, 0, 64]);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[bytes.len() - 3..], &[0u8, 128, 192]);
        assert_eq!(read_mono(&path).unwrap().samples, vec![-1.0, 0.0, 0.5]);

        write_wav(&path, spec(1, 16, SampleFormat::Int), &[-32768i16, 16384, 32767]);
        assert_eq!(read_mono(&path).unwrap().samples, vec![-1.0, 0.5, 32767.0 / 32768.0]);

        write_wav(&path, spec(1, 24, SampleFormat::Int), &[-8_388_608i32, 4_194_304, -1]);
        assert_eq!(read_mono(&path).unwrap().samples, vec![-1.0, 0.5, -1.0 / 8_388_608.0]);

        write_wav(&path, spec(1, 32, SampleFormat::Int), &[i32::MIN, 1 << 30, -(1 << 29)]);
        assert_eq!(read_mono(&path).unwrap().samples, vec![-1.0, 0.5, -0.25]);

        write_wav(&path, spec(1, 32, SampleFormat::Float), &[0.25f32, -0.75, 1.0]);
        let mono = read_mono(&path).unwrap();
        assert_eq!(mono.samples, vec![0.25, -0.75, 1.0]);
        assert_eq!(mono.sample_rate, 8000);
    }

    #[test]
    fn bulk_reads_equal_hounds_sample_by_sample_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        // A ramp through each layout's whole range, stereo so that the mix-down is covered too.
        let ramp = |bits: u32| -> Vec<i32> {
            let (low, high) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
            (0..1000).map(|i| (low + (high - low) * i / 999) as i32).collect()
        };
        let hound_read = |path: &Path| {
            let mut all = Vec::new();
            read_with_hound(WavReader::open(path).unwrap(), &mut all).unwrap();
            all
        };
        let check = |path: &Path| {
            let mono = read_mono(path).unwrap().samples;
            let all = hound_read(path);
            let mixed: Vec<f32> = all
                .chunks_exact(2)
                .map(|f| ((f64::from(f[0]) + f64::from(f[1])) / 2.0) as f32)
                .collect();
            assert_eq!(mono, mixed);
        };
        for bits in [8u16, 16, 24, 32] {
            let samples = ramp(u32::from(bits));
            let mut writer = WavWriter::create(&path, spec(2, bits, SampleFormat::Int)).unwrap();
            for &v in &samples {
                writer.write_sample(v).unwrap();
            }
            writer.finalize().unwrap();
            check(&path);
        }
        let floats: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 1.5).collect();
        write_wav(&path, spec(2, 32, SampleFormat::Float), &floats);
        check(&path);
        assert_eq!(hound_read(&path), floats);
    }

    #[test]
    fn samples_of_24_bits_in_4_byte_containers_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        let spec = WavSpecEx { spec: spec(1, 24, SampleFormat::Int), bytes_per_sample: 4 };
        let mut writer = WavWriter::new_with_spec_ex(File::create(&path).unwrap(), spec).unwrap();
        for v in [-8_388_608i32, 4_194_304, -1] {
            writer.write_sample(v).unwrap();
        }
        writer.finalize().unwrap();
        // 4-byte containers: 3 samples take 12 bytes at the end of the file.
        assert_eq!(std::fs::metadata(&path).unwrap().len() % 4, 0);
        assert_eq!(read_mono(&path).unwrap().samples, vec![-1.0, 0.5, -1.0 / 8_388_608.0]);
    }

    #[test]
    fn one_channel_is_kept_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stereo.wav");
        write_wav(&path, spec(2, 16, SampleFormat::Int), &[16384i16, 0, -16384, -8192, 8192, 24576]);
        let mut buffers = WavBuffers::default();
        assert_eq!(buffers.read(&path, Downmix::Channel(0)).unwrap(), (&[0.5, -0.5, 0.25][..], 8000));
        assert_eq!(buffers.read(&path, Downmix::Channel(1)).unwrap(), (&[0.0, -0.25, 0.75][..], 8000));
        let err = buffers.read(&path, Downmix::Channel(2)).unwrap_err();
        assert_eq!(err.to_string(), "`channel = 3` but the file has 2 channel(s)");
        // A mono file's one channel is channel 1.
        write_wav(&path, spec(1, 16, SampleFormat::Int), &[16384i16, -8192]);
        assert_eq!(buffers.read(&path, Downmix::Channel(0)).unwrap().0, [0.5, -0.25]);
    }

    #[test]
    fn channels_are_averaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stereo.wav");
        write_wav(
            &path,
            spec(2, 16, SampleFormat::Int),
            &[16384i16, 0, -16384, -16384, 8192, 24576],
        );
        assert_eq!(read_mono(&path).unwrap().samples, vec![0.25, -0.5, 0.5]);
        // Three channels make hound write WAVE_FORMAT_EXTENSIBLE.
        write_wav(&path, spec(3, 16, SampleFormat::Int), &[3276i16, 6552, 9828]);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[20..22], &0xfffeu16.to_le_bytes());
        let mono = read_mono(&path).unwrap().samples;
        assert_eq!(mono.len(), 1);
        assert!((mono[0] - 6552.0 / 32768.0).abs() < 1e-7, "{mono:?}");
    }

    /// A WAVE_FORMAT_EXTENSIBLE header written by hand: 2 channels, 16-bit PCM in a 40-byte
    /// `fmt ` chunk with the KSDATAFORMAT_SUBTYPE_PCM GUID, which hound never writes for
    /// 16-bit stereo.
    fn extensible_pcm16_stereo(frames: &[[i16; 2]]) -> Vec<u8> {
        let data: Vec<u8> = frames.iter().flatten().flat_map(|s| s.to_le_bytes()).collect();
        let mut fmt = Vec::new();
        fmt.extend(0xfffeu16.to_le_bytes()); // wFormatTag
        fmt.extend(2u16.to_le_bytes()); // nChannels
        fmt.extend(22050u32.to_le_bytes()); // nSamplesPerSec
        fmt.extend((22050u32 * 4).to_le_bytes()); // nAvgBytesPerSec
        fmt.extend(4u16.to_le_bytes()); // nBlockAlign
        fmt.extend(16u16.to_le_bytes()); // wBitsPerSample
        fmt.extend(22u16.to_le_bytes()); // cbSize
        fmt.extend(16u16.to_le_bytes()); // wValidBitsPerSample
        fmt.extend(3u32.to_le_bytes()); // dwChannelMask: front left | front right
        fmt.extend([1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]); // PCM GUID
        let mut bytes = b"RIFF".to_vec();
        bytes.extend((4 + 8 + fmt.len() as u32 + 8 + data.len() as u32).to_le_bytes());
        bytes.extend(b"WAVEfmt ");
        bytes.extend((fmt.len() as u32).to_le_bytes());
        bytes.extend(fmt);
        bytes.extend(b"data");
        bytes.extend((data.len() as u32).to_le_bytes());
        bytes.extend(data);
        bytes
    }

    #[test]
    fn hand_made_extensible_header_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ext.wav");
        std::fs::write(&path, extensible_pcm16_stereo(&[[8192, 24576], [-32768, 0]])).unwrap();
        let mono = read_mono(&path).unwrap();
        assert_eq!(mono.sample_rate, 22050);
        assert_eq!(mono.samples, vec![0.5, -0.5]);
    }

    #[test]
    fn broken_files_are_classified() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.wav");
        std::fs::write(&path, b"not a wave file at all").unwrap();
        let err = read_mono(&path).unwrap_err();
        assert_eq!(err.to_string(), "corrupt WAV: Ill-formed WAVE file: no RIFF tag found");

        // A-law (format tag 6) is well formed but not read.
        let mut alaw = extensible_pcm16_stereo(&[[0, 0]]);
        alaw[20..22].copy_from_slice(&6u16.to_le_bytes());
        std::fs::write(&path, &alaw).unwrap();
        assert!(matches!(read_mono(&path).unwrap_err(), FileError::Unsupported(_)));

        // A data chunk cut short.
        write_wav(&path, spec(1, 16, SampleFormat::Int), &[1i16, 2, 3, 4]);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(matches!(read_mono(&path).unwrap_err(), FileError::Truncated(_)));

        write_wav::<i16>(&path, spec(1, 16, SampleFormat::Int), &[]);
        assert_eq!(
            read_mono(&path).unwrap_err().to_string(),
            "empty audio: the file holds no samples"
        );
    }
}
