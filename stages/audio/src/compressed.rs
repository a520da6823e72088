//! FLAC, MP3, Ogg Vorbis and AIFF reading, mixed down to mono as WAV is (see [`crate::wav`]).
//!
//! Decoding these is not vox's product, so it is symphonia's (a maintained pure-Rust decoder
//! family, so builds stay free of C codecs): its FLAC decoder is bit-exact, and its integer
//! samples convert to `f32` with one rounding of `v / 2^31` after a left shift to 32 bits, which
//! is `v / 2^(bits-1)` exactly for 8/16/24-bit data: a FLAC or AIFF copy of a WAV decodes to the
//! WAV's samples bit for bit (asserted below on libsndfile's files). MP3 and Vorbis are lossy and
//! their decoders round differently; symphonia's decodings are within 1e-4 of libsndfile's (mpg123,
//! libvorbis), gapless: the encoder's delay and padding are trimmed, so a clip keeps its length.
//!
//! A packet that fails to decode fails the file (the `on_error` policy decides what then
//! happens): skipping it, as players do, would leave a gap in the clip that nobody sees.

use std::fs::File;
use std::path::Path;

use symphonia::core::codecs::audio::well_known::{CODEC_ID_MP1, CODEC_ID_MP2, CODEC_ID_OPUS, CODEC_ID_SPEEX};
use symphonia::core::codecs::audio::{AudioCodecId, AudioDecoderOptions};
use symphonia::core::errors::Error as CodecError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::error::FileError;
#[cfg(test)]
use crate::wav::Downmix;

/// Decodes `path` (its extension hints the container) into `samples` (replacing its contents):
/// mono samples in [-1, 1), the channels made one by `downmix`, and the sample rate in Hz.
#[cfg(test)]
pub(crate) fn read_mono(path: &Path, samples: &mut Vec<f32>, downmix: Downmix) -> Result<u32, FileError> {
    let (rate, channels) = read_interleaved(path, samples)?;
    crate::wav::mix_down(samples, channels, downmix)?;
    Ok(rate)
}

/// Decodes `path` (its extension hints the container) into `samples` (replacing its contents):
/// samples in [-1, 1) with the channels interleaved; the sample rate in Hz and the channel
/// count.
pub(crate) fn read_interleaved(path: &Path, samples: &mut Vec<f32>) -> Result<(u32, usize), FileError> {
    samples.clear();
    let file = File::open(path).map_err(FileError::Io)?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(extension) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(extension);
    }
    let codec = |source| FileError::Codec { source };
    let mut format = symphonia::default::get_probe()
        .probe(&hint, stream, FormatOptions::default(), MetadataOptions::default())
        .map_err(|source| match source {
            CodecError::Unsupported(_) => FileError::NotAudio { source },
            source => FileError::Codec { source },
        })?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or(FileError::Codec { source: CodecError::Unsupported("the file holds no audio track") })?;
    let track_id = track.id;
    // Where the container declares its length (FLAC's STREAMINFO, an MP3's LAME header), a file
    // that ends early is found by the count; a cut stream otherwise just ends.
    let declared = track.num_frames;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or(FileError::Codec { source: CodecError::Unsupported("the audio track names no codec") })?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|source| match source {
            // A container vox reads holding a codec it does not (Opus or Speex in Ogg).
            CodecError::Unsupported(_) => FileError::Unread {
                what: format!("{} audio", codec_name(params.codec)),
                extension: path.extension().unwrap_or_default().to_string_lossy().into_owned(),
            },
            source => FileError::Codec { source },
        })?;
    let mut rate = params.sample_rate;
    let mut channels = params.channels.as_ref().map(|c| c.count());
    while let Some(packet) = format.next_packet().map_err(codec)? {
        if packet.track_id != track_id {
            continue;
        }
        let decoded = decoder.decode(&packet).map_err(codec)?;
        let spec = decoded.spec();
        rate.get_or_insert(spec.rate());
        let count = spec.channels().count();
        if *channels.get_or_insert(count) != count {
            return Err(FileError::Codec {
                source: CodecError::Unsupported("the channel count changes within the stream"),
            });
        }
        let start = samples.len();
        samples.resize(start + decoded.samples_interleaved(), 0.0);
        decoded.copy_to_slice_interleaved(&mut samples[start..]);
    }
    let channels = channels.unwrap_or(1).max(1);
    let frames = (samples.len() / channels) as u64;
    if let Some(declared) = declared.filter(|&d| frames < d) {
        return Err(FileError::EndsEarly { frames, declared });
    }
    if samples.is_empty() {
        return Err(FileError::Empty);
    }
    let rate = rate.filter(|&r| r > 0).ok_or(FileError::Codec {
        source: CodecError::Unsupported("the stream gives no sample rate"),
    })?;
    Ok((rate, channels))
}

/// What `codec` is called, for the codecs the enabled containers may hold and vox does not read.
fn codec_name(codec: AudioCodecId) -> String {
    match codec {
        CODEC_ID_OPUS => "Opus".into(),
        CODEC_ID_SPEEX => "Speex".into(),
        CODEC_ID_MP1 => "MPEG layer I".into(),
        CODEC_ID_MP2 => "MPEG layer II".into(),
        other => format!("codec {other}"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::wav::read_mono as read_wav;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/codecs").join(name)
    }

    fn read(name: &str) -> (Vec<f32>, u32) {
        let mut samples = Vec::new();
        let rate = read_mono(&fixture(name), &mut samples, Downmix::Mean).unwrap();
        (samples, rate)
    }

    #[test]
    fn flac_and_aiff_decode_to_the_samples_of_the_same_pcm_in_wav() {
        for (wav, others, rate) in [
            ("stereo16.wav", &["stereo16.flac", "stereo16.aiff"][..], 16000),
            ("mono24.wav", &["mono24.flac"][..], 48000),
        ] {
            let expected = read_wav(&fixture(wav)).unwrap();
            assert_eq!(expected.sample_rate, rate);
            for other in others {
                let (samples, got_rate) = read(other);
                assert_eq!(got_rate, rate, "{other}");
                assert_eq!(samples.len(), expected.samples.len(), "{other}");
                let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&samples), bits(&expected.samples), "{other}");
            }
        }
    }

    #[test]
    fn one_channel_of_a_flac_is_the_wavs_same_channel() {
        let mut wav = crate::wav::WavBuffers::default();
        let mut samples = Vec::new();
        for channel in [0, 1] {
            let expected = wav.read(&fixture("stereo16.wav"), Downmix::Channel(channel)).unwrap().0.to_vec();
            read_mono(&fixture("stereo16.flac"), &mut samples, Downmix::Channel(channel)).unwrap();
            assert_eq!(samples, expected, "channel {channel}");
        }
        // The two channels differ (the fixture's right is half the left plus noise).
        let left = wav.read(&fixture("stereo16.wav"), Downmix::Channel(0)).unwrap().0.to_vec();
        assert_ne!(samples, left);
        let err = read_mono(&fixture("stereo16.flac"), &mut samples, Downmix::Channel(2)).unwrap_err();
        assert_eq!(err.to_string(), "`channel = 3` but the file has 2 channel(s)");
    }

    #[test]
    fn lossy_files_decode_gapless_within_1e_4_of_libsndfile() {
        for (name, rate, frames) in [("stereo.mp3", 44100, 13230), ("stereo.ogg", 16000, 4800)] {
            let reference = read_wav(&fixture(&format!("{name}.ref.wav"))).unwrap();
            let (samples, got_rate) = read(name);
            assert_eq!(got_rate, rate, "{name}");
            assert_eq!(reference.samples.len(), frames, "{name}");
            assert_eq!(samples.len(), frames, "{name}: the encoder's delay and padding are trimmed");
            let worst = samples.iter().zip(&reference.samples).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(worst < 1e-4, "{name}: max |vox - libsndfile| = {worst}");
            // Not silence: the comparison above would pass on two silent decodes.
            let rms = (samples.iter().map(|s| s * s).sum::<f32>() / frames as f32).sqrt();
            assert!(rms > 0.1, "{name}: rms {rms}");
        }
    }

    #[test]
    fn a_codec_vox_does_not_decode_and_a_broken_file_are_errors() {
        let mut samples = Vec::new();
        // An Ogg file that holds Opus, named as Ogg files often are.
        let dir = tempfile::tempdir().unwrap();
        let ogg = dir.path().join("opus.ogg");
        std::fs::copy(fixture("stereo.opus"), &ogg).unwrap();
        let opus = read_mono(&ogg, &mut samples, Downmix::Mean).unwrap_err().to_string();
        assert_eq!(
            opus,
            "Opus audio is not read by vox (it reads WAV, FLAC, MP3, Ogg Vorbis or AIFF): convert \
             it, e.g. `ffmpeg -i in.ogg out.flac`"
        );
        let bytes = std::fs::read(fixture("stereo16.flac")).unwrap();
        let cut = dir.path().join("cut.flac");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let err = read_mono(&cut, &mut samples, Downmix::Mean);
        assert!(err.is_err(), "a FLAC cut in half decoded to {} samples", samples.len());
        let bytes = std::fs::read(fixture("stereo.mp3")).unwrap();
        let cut = dir.path().join("cut.mp3");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        // An MP3 stream just ends where it is cut; its LAME header says how long it was.
        let err = read_mono(&cut, &mut samples, Downmix::Mean).unwrap_err().to_string();
        assert_eq!(err, "the file ends early: 4655 of the 13230 frames its header declares");
        let junk = dir.path().join("junk.mp3");
        std::fs::write(&junk, b"<html><body>404 Not Found</body></html>").unwrap();
        let err = read_mono(&junk, &mut samples, Downmix::Mean).unwrap_err().to_string();
        assert!(err.starts_with("not a FLAC, MP3, Ogg or AIFF stream, whatever its name says ("), "{err}");
    }
}
