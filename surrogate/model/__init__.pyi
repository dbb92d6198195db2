"""Public names of ``surrogate.model``, read by type checkers and by ``lazy_loader`` (see ``__init__.py``)."""

from ._analytic import (
    ESTIMATE_OUTPUT_COLUMNS as ESTIMATE_OUTPUT_COLUMNS,
    AnalyticPredictor as AnalyticPredictor,
    estimate_each as estimate_each,
    estimate_valid as estimate_valid,
    in_measured_era as in_measured_era,
)
from ._bundle import (
    BUNDLE_FORMAT as BUNDLE_FORMAT,
    METRICS as METRICS,
    SurrogateModel as SurrogateModel,
    canonical_order as canonical_order,
    check_columns as check_columns,
    fingerprint as fingerprint,
    learned_metrics as learned_metrics,
)
from ._calibration import (
    MIN_CELL_ROWS as MIN_CELL_ROWS,
    read_off_quantile as read_off_quantile,
)
from ._efficiency import fit_efficiency as fit_efficiency
from ._evaluate import (
    VARIANTS as VARIANTS,
    Evaluation as Evaluation,
    cross_validate as cross_validate,
    error_summary as error_summary,
    learned_rows as learned_rows,
)
from ._files import (
    default_model_path as default_model_path,
    load as load,
    load_default as load_default,
    trust_file as trust_file,
)
from ._open_loop import (
    OPEN_LOOP_COLUMNS as OPEN_LOOP_COLUMNS,
    predict_at_rate as predict_at_rate,
)
from ._rows import (
    predict_each as predict_each,
    valid_rows as valid_rows,
)
from ._score import score_bundle as score_bundle
from ._software import with_source_eras as with_source_eras
from ._splits import (
    SPLITS as SPLITS,
    fold_masks as fold_masks,
)
from ._train import (
    compact_scores as compact_scores,
    disaggregated_training_rows as disaggregated_training_rows,
    train_bundle as train_bundle,
    training_rows as training_rows,
)
from ._workers import start_workers as start_workers
