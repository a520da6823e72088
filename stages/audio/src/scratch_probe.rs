//! Temporary probe (not committed).
#[cfg(test)]
mod tests {
    use crate::test_support::{TestStage, median_f0};
    use crate::{RavdessName, Synth};
    use vox_api::StageDef;
    use vox_api::emotion::Emotion;

    #[test]
    #[ignore]
    fn probe_f0() {
        for seed in [3, 11, 42] {
            let stage = TestStage::new();
            Synth {
                actors: 2,
                statements: 1,
                repetitions: 2,
                duration: 3.0,
                sample_rate: 16000,
                seed: None,
            }
            .run(&stage.ctx(seed))
            .unwrap();
            let f0 = |actor: u8, emotion: Emotion, intensity: u8| {
                let v: Vec<f64> = (1..=2)
                    .map(|repetition| {
                        let name = RavdessName {
                            channel: 1,
                            emotion,
                            intensity,
                            statement: 1,
                            repetition,
                            actor,
                        };
                        let r = hound::WavReader::open(
                            stage.out_dir().join(name.actor_dir()).join(name.file_name()),
                        )
                        .unwrap();
                        let x: Vec<f32> =
                            r.into_samples::<i16>().map(|s| s.unwrap() as f32 / 32768.0).collect();
                        median_f0(&x, 16000)
                    })
                    .collect();
                v.iter().sum::<f64>() / 2.0
            };
            for actor in [1, 2] {
                eprintln!(
                    "seed {seed} actor {actor}: neutral {:.0} sad {:.0} angry-strong {:.0} fearful {:.0}/{:.0} happy {:.0}",
                    f0(actor, Emotion::Neutral, 1),
                    f0(actor, Emotion::Sad, 1),
                    f0(actor, Emotion::Angry, 2),
                    f0(actor, Emotion::Fearful, 1),
                    f0(actor, Emotion::Fearful, 2),
                    f0(actor, Emotion::Happy, 1)
                );
            }
        }
    }
}
