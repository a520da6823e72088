//! `vox compare`: runs side by side, with McNemar's test per model (and, with `--by`, per group
//! of a column `evaluate` scored by: each test condition, speaker, sex).

#[allow(unused_imports)]
use super::*;

/// The arguments of `vox compare`.
#[derive(Args, Debug)]
pub(super) struct CompareArgs {
    /// Run folders (`runs/<pipeline>/<run-id>`), two or more.
    #[arg(required = true, num_args = 2..)]
    pub(super) runs: Vec<PathBuf>,
    /// Also compare group by group: each model's score in each group of COLUMN, a column its
    /// `evaluate` scored by (`by = ["condition"]`: each test condition; `speaker`, `sex`), and
    /// whether it differs from the first run's on the group's clips. Repeatable.
    #[arg(long = "by", value_name = "COLUMN")]
    pub(super) by: Vec<String>,
    /// The metric of the group rows.
    #[arg(long, value_name = "METRIC", default_value = "uar", value_parser = vox_api::summary::METRICS)]
    pub(super) group_metric: String,
}

/// A group row of `--by`: (report stage/model, group) and each run's cell.
type GroupRow = ((String, String), Vec<String>);

/// `vox compare`.
pub(super) fn compare(args: CompareArgs) -> Result<ExitCode, Failure> {
    let CompareArgs { runs, by, group_metric } = args;
    print!("{}", compare_runs(&runs, &by, &group_metric).map_err(Failure::Invalid)?);
    Ok(ExitCode::SUCCESS)
}

/// `vox compare`: params that differ between runs, and every `evaluate` metric, side by side;
/// then, for each model scored in several runs, whether each run's result differs from the
/// first run's on the same clips (McNemar's exact test, [`crate::significance`]); then, for each
/// column of `by`, each model's `group_metric` in each group and the same test on the group's
/// clips.
fn compare_runs(runs: &[PathBuf], by: &[String], group_metric: &str) -> Result<String, String> {
    let mut docs = Vec::new();
    for dir in runs {
        let path = dir.join(crate::report::RUN_JSON);
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("`{}` is not a run.json: {e}", path.display()))?;
        docs.push(doc);
    }
    let mut rows: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    let mut metric_rows: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    let mut clips: std::collections::BTreeMap<String, Vec<Option<vox_api::scored::Scored>>> = std::collections::BTreeMap::new();
    // Per `by` column: (model, group) in the order first met (each report's natural order), and
    // each run's metric cell.
    let mut group_rows: Vec<Vec<GroupRow>> = vec![Vec::new(); by.len()];
    for (i, (doc, dir)) in docs.iter().zip(runs).enumerate() {
        for stage in doc["stages"].as_array().into_iter().flatten() {
            let name = stage["name"].as_str().unwrap_or("?");
            for (param, value) in stage["params"].as_object().into_iter().flatten() {
                rows.entry(format!("{name}.{param}")).or_insert_with(|| vec!["-".into(); runs.len()])[i] = value.to_string();
            }
            // A report stage's run-folder copy holds its summary (`vox_api::summary`).
            {
                for record in vox_api::summary::read(&dir.join(name)) {
                    let model = record.get("input").cloned().unwrap_or_default();
                    let scored = vox_api::scored::read(&dir.join(name), &model).ok().flatten();
                    clips.entry(format!("{name}/{model}")).or_insert_with(|| vec![None; runs.len()])[i] = scored;
                    for metric in sweep::METRICS {
                        if let Some(v) = record.get(metric) {
                            let cell = v.parse::<f64>().map_or_else(|_| v.clone(), |x| format!("{x:.4}"));
                            metric_rows.entry(format!("{name}/{model} {metric}")).or_insert_with(|| vec!["-".into(); runs.len()])[i] = cell;
                        }
                    }
                }
                // How well each model's probabilities are calibrated.
                for record in vox_api::summary::read_calibration(&dir.join(name)) {
                    let model = record.get("input").cloned().unwrap_or_default();
                    for metric in vox_api::summary::CALIBRATION_METRICS {
                        let Some(Ok(v)) = record.get(metric).map(|v| v.parse::<f64>()) else { continue };
                        metric_rows.entry(format!("{name}/{model} {metric}")).or_insert_with(|| vec!["-".into(); runs.len()])[i] = format!("{v:.4}");
                    }
                }
                for (column, rows) in by.iter().zip(&mut group_rows) {
                    for record in vox_api::summary::read_by(&dir.join(name), column) {
                        let (Some(model), Some(group)) = (record.get("input"), record.get(column.as_str())) else { continue };
                        let Some(Ok(value)) = record.get(group_metric).map(|v| v.parse::<f64>()) else { continue };
                        let key = (format!("{name}/{model}"), group.clone());
                        let at = rows.iter().position(|(k, _)| *k == key).unwrap_or_else(|| {
                            rows.push((key, vec!["-".into(); runs.len()]));
                            rows.len() - 1
                        });
                        rows[at].1[i] = format!("{value:.4}");
                    }
                }
                // Estimates of emotion dimensions: each dimension's CCC, split by split.
                for record in vox_api::summary::read_dimensions(&dir.join(name)) {
                    let cell = |c: &str| record.get(c).cloned().unwrap_or_default();
                    let Ok(ccc) = cell("ccc").parse::<f64>() else { continue };
                    let key = format!("{name}/{} {} ccc_{}", cell("input"), cell("split"), cell("dimension"));
                    metric_rows.entry(key).or_insert_with(|| vec!["-".into(); runs.len()])[i] = format!("{ccc:.4}");
                }
            }
        }
    }
    let mut header = vec!["".to_string()];
    header.extend(runs.iter().map(|r| r.file_name().map_or_else(|| r.display().to_string(), |n| n.to_string_lossy().into_owned())));
    let mut out = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
    for (name, cells) in rows.iter().filter(|(_, cells)| cells.iter().any(|c| c != &cells[0])) {
        out.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
    }
    for (name, cells) in &metric_rows {
        out.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
    }
    let mut tested = false;
    for (name, per_run) in clips.iter().filter(|(_, per_run)| per_run.iter().flatten().count() > 1) {
        let clips: Vec<Option<Vec<vox_api::scored::ScoredClip>>> = per_run.iter().map(|s| s.as_ref().map(|s| s.clips.clone())).collect();
        out.push_str(&format!("| {name} vs first run | {} |\n", versus_first(&clips, &mut tested).join(" | ")));
    }
    for (column, rows) in by.iter().zip(&group_rows) {
        if rows.is_empty() {
            return Err(format!(
                "no run has scores by `{column}`: `vox compare --by` takes a column an `evaluate` stage scored by (its `by = [\"{column}\"]`)"
            ));
        }
        for ((model, group), cells) in rows {
            out.push_str(&format!("| {model} {group_metric}, {column} = {group} | {} |\n", cells.join(" | ")));
            // The group's clips in each run, when its report says which clips are in it.
            let per_run = clips.get(model).map(|per_run| per_run.iter().map(|s| s.as_ref().and_then(|s| s.in_group(column, group))).collect::<Vec<_>>());
            if let Some(per_run) = per_run.filter(|p| p.iter().flatten().count() > 1) {
                out.push_str(&format!("| {model} vs first run, {column} = {group} | {} |\n", versus_first(&per_run, &mut tested).join(" | ")));
            }
        }
    }
    if tested {
        out.push_str(&format!(
            "\n`vs first run`: McNemar's exact test on the clips both runs scored; \"not significant\" means \
             p >= {}: the data do not tell the two results apart.\n",
            significance::ALPHA
        ));
    }
    Ok(out)
}

/// Each run's result against the first run's on the same clips (`clips`: each run's scored
/// clips, if it has them): McNemar's p-value, `other clips` when they share none, `-` for the
/// first run and runs without clips. Sets `tested` when a test was made.
fn versus_first(clips: &[Option<Vec<vox_api::scored::ScoredClip>>], tested: &mut bool) -> Vec<String> {
    clips
        .iter()
        .enumerate()
        .map(|(i, scored)| match (i, &clips[0], scored) {
            (0, _, _) => "-".into(),
            (_, Some(first), Some(scored)) => match significance::Discordant::of(first, scored) {
                Some(counts) => {
                    *tested = true;
                    significance::describe(counts.p_value())
                }
                None => "other clips".into(),
            },
            _ => "-".into(),
        })
        .collect()
}
