"""Public names of ``surrogate.report``, read by type checkers and by ``lazy_loader`` (see ``__init__.py``)."""

from ._data import (
    account_tables as account_tables,
    summary_dict as summary_dict,
    summary_tables as summary_tables,
)
from ._evaluation import (
    evaluation_report as evaluation_report,
    write_evaluation as write_evaluation,
)
from ._json import (
    print_json as print_json,
    to_jsonable as to_jsonable,
)
from ._launch import (
    launch_command as launch_command,
    recommendation as recommendation,
)
from ._optimize import (
    RESULT_COLUMNS as RESULT_COLUMNS,
    headline as headline,
    pareto_table as pareto_table,
    result_payload as result_payload,
    serving_line as serving_line,
    top_table as top_table,
    why_line as why_line,
    write_files as write_files,
)
from ._plots import (
    pareto_plot as pareto_plot,
    predicted_vs_measured as predicted_vs_measured,
)
from ._tables import (
    estimate_table as estimate_table,
    groups_table as groups_table,
    kv_cache_warning as kv_cache_warning,
    off_support_warning as off_support_warning,
    off_words as off_words,
    prediction_table as prediction_table,
    scores_table as scores_table,
)
