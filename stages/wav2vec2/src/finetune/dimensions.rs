//! `fine-tune` with `targets`: the same training on the same params, with a head that estimates
//! emotion dimensions (a regression head) instead of classes. A variant of the kind rather than
//! a param of it, because its output is another artifact (estimates, not predictions), which the
//! planner must know from the kind to check the stages downstream (an `ensemble-vote` of it is an
//! error at its line; `evaluate` and `ensemble-mean` take it).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::{
    Applied, Applies, ApplyContext, ArtifactKind, BackendError, Facts, ImpliedStage, InputSpec, ParamError,
    PlannedInput, StageContext, StageDef, StageError, Variant,
};

use vox_api::estimates::check_targets;

use super::{ClassWeights, DimensionLoss, FineTune};

/// A `fine-tune` with `targets`: its params are `fine-tune`'s (its schema too, for `vox stages`
/// and the planner's check of param names).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(transparent)]
pub struct FineTuneDimensions(pub FineTune);

/// What `vox stages` says of the variant, before `fine-tune`'s params.
const DESCRIPTION: &str = "Fine-tunes a wav2vec2 (HuBERT, WavLM) model to estimate emotion dimensions (a regression \
     head, `estimates.csv`; the best epoch by validation CCC), or scores clips with a dimensional checkpoint \
     (`epochs = 0`): the `fine-tune` kind with `targets`. Its params are `fine-tune`'s; `class_weights` does not \
     apply, `loss` and `checkpoint_labels` (outputs to targets) do.";

impl JsonSchema for FineTuneDimensions {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FineTuneDimensions".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = FineTune::json_schema(generator);
        schema.insert("description".into(), DESCRIPTION.into());
        schema
    }
}

impl StageDef for FineTuneDimensions {
    const KIND: &'static str = "fine-tune";
    // The training and scoring code is the classifier's: its rounding changes are this kind's.
    const VERSION: u32 = <FineTune as StageDef>::VERSION;
    const INPUTS: InputSpec = <FineTune as StageDef>::INPUTS;
    const OUTPUT: ArtifactKind = ArtifactKind::Estimates;
    const APPLIES: Applies = Applies::Yes;
    const BACKENDS: &'static [&'static str] = <FineTune as StageDef>::BACKENDS;
    const PATH_PARAMS: &'static [&'static str] = <FineTune as StageDef>::PATH_PARAMS;
    const EXCLUSIVE: bool = <FineTune as StageDef>::EXCLUSIVE;
    const VARIANT: Option<Variant> = Some(Variant { param: "targets", value: None });

    fn backend_available(backend: &str) -> Result<(), BackendError> {
        FineTune::backend_available(backend)
    }

    fn backend_built(backend: &str) -> Result<(), BackendError> {
        FineTune::backend_built(backend)
    }

    fn check_backend(&self, backend: Option<&str>) -> Result<(), ParamError> {
        self.0.check_backend(backend)
    }

    fn implied_stages(&self) -> Vec<ImpliedStage> {
        self.0.implied_stages()
    }

    fn validate(&self) -> Result<(), ParamError> {
        let params = &self.0;
        check_targets(&params.targets)?;
        if params.class_weights != ClassWeights::None {
            return Err(ParamError::new(
                "class_weights",
                "`class_weights` weighs a classifier's classes; a fine-tune with `targets` has none",
            ));
        }
        if params.loss.unwrap_or_default() == DimensionLoss::Ccc && params.batch_size < 2 {
            return Err(ParamError::new(
                "batch_size",
                "`loss = \"ccc\"` correlates the clips of a batch: `batch_size` must be at least 2 (or set `loss = \"mse\"`)",
            ));
        }
        params.validate()
    }

    fn facts(&self, inputs: &[PlannedInput]) -> Result<Facts, ParamError> {
        self.0.facts(inputs)
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        self.0.run(ctx)
    }

    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError> {
        self.0.apply(ctx)
    }
}
