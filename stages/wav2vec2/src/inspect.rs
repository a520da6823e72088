//! What a model folder holds, read before the model is built: which classification head its
//! weights have (from their keys, not from a param that could be wrong), the classes of
//! that head's outputs (`id2label`, by output index), and that its feature-extractor file (if
//! any) reads.
//!
//! | weight keys | head |
//! |---|---|
//! | `projector.weight` and `classifier.weight` | `projector` (HF `Wav2Vec2ForSequenceClassification`) |
//! | `classifier.dense.weight` and `classifier.out_proj.weight` | `dense-tanh` (the SER notebooks' head) |
//! | neither (`Wav2Vec2ForCTC`, `Wav2Vec2ForPreTraining`, `Wav2Vec2Model`) | none: a new head is built |
//!
//! (HuBERT's and WavLM's heads have the same keys.)
//!
//! Keys are read from `model.safetensors`'s header (8 bytes of little-endian length, then a
//! JSON object from key to dtype, shape and offsets; the format's own layout, parsed here so that
//! no tensor is read) or from `pytorch_model.bin` through burn-store's reader, which reads
//! tensors lazily.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::config::{ClassifierHead, Wav2Vec2Config};
use crate::error::{ConfigProblem, Wav2Vec2Error};
use crate::loader::{CONFIG_FILE, PYTORCH_FILE, SAFETENSORS_FILE};
use crate::preprocess::Preprocessor;

/// A model folder's head and classes.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    /// The configuration in `config.json`.
    pub config: Wav2Vec2Config,
    /// The head the weights hold; `None` for a checkpoint without one.
    pub head: Option<ClassifierHead>,
    /// The class of each head output, by index (`id2label`, else HF's `LABEL_<i>`); empty
    /// without a head.
    pub labels: Vec<String>,
}

/// Reads the head and classes of the model folder `dir`.
pub fn inspect(dir: &Path) -> Result<ModelInfo, Wav2Vec2Error> {
    let config = Wav2Vec2Config::from_file(&dir.join(CONFIG_FILE))?;
    // A broken feature-extractor file is the plan's error too, not the run's.
    Preprocessor::read(dir)?;
    let shapes = weight_shapes(dir)?;
    let find = |key: &str| {
        shapes.get(key).or_else(|| shapes.get(&format!("wav2vec2.{key}"))).cloned()
    };
    let (head, outputs) = if find("classifier.dense.weight").is_some() {
        (Some(ClassifierHead::DenseTanh), find("classifier.out_proj.weight"))
    } else if find("projector.weight").is_some() {
        (Some(ClassifierHead::Projector), find("classifier.weight"))
    } else if find("classifier.out_proj.weight").is_some() {
        // vox's dense-tanh layout never lacks `dense`; a bare `out_proj` is a linear probe in
        // the projector layout's place, which vox has no head for.
        return Err(Wav2Vec2Error::InvalidConfig(ConfigProblem::BareOutProj));
    } else {
        (None, None)
    };
    let Some(head) = head else {
        return Ok(ModelInfo { config, head: None, labels: Vec::new() });
    };
    // PyTorch's Linear weight is `[out, in]`.
    let outputs = outputs
        .and_then(|shape| shape.first().copied())
        .ok_or(Wav2Vec2Error::InvalidConfig(ConfigProblem::NoOutputLayer))?;
    let labels = labels_by_index(&config, outputs)?;
    Ok(ModelInfo { config, head: Some(head), labels })
}

/// What the plan checks of a model folder that is only encoded (self-supervised features):
/// its config is valid and its weights' keys can be listed. The head is [`inspect`]'s concern.
/// A Whisper folder's input and encoder must agree on the frames.
pub fn check_encoder(dir: &Path) -> Result<(), Wav2Vec2Error> {
    if crate::whisper::is_whisper(dir)? {
        let config = crate::whisper::WhisperConfig::from_file(&dir.join(CONFIG_FILE))?;
        let input = crate::whisper::WhisperInput::read(dir)?;
        config.check_input(&input)?;
    } else {
        Wav2Vec2Config::from_file(&dir.join(CONFIG_FILE))?;
        Preprocessor::read(dir)?;
    }
    weight_shapes(dir).map(|_| ())
}

/// The classes of `outputs` head outputs: `id2label` in index order, else `LABEL_<i>`; fails
/// when `id2label` does not name every output once.
fn labels_by_index(config: &Wav2Vec2Config, outputs: usize) -> Result<Vec<String>, Wav2Vec2Error> {
    let Some(id2label) = config.id2label.as_ref().filter(|m| !m.is_empty()) else {
        return Ok((0..outputs).map(|i| format!("LABEL_{i}")).collect());
    };
    let count = |missing| Wav2Vec2Error::InvalidConfig(ConfigProblem::LabelCount { named: id2label.len(), outputs, missing });
    let mut labels = Vec::with_capacity(outputs);
    for i in 0..outputs {
        labels.push(id2label.get(&i.to_string()).ok_or_else(|| count(Some(i)))?.clone());
    }
    if id2label.len() != outputs {
        return Err(count(None));
    }
    if let Some(i) = (1..labels.len()).find(|&i| labels[..i].contains(&labels[i])) {
        return Err(Wav2Vec2Error::InvalidConfig(ConfigProblem::DuplicateLabel(labels[i].clone())));
    }
    Ok(labels)
}

/// Every weight key of the folder with its shape.
fn weight_shapes(dir: &Path) -> Result<BTreeMap<String, Vec<usize>>, Wav2Vec2Error> {
    let safetensors = dir.join(SAFETENSORS_FILE);
    if safetensors.is_file() {
        return safetensors_shapes(&safetensors);
    }
    let pytorch = dir.join(PYTORCH_FILE);
    if pytorch.is_file() {
        let reader = burn_store::pytorch::PytorchReader::new(&pytorch)
            .map_err(|source| Wav2Vec2Error::PytorchKeys { path: pytorch.clone(), source })?;
        return Ok(reader.tensors().iter().map(|(key, t)| (key.clone(), t.shape.iter().copied().collect())).collect());
    }
    Err(Wav2Vec2Error::NoWeights(dir.to_path_buf()))
}

/// The keys and shapes in a safetensors file's header.
fn safetensors_shapes(path: &Path) -> Result<BTreeMap<String, Vec<usize>>, Wav2Vec2Error> {
    let io = |source| Wav2Vec2Error::Io { path: path.to_path_buf(), source };
    let bad = |problem| Wav2Vec2Error::NotSafetensors { path: path.to_path_buf(), problem };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut length = [0u8; 8];
    file.read_exact(&mut length).map_err(io)?;
    let length = u64::from_le_bytes(length);
    // The format caps the header at 100 MB.
    if length > 100 << 20 {
        return Err(bad("its header length is implausible"));
    }
    let mut header = vec![0u8; length as usize];
    file.read_exact(&mut header).map_err(io)?;
    let header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|_| bad("its header is not a JSON object"))?;
    Ok(header
        .into_iter()
        .filter(|(key, _)| key != "__metadata__")
        .map(|(key, entry)| {
            let shape = entry["shape"].as_array().map(|dims| dims.iter().filter_map(|d| d.as_u64()).map(|d| d as usize).collect()).unwrap_or_default();
            (key, shape)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(id2label: &[(&str, &str)]) -> Wav2Vec2Config {
        let map = id2label.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Wav2Vec2Config { id2label: Some(map), ..Default::default() }
    }

    fn problem(result: Result<Vec<String>, Wav2Vec2Error>) -> ConfigProblem {
        match result {
            Err(Wav2Vec2Error::InvalidConfig(problem)) => problem,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn labels_follow_the_output_index_and_every_disagreement_is_named() {
        let swapped = config(&[("1", "sad"), ("0", "happy")]);
        assert_eq!(labels_by_index(&swapped, 2).unwrap(), ["happy", "sad"]);
        assert_eq!(labels_by_index(&Wav2Vec2Config::default(), 2).unwrap(), ["LABEL_0", "LABEL_1"]);
        let gap = problem(labels_by_index(&config(&[("0", "happy"), ("2", "sad")]), 2));
        assert_eq!(gap, ConfigProblem::LabelCount { named: 2, outputs: 2, missing: Some(1) });
        assert_eq!(gap.to_string(), "`id2label` names 2 classes but the head has 2 outputs (no entry \"1\")");
        let extra = problem(labels_by_index(&config(&[("0", "happy"), ("1", "sad"), ("2", "calm")]), 2));
        assert_eq!(extra, ConfigProblem::LabelCount { named: 3, outputs: 2, missing: None });
        assert_eq!(extra.to_string(), "`id2label` names 3 classes but the head has 2 outputs");
        let twice = problem(labels_by_index(&config(&[("0", "sad"), ("1", "sad")]), 2));
        assert_eq!(twice, ConfigProblem::DuplicateLabel("sad".into()));
    }
}
