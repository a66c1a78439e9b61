"""Deploying a plan to a cluster, one module per step of the flow:

plan      rendered components → waves and stages, objects labelled for the app's ApplySet
change    what is unchanged, to apply, stale, foreign (a pure function)
apply     the walk: observe, decide, lock, record, apply in waves, prune, record
wait      readiness (kstatus rules) with the reasons when it does not come
prune     removing objects in reverse apply order, never one that is no longer the app's
record    the ApplySet parent and the release records
lock      the app's Lease: one run at a time
events    progress for people and scripts; results: the reports the commands print
diff, status, delete: thin walks over the same pieces; service: one function per command
"""
