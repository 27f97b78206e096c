"""Orchestration on Temporal: pipeline specs as durable workflows, tasks as activities, schedules.

Modules: ``plan`` (what travels through Temporal), ``workflow`` (the DAG runner), ``activities`` and
``tasks`` (what each task type does), ``client`` (runs, history, schedules), ``worker``, ``devserver``
(the embedded Temporal) and ``notify`` (Slack).
"""
