"""Where results leave the program: reports, tables, live workbooks and figures.

:mod:`.report` (terminal and JSON), :mod:`.tables` (sweep tables: CSV, JSON, XLSX),
:mod:`.export` with :mod:`.live`, :mod:`.formula` and :mod:`.workbook` (plans as
spreadsheets whose formulas recompute when a planner edits an input), and
:mod:`.plots` (matplotlib figures with units). The last stage: nothing else imports it,
except the command line.
"""
