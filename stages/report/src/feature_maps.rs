//! `evaluate` with a features input: the feature set's PCA and t-SNE maps of its labelled clips
//! (every split: t-SNE reads no label, the classes only colour the dots), under
//! `report/<input>/`:
//!
//! | file | what |
//! |---|---|
//! | `map.csv` | `file_id,label,split,pc1,pc2,tsne1,tsne2`, then each `by` column, a row per mapped clip |
//! | `map.json` | clips mapped (and of how many), each component's share of the variance, t-SNE's perplexity and final KL divergence |
//! | `map.png`/`.svg` | the two maps, each clip a dot in its class's colour |
//! | `map_<column>.png`/`.svg` | the same maps coloured by each of `evaluate`'s `by` columns (`sex`, `speaker`, `corpus`): whether the clips cluster by who speaks rather than by emotion, which speaker normalization is for |
//!
//! A cross-validation's folds hold the same clips (only a fold's standardization differs), so
//! the first fold's table is mapped, once.

use serde::Serialize;
use tracing::{info, warn};
use vox_api::Input;
use vox_api::features::FeatureTable;

use crate::error::ReportError;
use crate::files::{create_dir, write_csv, write_json};
use crate::plot::map::{MapFigure, MapPanel};
use crate::plot::{self, ImageFormat};
use crate::projection;

/// `map.json`.
#[derive(Serialize)]
struct MapDocument {
    clips: usize,
    labelled_clips: usize,
    pca_explained: [f64; 2],
    tsne_perplexity: f64,
    tsne_kl: f64,
}

/// Maps the labelled clips of the features input `input` (named `name`) into
/// `report_dir/<name>/`, coloured by class and by each manifest column of `by`; `seed` draws
/// the sample of a set above [`projection::MAX_CLIPS`]. Fewer than 3 labelled clips: a warning
/// and no map.
pub fn draw(
    name: &str,
    input: &Input,
    report_dir: &std::path::Path,
    formats: &[ImageFormat],
    by: &[String],
    seed: u64,
) -> Result<(), ReportError> {
    let table = FeatureTable::read(&input.dir)?;
    let labelled: Vec<(usize, usize)> = table
        .clips
        .iter()
        .enumerate()
        .filter_map(|(i, clip)| Some((i, table.labels.index_of(clip.label.as_deref()?)?)))
        .collect();
    // A clip with a NaN or infinite feature has no place on a map (the classic models refuse
    // it too): left out, and said.
    let (labelled, unfinite): (Vec<_>, Vec<_>) = labelled.into_iter().partition(|&(i, _)| table.rows[i].iter().all(|v| v.is_finite()));
    if let Some(&(first, _)) = unfinite.first() {
        let feature = table.names.iter().zip(&table.rows[first]).find(|(_, v)| !v.is_finite()).map_or("?", |(n, _)| n.as_str());
        warn!(
            "features input `{name}`: {} labelled clips have NaN or infinite features (the first: `{}`, feature `{feature}`) and are left out of the map",
            unfinite.len(),
            table.clips[first].file_id
        );
    }
    // As a predictions input without labelled clips gets no metrics: a warning, not a failed
    // report after everything upstream ran.
    if labelled.len() < 3 {
        warn!("features input `{name}` has {} labelled clips; a map needs at least 3: no map", labelled.len());
        return Ok(());
    }
    let classes: Vec<usize> = labelled.iter().map(|&(_, c)| c).collect();
    let kept = projection::sample(&classes, seed);
    let rows: Vec<Vec<f64>> = kept.iter().map(|&k| table.rows[labelled[k].0].clone()).collect();
    let maps = projection::maps(&rows);
    let dir = report_dir.join(name);
    create_dir(&dir)?;
    // Each `by` column's value of every mapped clip.
    let groups: Vec<Vec<String>> = by
        .iter()
        .map(|column| {
            kept.iter()
                .map(|&k| crate::groups::group_of(&table.clips[labelled[k].0].column(column)).to_string())
                .collect()
        })
        .collect();
    let header: Vec<&str> = ["file_id", "label", "split", "pc1", "pc2", "tsne1", "tsne2"].into_iter().chain(by.iter().map(String::as_str)).collect();
    write_csv(
        &dir.join("map.csv"),
        &header,
        kept.iter().enumerate().map(|(m, &k)| {
            let clip = &table.clips[labelled[k].0];
            let numbers = [maps.pca[m][0], maps.pca[m][1], maps.tsne[m][0], maps.tsne[m][1]].map(|v| v.to_string());
            [clip.file_id.clone(), clip.label.clone().unwrap_or_default(), clip.split.name().to_string()]
                .into_iter()
                .chain(numbers)
                .chain(groups.iter().map(|values| values[m].clone()))
                .collect::<Vec<_>>()
        }),
    )?;
    let document = MapDocument {
        clips: kept.len(),
        labelled_clips: labelled.len(),
        pca_explained: maps.explained,
        tsne_perplexity: maps.perplexity,
        tsne_kl: maps.kl,
    };
    write_json(&dir.join("map.json"), &document)?;
    let sampled = if kept.len() < labelled.len() { format!(" (a sample of {} by class)", labelled.len()) } else { String::new() };
    info!(
        "`{name}`: maps of {} labelled clips{sampled}: PCA explains {:.1}% + {:.1}% of the z-scored variance; t-SNE KL {:.3} (perplexity {:.1})",
        kept.len(),
        100.0 * maps.explained[0],
        100.0 * maps.explained[1],
        maps.kl,
        maps.perplexity
    );
    let names: Vec<String> = (0..table.labels.len()).map(|i| table.labels.description(i).to_string()).collect();
    plot::warn_undrawable("class names", &names, formats);
    let panels = [
        MapPanel {
            caption: format!("PCA (PC1 {:.1}%, PC2 {:.1}%)", 100.0 * maps.explained[0], 100.0 * maps.explained[1]),
            points: maps.pca,
        },
        MapPanel { caption: format!("t-SNE (perplexity {:.0})", maps.perplexity), points: maps.tsne },
    ];
    let title = format!("{name}: {} features of {} labelled clips{sampled}", table.names.len(), kept.len());
    let figure = MapFigure { title: title.clone(), names, classes: kept.iter().map(|&k| classes[k]).collect(), panels: &panels };
    plot::save(&figure, &dir, "map", formats)?;
    for (column, values) in by.iter().zip(&groups) {
        let mut names: Vec<String> = values.clone();
        names.sort();
        names.dedup();
        let classes = values.iter().map(|v| names.binary_search(v).unwrap_or(0)).collect();
        plot::warn_undrawable(&format!("`{column}` values"), &names, formats);
        let title = if names.len() > crate::plot::map::MAX_LEGEND {
            format!("{title}, by {column} ({} values, colours repeat; see map.csv)", names.len())
        } else {
            format!("{title}, by {column}")
        };
        let figure = MapFigure { title, names, classes, panels: &panels };
        plot::save(&figure, &dir, &format!("map_{column}"), formats)?;
    }
    Ok(())
}
