"""The delivery report: ``<project>/casa_plugin_report/index.html`` with SVG pictures, rewritten after every task."""

from .writer import REPORT_DIR, after_interrupt, after_task, write_report

__all__ = ["REPORT_DIR", "write_report", "after_task", "after_interrupt"]
