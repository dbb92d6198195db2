"""Progress of long work: fractions that only grow, reach 1, and carry the step under way."""

from __future__ import annotations

from _tiny_model import synthetic_table

from surrogate.model import train_bundle
from surrogate.model._progress import Steps, scaled


def test_scaled_maps_a_part_into_its_span_of_the_whole() -> None:
    seen: list[tuple[str, float]] = []
    part = scaled(lambda message, fraction: seen.append((message, fraction)), 0.25, 0.5, "fold 2/4: ")
    assert part is not None
    part("median", 0.0)
    part("calibration", 0.5)
    part("done", 1.5)  # clipped: a part never reports beyond its span
    assert seen == [("fold 2/4: median", 0.25), ("fold 2/4: calibration", 0.5), ("fold 2/4: done", 0.75)]
    assert scaled(None, 0.0, 1.0) is None


def test_steps_report_the_units_done_before_each_step() -> None:
    seen: list[tuple[str, float]] = []
    steps = Steps(lambda message, fraction: seen.append((message, fraction)), 4.0)
    steps.start("efficiency", 2.0)
    steps.start("median")
    steps.start("calibration")
    steps.finish()
    assert seen == [("efficiency", 0.0), ("median", 0.5), ("calibration", 0.75), ("done", 1.0)]


def test_training_with_cross_validation_reports_growing_fractions_up_to_one() -> None:
    seen: list[tuple[str, float]] = []
    train_bundle(synthetic_table().head(120), cv_folds=2, n_estimators=10,
                 progress=lambda message, fraction: seen.append((message, fraction)))
    fractions = [fraction for _, fraction in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(later >= earlier for earlier, later in zip(fractions, fractions[1:], strict=False))
    # The fit is a third of the work (itself and two folds), each step named where it runs.
    assert seen[0][0] == "fit: efficiency parameters"
    first_fold = next(f for m, f in seen if m.startswith("cross-validation random fold 1/2"))
    assert abs(first_fold - 1 / 3) < 1e-9
    assert any(m.startswith("cross-validation random fold 2/2: ") for m, _ in seen)
