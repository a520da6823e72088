//! Cross-validation folds of the `split` stage: which fold each labelled clip belongs to.
//!
//! - **Stratified k-fold** (`strategy = "kfold"`): within each class (in the label set's order),
//!   a seeded shuffle deals the clips to folds `1..=N` in turn, continuing where the previous
//!   class stopped, so that folds differ in size by at most one clip and keep the class
//!   proportions (scikit-learn's `StratifiedKFold(shuffle=True)` in spirit).
//! - **Group k-fold** (`strategy = "group-kfold"`, `folds = N`): whole groups (speakers,
//!   sessions, corpora: any manifest column) go to folds, largest group first, each to the fold
//!   with the fewest clips so far (lowest fold on ties), as scikit-learn's `GroupKFold`;
//!   deterministic, no seed.
//! - **Leave one group out** (`group-kfold` without `folds`): one fold per group, groups in
//!   sorted order (fold 1 holds out the first: `Ses01`, speaker `01`).
//!
//! The assignment depends only on the clips, the params and the seed, never on which fold a
//! copy of the stage holds out: every fold's copy computes the same folds.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use vox_api::audio::Clip;
use vox_api::labels::LabelSet;

use crate::error::AudioError;

/// The fold (`1..=N`) of each clip, `None` for unlabeled clips.
pub(crate) type Assignment = Vec<Option<usize>>;

/// The stratum of each clip, `None` for a clip that cannot train (see `Split::strata`).
pub(crate) type Strata = Vec<Option<usize>>;

/// The stratum of a clip with a rating and no class: after every class.
pub(crate) const RATED: usize = usize::MAX;

/// Each clip's class in `labels` as its stratum, `None` for unlabeled clips.
pub(crate) fn classes(labels: &LabelSet, clips: &[Clip]) -> Strata {
    clips.iter().map(|c| c.label.as_deref().and_then(|l| labels.index_of(l))).collect()
}

/// Stratified k-fold over `folds` folds with the shuffle of `seed`.
pub(crate) fn stratified(strata: &[Option<usize>], folds: usize, seed: u64) -> Assignment {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, stratum) in strata.iter().enumerate() {
        if let Some(class) = *stratum {
            by_class.entry(class).or_default().push(i);
        }
    }
    let mut assignment = vec![None; strata.len()];
    let mut next = 0;
    for members in by_class.values_mut() {
        members.shuffle(&mut rng);
        for &i in members.iter() {
            assignment[i] = Some(next % folds + 1);
            next += 1;
        }
    }
    assignment
}

/// The group of each clip that can train (a stratum in `strata`) by manifest column `column`;
/// fails on such a clip with none.
pub(crate) fn groups(clips: &[Clip], strata: &[Option<usize>], column: &str) -> Result<Vec<Option<String>>, AudioError> {
    clips
        .iter()
        .zip(strata)
        .map(|(clip, stratum)| {
            if stratum.is_none() {
                return Ok(None);
            }
            let group = clip.column(column);
            if group.is_empty() {
                return Err(AudioError::MissingGroup { file_id: clip.file_id.clone(), column: column.to_string() });
            }
            Ok(Some(group))
        })
        .collect()
}

/// The distinct groups, sorted.
pub(crate) fn distinct(groups: &[Option<String>]) -> Vec<&str> {
    let mut names: Vec<&str> = groups.iter().flatten().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Group k-fold: `folds` folds (greedy by size), or one per group when `None`.
pub(crate) fn by_group(groups: &[Option<String>], folds: Option<usize>) -> Result<(Assignment, BTreeMap<String, usize>), AudioError> {
    let names = distinct(groups);
    let fold_of: BTreeMap<String, usize> = match folds {
        None => names.iter().enumerate().map(|(i, g)| (g.to_string(), i + 1)).collect(),
        Some(n) if n > names.len() => {
            return Err(AudioError::FewerGroupsThanFolds { groups: names.len(), folds: n });
        }
        Some(n) => {
            let mut sizes: Vec<(usize, &str)> =
                names.iter().map(|g| (groups.iter().flatten().filter(|c| c == g).count(), *g)).collect();
            sizes.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            let mut load = vec![0usize; n];
            let mut fold_of = BTreeMap::new();
            for (size, group) in sizes {
                let lightest = (0..n).min_by_key(|&f| (load[f], f)).unwrap_or(0);
                load[lightest] += size;
                fold_of.insert(group.to_string(), lightest + 1);
            }
            fold_of
        }
    };
    let assignment = groups.iter().map(|g| g.as_ref().map(|g| fold_of[g])).collect();
    Ok((assignment, fold_of))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(label: Option<&str>, speaker: &str) -> Clip {
        Clip { label: label.map(Into::into), speaker: speaker.into(), ..Clip::default() }
    }

    #[test]
    fn stratified_folds_balance_classes_and_sizes() {
        let labels = LabelSet::from_names(["a", "b"]).unwrap();
        let mut clips: Vec<Clip> = (0..10).map(|_| clip(Some("a"), "")).chain((0..5).map(|_| clip(Some("b"), ""))).collect();
        clips.push(clip(None, ""));
        let folds = stratified(&classes(&labels, &clips), 5, 7);
        assert_eq!(folds[15], None);
        for fold in 1..=5 {
            let of = |class: &str| clips.iter().zip(&folds).filter(|(c, f)| **f == Some(fold) && c.label.as_deref() == Some(class)).count();
            assert_eq!((of("a"), of("b")), (2, 1), "fold {fold}");
        }
        assert_eq!(stratified(&classes(&labels, &clips), 5, 7), folds);
        assert_ne!(stratified(&classes(&labels, &clips), 5, 8), folds);
    }

    #[test]
    fn group_folds_keep_groups_whole() {
        let clips: Vec<Clip> = [("s1", 6), ("s2", 4), ("s3", 3), ("s4", 2), ("s5", 1)]
            .iter()
            .flat_map(|&(s, n)| (0..n).map(move |_| clip(Some("a"), s)))
            .collect();
        let labels = LabelSet::from_names(["a"]).unwrap();
        let groups = groups(&clips, &classes(&labels, &clips), "speaker").unwrap();
        // Largest first to the lightest fold: s1 -> 1, s2 -> 2, s3 -> 2 (4 < 6)... 
        let (folds, of) = by_group(&groups, Some(2)).unwrap();
        assert_eq!(of, [("s1", 1), ("s2", 2), ("s3", 2), ("s4", 1), ("s5", 2)].map(|(g, f)| (g.to_string(), f)).into());
        assert_eq!(folds.iter().filter(|f| **f == Some(1)).count(), 8);
        let (_, logo) = by_group(&groups, None).unwrap();
        assert_eq!(logo["s1"], 1);
        assert_eq!(logo["s5"], 5);
        assert_eq!(
            by_group(&groups, Some(6)).unwrap_err().to_string(),
            "group-kfold with `folds = 6` needs at least 6 groups, but the clips have 5"
        );
        let unlabeled_gap = [clip(Some("a"), "s1"), clip(None, ""), clip(Some("a"), "")];
        assert_eq!(
            super::groups(&unlabeled_gap, &classes(&labels, &unlabeled_gap), "session").unwrap_err().to_string(),
            "clip `` is labelled but has no `session`; group-kfold groups every labelled clip by it"
        );
    }
}
