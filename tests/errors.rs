//! Invalid pipelines: every problem reported at once, with file:line:col, exit code 2, nothing run.

use crate::support::{Project, SMALL};

/// Runs `vox plan` on `text` and returns the plain `file:line:col: message` lines of stderr.
fn problems(text: &str, extra: &[&str]) -> (i32, Vec<String>, String) {
    let p = Project::new();
    p.file("p.toml", text);
    let mut args = vec!["plan", "p.toml"];
    args.extend_from_slice(extra);
    let run = p.vox(&args);
    let lines = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("p.toml:") || l.starts_with("--set:"))
        .map(str::to_string)
        .collect();
    assert!(!p.cache().join("entries").read_dir().map(|mut d| d.next().is_some()).unwrap_or(false));
    (run.code, lines, run.stderr)
}

#[test]
fn malformed_toml_points_at_the_syntax_error() {
    let (code, lines, stderr) = problems("[pipeline]\nname = \"x\"\n[stages.a\nkind = \"synth\"\n", &[]);
    assert_eq!(code, 2);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("p.toml:3:10: "), "{stderr}");
    assert!(stderr.contains("1 problem in `p.toml`; nothing was run"), "{stderr}");
}

#[test]
fn a_header_key_above_the_pipeline_table_is_told_where_it_belongs() {
    let (code, lines, stderr) = problems(&format!("extends = \"base.toml\"\n{SMALL}"), &[]);
    assert_eq!(code, 2);
    assert_eq!(lines, ["p.toml:1:1: `extends` belongs in the `[pipeline]` table: write it under `[pipeline]`"], "{stderr}");
    // Any other unknown top-level key keeps toml's own message.
    let (_, lines, stderr) = problems(&format!("stagez = 1\n{SMALL}"), &[]);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("p.toml:1:1: unknown field `stagez`"), "{stderr}");
}

#[test]
fn unknown_kind_param_and_input_are_all_reported_with_suggestions() {
    let text = SMALL
        .replace("kind = \"pad\"", "kind = \"padd\"")
        .replace("val_fraction = 0.2", "val_fracton = 0.2")
        .replace("inputs = [\"data\"]", "inputs = [\"dta\"]");
    let (code, lines, stderr) = problems(&text, &[]);
    assert_eq!(code, 2);
    assert_eq!(
        lines,
        [
            "p.toml:16:11: stage `audio` has unknown input `dta`",
            "p.toml:20:8: stage `padded` has unknown kind `padd`",
            "p.toml:27:1: stage `split` (kind `split`) has unknown param `val_fracton`",
        ],
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `data`?"), "{stderr}");
    assert!(stderr.contains("did you mean `pad`?"), "{stderr}");
    assert!(stderr.contains("did you mean `val_fraction`?"), "{stderr}");
    assert!(stderr.contains("3 problems in `p.toml`; nothing was run"), "{stderr}");
}

/// A stage whose input failed to configure is not asked what it derives from it: one problem,
/// the input's (an `augment` and a `degrade` below a broken `split` once panicked the planner).
#[test]
fn stages_below_a_broken_stage_report_only_its_problem() {
    let text = format!(
        "{}\n[stages.aug]\nkind = \"augment\"\ninputs = [\"split\"]\ngain_db = [1.0, 2.0]\n\n\
         [stages.noisy]\nkind = \"degrade\"\ninputs = [\"aug\"]\nnoise_snr = [10.0]\nsplits = [\"val\"]\n",
        SMALL.replace("val_fraction = 0.2", "val_fraction = 2.0")
    );
    let (code, lines, stderr) = problems(&text, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("p.toml:27:16: stage `split`: invalid param `val_fraction`"), "{stderr}");
}

#[test]
fn bad_param_values_name_the_param() {
    let text = SMALL.replace("length = 16000", "length = \"long\"");
    let (code, lines, stderr) = problems(&text, &[]);
    assert_eq!(code, 2);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert_eq!(
        lines,
        ["p.toml:22:10: stage `padded`: invalid param `length`: invalid type: string \"long\", expected a whole number, 0 or more"],
        "{stderr}"
    );
    // Each problem once: the plain line, then the excerpt without the message again.
    assert_eq!(stderr.matches("invalid type: string").count(), 2, "the line and the caret's label: {stderr}");
}

#[test]
fn every_bad_param_of_a_stage_is_reported_not_only_the_first() {
    let text = SMALL.replace("length = 16000", "length = \"long\"\npad = \"edge\"\nfrobnicate = 3");
    let (code, lines, stderr) = problems(&text, &[]);
    assert_eq!(code, 2);
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines[0].starts_with("p.toml:22:10: stage `padded`: invalid param `length`"), "{stderr}");
    assert!(lines.iter().any(|l| l.contains("invalid param `pad`") && l.contains("unknown variant `edge`")), "{stderr}");
    assert!(lines.iter().any(|l| l.contains("unknown param `frobnicate`") || l.contains("invalid param `frobnicate`")), "{stderr}");
}

#[test]
fn cycles_print_their_path() {
    let text = SMALL.replace("[stages.data]\nkind = \"synth\"", "[stages.data]\nkind = \"synth\"\ninputs = [\"split\"]");
    let (code, _, stderr) = problems(&text, &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("stage `data` (kind `synth`) takes no inputs, but 1 given"), "{stderr}");

    let cyclic = SMALL.replace("inputs = [\"audio\"]", "inputs = [\"split\"]");
    let (code, lines, stderr) = problems(&cyclic, &[]);
    assert_eq!(code, 2);
    assert_eq!(lines, ["p.toml:21:11: the stages form a cycle: padded -> split -> padded"], "{stderr}");
}

#[test]
fn wrong_input_types_and_counts() {
    let text = SMALL.replace("inputs = [\"audio\"]", "inputs = [\"data\"]");
    let (code, lines, stderr) = problems(&text, &[]);
    assert_eq!(code, 2);
    assert_eq!(
        lines,
        ["p.toml:21:11: stage `padded` (kind `pad`) cannot read input `data`: it produces files, but `pad` reads audio"],
        "{stderr}"
    );
    let two = SMALL.replace("inputs = [\"padded\"]", "inputs = [\"padded\", \"audio\"]");
    let (_, lines, _) = problems(&two, &[]);
    assert_eq!(lines, ["p.toml:26:11: stage `split` (kind `split`) takes exactly one input, but 2 given"]);
}

#[test]
fn missing_path_inputs_are_plan_time_errors() {
    let text = "[pipeline]\nname = \"x\"\n[stages.data]\nkind = \"download\"\npath = \"nowhere/RAVDESS\"\n";
    let (code, lines, stderr) = problems(text, &[]);
    assert_eq!(code, 2);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("p.toml:5:8: stage `data`: invalid param `path`: `"), "{stderr}");
    assert!(lines[0].ends_with("nowhere/RAVDESS` does not exist"), "{stderr}");
}

#[test]
fn overrides_are_typed_and_checked() {
    let (code, lines, stderr) = problems(SMALL, &["--set", "padded.length=long", "--set", "split.val_fracton=0.3", "--set", "spilt.seed=1"]);
    assert_eq!(code, 2);
    assert_eq!(
        lines,
        [
            "--set:1:21: invalid override `padded.length=long`: expected an integer, got `long`",
            "--set:2:13: invalid override `split.val_fracton=0.3`: kind `split` has no param `val_fracton`",
            "--set:3:7: invalid override `spilt.seed=1`: no stage is named `spilt`",
        ],
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `val_fraction`?"), "{stderr}");
    assert!(stderr.contains("did you mean `split`?"), "{stderr}");
}

#[test]
fn missing_pipeline_file_and_unknown_stage_names() {
    let p = Project::new();
    let run = p.vox(&["run", "absent.toml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot read pipeline file `absent.toml`"), "{}", run.stderr);
    p.file("p.toml", SMALL);
    let run = p.vox(&["run", "p.toml", "--force", "spilt"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no stage is named `spilt` (did you mean `split`?)"), "{}", run.stderr);
    let run = p.vox(&["explain", "p.toml", "pad"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("pipeline `small` has no stage `pad` (did you mean `padded`?)"), "{}", run.stderr);
}

#[test]
fn scoring_a_split_that_no_stage_makes_is_an_error_at_its_line() {
    let scored = |split: &str| {
        format!(
            "{SMALL}\n[stages.feats]\nkind = \"featurize\"\ninputs = [\"split\"]\nset = \"mfcc\"\n\n\
             [stages.rf]\nkind = \"baseline\"\ninputs = [\"feats\"]\n\n\
             [stages.report]\nkind = \"evaluate\"\ninputs = [\"rf\"]\nsplit = \"{split}\"\n"
        )
    };
    let (code, lines, stderr) = problems(&scored("test"), &[]);
    assert_eq!(code, 2);
    assert_eq!(
        lines,
        ["p.toml:41:9: stage `report`: invalid param `split`: input `rf` has no labelled clips in split `test` \
          (their labelled clips are: train, val); score another split, or hold out a `test` part in the `split` \
          stage (`test_fraction` or `test_speakers`)"],
        "{stderr}"
    );
    // Once the split stage holds out a test part, the same pipeline plans.
    let (code, _, stderr) = problems(&scored("test"), &["--set", "split.test_fraction=0.2"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = problems(&scored("val"), &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn merging_corpora_of_different_classes_is_an_error_before_anything_runs() {
    let text = format!(
        "{SMALL}\n[stages.more]\nkind = \"synth\"\nnaming = \"tess\"\nactors = 1\nstatements = 1\nrepetitions = 1\n\
         duration = 1.0\nsample_rate = 16000\n\n\
         [stages.more_audio]\nkind = \"decode\"\ninputs = [\"more\"]\ncorpus = \"tess\"\n\
         classes = [\"neutral\", \"angry\"]\nlabels = {{ \"*\" = \"drop\" }}\n\n\
         [stages.all]\nkind = \"merge\"\ninputs = [\"audio\", \"more_audio\"]\n"
    );
    let (code, lines, stderr) = problems(&text, &[]);
    assert_eq!(code, 2);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with(
            "p.toml:45:9: stage `all`: invalid params: input `more_audio` has the classes neutral, angry but input \
             `audio` has 01 neutral, 02 calm"
        ),
        "{stderr}"
    );
}

#[test]
fn executor_options_that_cannot_work_are_refused_before_anything_is_made() {
    let p = Project::new();
    p.file("p.toml", SMALL);
    let detached = p.vox(&["run", "p.toml", "--detach"]);
    assert_eq!(detached.code, 2, "{}", detached.stderr);
    assert!(detached.stderr.contains("`--detach` needs `--executor slurm`"), "{}", detached.stderr);
    // No Slurm commands on the PATH: one clear line, exit 1, no run folder, no cache.
    let empty = tempfile::tempdir().unwrap();
    let out = p.command(&["run", "p.toml", "--executor", "slurm"]).env("PATH", empty.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot run `sbatch` (is this a Slurm login node"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!p.path().join("runs").exists() && !p.cache().exists());
}

#[test]
fn a_model_folder_that_cannot_load_is_an_error_at_its_param_before_anything_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dense_tanh = root.join("stages/wav2vec2/tests/fixtures/large-dense-tanh");
    let p = Project::new();
    // A config whose heads do not divide its hidden size, and weights that are not safetensors.
    p.file("bad/config.json", r#"{"hidden_size": 768, "num_attention_heads": 7}"#);
    p.file("broken/config.json", "{}");
    p.file("broken/model.safetensors", "not a header");
    let text = format!(
        "{SMALL}
[stages.w2v]
kind = \"fine-tune\"
inputs = [\"split\"]
model_path = \"bad\"

[stages.w2v_dense]
kind = \"fine-tune\"
inputs = [\"split\"]
model_path = \"{}\"
head = \"projector\"

[stages.states]
kind = \"ssl-states\"
inputs = [\"split\"]
model_path = \"broken\"
",
        dense_tanh.display()
    );
    p.file("p.toml", &text);
    let run = p.vox(&["plan", "p.toml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("p.toml:")).collect();
    let broken = p.path().join("broken/model.safetensors");
    let broken = format!(
        "p.toml:43:14: stage `states`: invalid param `model_path`: `{}` is not a safetensors file: its header length is implausible",
        broken.display()
    );
    assert_eq!(
        lines,
        [
            "p.toml:32:14: stage `w2v`: invalid param `model_path`: invalid model config: `hidden_size` 768 is not a multiple of `num_attention_heads` 7",
            "p.toml:38:8: stage `w2v_dense`: invalid param `head`: `head = \"projector\"` but the checkpoint's head is `dense-tanh`; leave `head` unset to use it, or set `new_head = true` to replace it",
            broken.as_str(),
        ],
        "{}",
        run.stderr
    );
}
