"""Run outputs: the run directory (summary, metrics, model) and the self-contained HTML report
(`fedward.report.html.render_report`)."""

from fedward.report.rundir import RunOutputs, check_out_dir, write_run_dir

__all__ = ["RunOutputs", "check_out_dir", "write_run_dir"]
