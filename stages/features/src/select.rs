//! The `select` stage kind: the `k` features that separate the classes best, by one-way ANOVA F
//! over the train clips (scikit-learn's `SelectKBest(f_classif, k)`, the same choice: tests
//! compare with its fixture, tie and constant feature included).
//!
//! The F of each feature comes from the labelled `train` clips only (every labelled clip when
//! the set is not split), so that validation and test labels never choose features. Ranking as
//! scikit-learn's: a feature with no F (constant) ranks last; of equal scores, the later column
//! ranks higher. The kept features stay in the input's order.
//!
//! Outputs: `features.csv` + `manifest.csv` + `classes.csv` with the kept columns,
//! `standardization.csv` over them (the train clips', as after `featurize`),
//! `report/selection.csv` (`feature,f,p,rank,kept` for every input feature, in input order) and
//! `report/select.txt`. `vox predict` keeps the run's columns, by name.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::Split;
use vox_api::features::{FEATURES, FeatureTable};
use vox_api::{Applied, Applies, ApplyContext, ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

use crate::anova::{self, Anova};
use crate::error::FeaturesError;
use crate::standardization;

/// Keeps the `k` features with the largest one-way ANOVA F between the classes of the train
/// clips (scikit-learn's `SelectKBest(f_classif)`); `report/selection.csv` lists every feature's
/// F, p-value and rank.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Select {
    /// Features to keep, at least 1 and at most the input's.
    pub k: usize,
}

impl StageDef for Select {
    const KIND: &'static str = "select";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Features]);
    const OUTPUT: ArtifactKind = ArtifactKind::Features;
    // New clips keep the run's columns.
    const APPLIES: Applies = Applies::Yes;

    fn validate(&self) -> Result<(), ParamError> {
        if self.k == 0 {
            return Err(ParamError::new("k", "must keep at least 1 feature"));
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let table = FeatureTable::read(&ctx.input().dir).map_err(FeaturesError::from)?;
        if self.k > table.names.len() {
            return Err(FeaturesError::SelectMoreThanThere { k: self.k, features: table.names.len() }.into());
        }
        let (reference, scores) = scores(&table)?;
        let ranks = ranks(&scores);
        let kept: Vec<usize> = (0..table.names.len()).filter(|&j| ranks[j] <= self.k).collect();
        let selected = columns(&table, &kept);
        selected.write(ctx.out_dir).map_err(FeaturesError::from)?;
        standardization::write(&standardization::compute(&selected), ctx.out_dir)?;
        write_report(ctx, &table, &scores, &ranks, self.k, &reference)?;
        tracing::info!("{}: kept {} of {} features by ANOVA F over {reference}", ctx.stage, self.k, table.names.len());
        Ok(())
    }

    /// New clips' features, cut to the columns the run kept.
    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError> {
        let table = FeatureTable::read(&ctx.run.input().dir).map_err(FeaturesError::from)?;
        let kept_names = header(ctx.trained)?;
        let kept = kept_names
            .iter()
            .map(|name| table.names.iter().position(|n| n == name).ok_or_else(|| FeaturesError::SelectedMissing { feature: name.clone() }))
            .collect::<Result<Vec<usize>, _>>()?;
        columns(&table, &kept).write(ctx.run.out_dir).map_err(FeaturesError::from)?;
        standardization::copy_trained(ctx.trained, ctx.run.out_dir)?;
        Ok(Applied::Wrote)
    }
}

/// Each feature's ANOVA over the labelled train clips (all labelled clips when none is in
/// `train`), and those clips in words.
fn scores(table: &FeatureTable) -> Result<(String, Vec<Anova>), FeaturesError> {
    let labelled = |split: Option<Split>| -> Vec<(usize, usize)> {
        table
            .clips
            .iter()
            .enumerate()
            .filter(|(_, c)| split.is_none_or(|s| c.split == s))
            .filter_map(|(i, c)| Some((i, table.labels.index_of(c.label.as_deref()?)?)))
            .collect()
    };
    let train = labelled(Some(Split::Train));
    let (clips, reference) = if train.is_empty() {
        let all = labelled(None);
        let words = format!("all {} labelled clips (no train split)", all.len());
        (all, words)
    } else {
        let words = format!("the {} train clips", train.len());
        (train, words)
    };
    let mut classes: Vec<usize> = clips.iter().map(|&(_, c)| c).collect();
    classes.sort_unstable();
    classes.dedup();
    if classes.len() < 2 || clips.len() <= classes.len() {
        return Err(FeaturesError::SelectNeedsClasses { clips: clips.len(), classes: classes.len() });
    }
    let rows: Vec<&[f64]> = clips.iter().map(|&(i, _)| table.rows[i].as_slice()).collect();
    let of: Vec<usize> = clips.iter().map(|&(_, c)| c).collect();
    Ok((reference, anova::f_classif(&rows, &of, table.labels.len())))
}

/// Each feature's rank (1: the largest F), scikit-learn's order: no F ranks last, and of equal
/// scores the later column ranks higher (its stable ascending sort, read from the end).
fn ranks(scores: &[Anova]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    let score = |j: usize| scores[j].f.unwrap_or(f64::MIN);
    order.sort_by(|&a, &b| score(a).total_cmp(&score(b)).then(a.cmp(&b)));
    let mut ranks = vec![0; scores.len()];
    for (position, &j) in order.iter().rev().enumerate() {
        ranks[j] = position + 1;
    }
    ranks
}

/// `table` with only columns `kept`, in that order.
fn columns(table: &FeatureTable, kept: &[usize]) -> FeatureTable {
    FeatureTable {
        names: kept.iter().map(|&j| table.names[j].clone()).collect(),
        labels: table.labels.clone(),
        clips: table.clips.clone(),
        rows: table.rows.iter().map(|r| kept.iter().map(|&j| r[j]).collect()).collect(),
    }
}

/// The feature names of the `features.csv` in `dir`.
fn header(dir: &Path) -> Result<Vec<String>, FeaturesError> {
    let path = dir.join(FEATURES);
    let csv_err = |source| FeaturesError::Csv { path: path.clone(), source };
    let mut reader = csv::Reader::from_path(&path).map_err(csv_err)?;
    Ok(reader.headers().map_err(csv_err)?.iter().skip(1).map(str::to_string).collect())
}

/// `report/selection.csv` and `report/select.txt`.
fn write_report(ctx: &StageContext, table: &FeatureTable, scores: &[Anova], ranks: &[usize], k: usize, reference: &str) -> Result<(), FeaturesError> {
    let dir = ctx.report_dir().map_err(|source| FeaturesError::Io { path: ctx.out_dir.join("report"), source })?;
    let path = dir.join("selection.csv");
    let csv_err = |source| FeaturesError::Csv { path: path.clone(), source };
    let mut w = csv::Writer::from_path(&path).map_err(csv_err)?;
    w.write_record(["feature", "f", "p", "rank", "kept"]).map_err(csv_err)?;
    // Debug, not Display: p-values reach 1e-100 and below, which Display writes out in full.
    let cell = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:?}"));
    for ((name, score), &rank) in table.names.iter().zip(scores).zip(ranks) {
        let kept = if rank <= k { "1" } else { "0" };
        w.write_record([name.as_str(), &cell(score.f), &cell(score.p), &rank.to_string(), kept]).map_err(csv_err)?;
    }
    w.flush().map_err(|source| FeaturesError::Io { path: path.clone(), source })?;
    let constant = scores.iter().filter(|s| s.f.is_none()).count();
    let mut text = format!(
        "kept {k} of {} features: the largest one-way ANOVA F between the classes of {reference}\n",
        table.names.len()
    );
    if constant > 0 {
        text += &format!("{constant} constant feature(s) have no F and rank last\n");
    }
    text += "every feature's F, p-value and rank: selection.csv\n";
    let path = dir.join("select.txt");
    std::fs::write(&path, text).map_err(|source| FeaturesError::Io { path, source })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use vox_api::audio::Clip;
    use vox_api::labels::LabelSet;
    use vox_api::{Input, kind};

    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    fn clip(i: usize, label: &str, split: Split) -> Clip {
        Clip {
            file_id: format!("c{i:03}"),
            corpus: "lab".into(),
            speaker: String::new(),
            sex: String::new(),
            label: Some(label.into()),
            intensity: String::new(),
            statement: String::new(),
            repetition: String::new(),
            split,
            source: format!("c{i}.wav"),
            sample_rate: 16000,
            offset: 0,
            length: 0,
            original_length: 0,
            extra: Default::default(),
        }
    }

    /// scikit-learn's table as a feature table, every clip in `split`.
    fn table(split: Split) -> FeatureTable {
        let mut reader = csv::Reader::from_path(fixture("selection_table.csv")).unwrap();
        let names: Vec<String> = reader.headers().unwrap().iter().skip(1).map(str::to_string).collect();
        let (mut clips, mut rows) = (Vec::new(), Vec::new());
        for (i, record) in reader.records().enumerate() {
            let record = record.unwrap();
            clips.push(clip(i, &record[0], split));
            rows.push(record.iter().skip(1).map(|v| v.parse().unwrap()).collect());
        }
        FeatureTable { names, labels: LabelSet::from_names(["a", "b", "c"]).unwrap(), clips, rows }
    }

    fn expected() -> BTreeMap<String, (Option<f64>, Option<f64>, bool)> {
        let mut reader = csv::Reader::from_path(fixture("selection_expected.csv")).unwrap();
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                let number = |s: &str| (!s.is_empty()).then(|| s.parse().unwrap());
                (r[0].to_string(), (number(&r[1]), number(&r[2]), &r[3] == "1"))
            })
            .collect()
    }

    fn run(k: usize, table: &FeatureTable) -> Result<tempfile::TempDir, String> {
        let (input, out, scratch) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        table.write(input.path()).unwrap();
        let progress = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
        let inputs = [Input::new("features", ArtifactKind::Features, input.path())];
        let ctx = StageContext {
            stage: "top",
            inputs: &inputs,
            out_dir: out.path(),
            scratch_dir: scratch.path(),
            seed: 1,
            backend: None,
            threads: 1,
            progress: &progress,
            memo: None,
        };
        let mut params = toml::Table::new();
        params.insert("k".into(), toml::Value::Integer(k as i64));
        kind::<Select>().configure(params).unwrap().run(&ctx).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn scores_and_choice_are_scikit_learns() {
        let table = table(Split::Train);
        let (reference, scores) = scores(&table).unwrap();
        assert_eq!(reference, "the 90 train clips");
        let expected = expected();
        for (name, score) in table.names.iter().zip(&scores) {
            let (f, p, _) = expected[name];
            match (score.f, f) {
                (Some(ours), Some(theirs)) => assert!(((ours - theirs) / theirs).abs() < 1e-9, "{name}: F {ours} vs {theirs}"),
                (ours, theirs) => assert_eq!(ours, theirs, "{name}"),
            }
            match (score.p, p) {
                (Some(ours), Some(theirs)) => assert!(((ours - theirs) / theirs).abs() < 1e-8, "{name}: p {ours} vs {theirs}"),
                (ours, theirs) => assert_eq!(ours, theirs, "{name}"),
            }
        }
        // k = 3: f0, f1 and, of the tied f3 and f4, the later one, as SelectKBest keeps.
        let out = run(3, &table).unwrap();
        let selected = FeatureTable::read(out.path()).unwrap();
        let kept: Vec<&String> = expected.iter().filter(|(_, e)| e.2).map(|(n, _)| n).collect();
        assert_eq!(selected.names.iter().collect::<Vec<_>>(), kept);
        assert_eq!(selected.names, ["f0", "f1", "f4"]);
        assert_eq!(selected.rows[5], [table.rows[5][0], table.rows[5][1], table.rows[5][4]]);
        let report = std::fs::read_to_string(out.path().join("report/selection.csv")).unwrap();
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines[0], "feature,f,p,rank,kept");
        assert!(lines[4].starts_with("f3,") && lines[4].ends_with(",4,0"), "{}", lines[4]);
        assert!(lines[5].starts_with("f4,") && lines[5].ends_with(",3,1"), "{}", lines[5]);
        assert_eq!(lines[6], "f5,,,10,0", "the constant feature ranks last");
        assert!(lines[1].contains("e-25,1,1"), "small p-values in exponent form: {}", lines[1]);
        assert_eq!(
            std::fs::read_to_string(out.path().join("report/select.txt")).unwrap(),
            "kept 3 of 10 features: the largest one-way ANOVA F between the classes of the 90 train clips\n\
             1 constant feature(s) have no F and rank last\nevery feature's F, p-value and rank: selection.csv\n"
        );
    }

    #[test]
    fn only_train_labels_choose() {
        // The val clips' labels are shuffled into noise: the choice is the train clips' alone.
        let mut table = table(Split::Train);
        for (i, c) in table.clips.iter_mut().enumerate().filter(|(i, _)| i % 3 == 0) {
            c.split = Split::Val;
            c.label = Some(["a", "b", "c"][i % 2].into());
        }
        let train_only = FeatureTable {
            clips: table.clips.iter().filter(|c| c.split == Split::Train).cloned().collect(),
            rows: table.clips.iter().zip(&table.rows).filter(|(c, _)| c.split == Split::Train).map(|(_, r)| r.clone()).collect(),
            ..table.clone()
        };
        assert_eq!(scores(&table).unwrap().1, scores(&train_only).unwrap().1);
        // Unsplit: every labelled clip.
        assert_eq!(scores(&self::table(Split::None)).unwrap().0, "all 90 labelled clips (no train split)");
    }

    #[test]
    fn impossible_selections_are_named() {
        assert_eq!(run(11, &table(Split::Train)).unwrap_err(), "`k` = 11 but the input has 10 features");
        let mut one_class = table(Split::Train);
        for c in &mut one_class.clips {
            c.label = Some("a".into());
        }
        assert_eq!(
            run(3, &one_class).unwrap_err(),
            "ANOVA needs at least two classes and more clips than classes among the clips it scores (90 clips of 1 class)"
        );
        assert!(kind::<Select>().configure(toml::toml! { k = 0 }).err().unwrap().to_string().contains("must keep at least 1 feature"));
    }
}
