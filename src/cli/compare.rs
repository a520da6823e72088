//! `vox compare`: runs side by side, with McNemar's test per model.

#[allow(unused_imports)]
use super::*;

/// The arguments of `vox compare`.
#[derive(Args, Debug)]
pub(super) struct CompareArgs {
    /// Run folders (`runs/<pipeline>/<run-id>`), two or more.
    #[arg(required = true, num_args = 2..)]
    pub(super) runs: Vec<PathBuf>,
}

/// `vox compare`.
pub(super) fn compare(args: CompareArgs) -> Result<ExitCode, Failure> {
    let CompareArgs { runs } = args;
    print!("{}", compare_runs(&runs).map_err(Failure::Invalid)?);
    Ok(ExitCode::SUCCESS)
}

/// `vox compare`: params that differ between runs, and every `evaluate` metric, side by side;
/// then, for each model scored in several runs, whether each run's result differs from the
/// first run's on the same clips (McNemar's exact test, [`crate::significance`]).
fn compare_runs(runs: &[PathBuf]) -> Result<String, String> {
    let mut docs = Vec::new();
    for dir in runs {
        let path = dir.join(crate::report::RUN_JSON);
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("`{}` is not a run.json: {e}", path.display()))?;
        docs.push(doc);
    }
    let mut rows: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    let mut metric_rows: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    let mut clips: std::collections::BTreeMap<String, Vec<Option<Vec<vox_api::scored::ScoredClip>>>> =
        std::collections::BTreeMap::new();
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
        let cells: Vec<String> = per_run
            .iter()
            .enumerate()
            .map(|(i, scored)| match (i, &per_run[0], scored) {
                (0, _, _) => "-".into(),
                (_, Some(first), Some(scored)) => match significance::Discordant::of(first, scored) {
                    Some(counts) => {
                        tested = true;
                        significance::describe(counts.p_value())
                    }
                    None => "other clips".into(),
                },
                _ => "-".into(),
            })
            .collect();
        out.push_str(&format!("| {name} vs first run | {} |\n", cells.join(" | ")));
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
